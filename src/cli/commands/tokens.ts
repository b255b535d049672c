import fs from 'node:fs';
import type { Command } from 'commander';
import type { TokenRecord } from '../../tokens/token.types.ts';
import { TOKEN_STATES } from '../../tokens/token.lifecycle.ts';
import { api, endpoints, idArg, intOption, oneOf, readPages, secretFromEnv, withApi } from '../command-helpers.ts';
import { isId } from '../../shared/ids.ts';
import { CliError, EXIT } from '../errors.ts';
import { collect, printJson, table } from '../output.ts';
import { progressBar } from '../progress.ts';

/** OpenID Connect's own scopes: they name the approver and keep the grant refreshable, and reach no API. */
const IDENTITY_SCOPES = new Set(['openid', 'email', 'profile', 'offline_access']);

function managedLabel(t: TokenRecord): string {
  return t.managed === null ? 'no privilege' : t.managed ? 'managed' : 'UNMANAGED';
}

function showToken(t: TokenRecord) {
  const lines = [
    `${t.id}  ${t.state.toUpperCase()}  ${managedLabel(t)}`,
    `  tenant      ${t.tenantId}`,
    `  provider    ${t.providerId}`,
    `  owner       ${t.owner}`,
    `  approver    ${t.approver ? `${t.approver.subject}${t.approver.email ? ` <${t.approver.email}>` : ''}${t.approver.startedBy ? ` (consent started by ${t.approver.startedBy})` : ' (as registered — not confirmed by a consent)'}` : '(none)'}`,
    `  purpose     ${t.purpose ?? '(none)'}${t.reviewDueAt ? `  (review due ${t.reviewDueAt})` : ''}`,
    `  workloads   ${t.workloads.join(', ') || '(none)'}`,
    `  scopes      ${t.scopeUsage.map((s) => `${s.scope}${s.lastUsedAt ? ` (used ${s.lastUsedAt})` : IDENTITY_SCOPES.has(s.scope) ? ' (sign-in)' : ' (unused)'}`).join(', ') || '(none)'}`,
    ...(t.effectiveScopes && t.effectiveScopes.join(' ') !== t.grantedScopes.join(' ') ? [`  effective   ${t.effectiveScopes.join(', ') || '(none)'}  (the live access token, narrowed: ${t.grantedScopes.filter((s) => !t.effectiveScopes!.includes(s)).join(', ') || 'nothing'} left out)`] : []),
    `  last used   ${t.lastUsedAt ?? 'never'}${t.lastUsedBy ? ` by ${t.lastUsedBy}` : ''}`,
    `  revocation  gateway + ${t.revocationPath.upstream}${t.revocationPath.upstream !== 'none' ? (t.revocationPath.verified ? ' (path verified for this provider)' : ' (path not yet verified for this provider)') : ''}`,
    `  state       ${t.state} since ${t.stateChangedAt} by ${t.stateActor ?? '?'}${t.stateReason ? `: ${t.stateReason}` : ''}`,
  ];
  if (t.revocation) {
    lines.push(`  killed      requested ${t.revocation.requestedAt}, in force locally ${t.revocation.locallyEffectiveAt ?? '-'}, upstream ${t.revocation.upstream}${t.revocation.upstreamConfirmedAt ? ` at ${t.revocation.upstreamConfirmedAt}` : ''}`);
  }
  if (t.managed === null) lines.push(`  (a ${t.state} token holds no privilege: it is neither managed nor unmanaged)`);
  for (const r of t.managedReasons) lines.push(`  ! ${r.condition}: ${r.message}`);
  lines.push(...riskLines(t));
  console.log(lines.join('\n'));
}

/** The risk score and each component's points and reason (docs/risk.md). */
function riskLines(t: TokenRecord): string[] {
  if (!t.risk) return [`  risk        ${t.managed === null ? '- (holds no privilege)' : '- (not evaluated yet)'}`];
  const width = Math.max(...t.risk.components.map((c) => c.name.length));
  return [`  risk        ${t.risk.score}/100`, ...t.risk.components.map((c) => `    ${c.name.padEnd(width)}  ${String(c.points).padStart(2)}/${c.max}  ${c.reason}`)];
}

/** What happened at the issuer, in a sentence. */
export function upstreamSentence(t: TokenRecord): string {
  const r = t.revocation;
  if (!r) return '';
  const kill = r.upstreamConfirmedAt ? ` (kill time ${Date.parse(r.upstreamConfirmedAt) - Date.parse(r.requestedAt)} ms)` : '';
  switch (r.upstream) {
    case 'verified':
      return `At the issuer: revoked and confirmed inactive by introspection${kill}.`;
    case 'unverifiable':
      return `At the issuer: revoked, not confirmed (the issuer offers no introspection, or — for a registered credential — it never reported it active, so it may not be the credential it issued; check at the issuer)${kill}.`;
    case 'none':
      return t.inventoryOnly
        ? 'At the issuer: nothing done — an inventory-only record holds no credential to revoke with; have the customer revoke it at the issuer.'
        : 'At the issuer: the provider has no revocation endpoint; the gateway alone blocks it.';
    case 'failed':
      return 'At the issuer: revocation failed and was given up (an alert was raised); revoke it there by hand.';
    default:
      return `At the issuer: still pending; Custody keeps trying (see: custody tokens show ${t.id}).`;
  }
}

export function registerTokens(program: Command) {
  const tokens = program.command('tokens').description('The token inventory (through a server)');

  withApi(tokens.command('list').description('List tokens'))
    .option('--tenant <id>', 'only this tenant')
    .option('--provider <id>', 'only this provider')
    .option('--state <state>', TOKEN_STATES.join(', '))
    .option('--owner <owner>', 'only this owner')
    .option('--unmanaged', 'only live tokens failing the practical test (unmanaged privilege)')
    .option('--managed', 'only live tokens passing it')
    .option('--dormant-days <n>', 'not used for at least n days')
    .option('--q <text>', 'search id, owner, purpose, subject and approver')
    .option('--sort <order>', 'id (default) or risk (highest risk score first; tokens without a score are left out)')
    .option('--min-risk <n>', 'only tokens whose risk score is at least n (0–100)')
    .option('--max-risk <n>', 'only tokens whose risk score is at most n (0–100)')
    .option('--limit <n>', 'page size, 1–1000', '50')
    .option('--cursor <cursor>', 'continue after a previous page (its nextCursor)')
    .option('--all', 'follow pages to the end')
    .action(async (flags) => {
      const e = await endpoints.tokens();
      if (flags.managed && flags.unmanaged) throw new CliError('Give --managed or --unmanaged, not both.', EXIT.usage);
      const call = api(flags);
      const query = {
        tenantId: flags.tenant,
        providerId: flags.provider,
        state: oneOf(flags.state, '--state', TOKEN_STATES),
        owner: flags.owner,
        dormantDays: flags.dormantDays === undefined ? undefined : String(intOption(flags.dormantDays, '--dormant-days', 1, 9999)),
        q: flags.q,
        managed: flags.unmanaged ? ('false' as const) : flags.managed ? ('true' as const) : undefined,
        sort: oneOf(flags.sort, '--sort', ['id', 'risk'] as const),
        minRisk: flags.minRisk === undefined ? undefined : String(intOption(flags.minRisk, '--min-risk', 0, 100)),
        maxRisk: flags.maxRisk === undefined ? undefined : String(intOption(flags.maxRisk, '--max-risk', 0, 100)),
        limit: String(intOption(flags.limit, '--limit', 1, 1000)),
        cursor: flags.cursor as string | undefined,
      };
      const { items, nextCursor } = await readPages((cursor) => call(e.list, { query: { ...query, cursor } }), query.cursor, Boolean(flags.all));
      if (flags.json) return printJson({ items, nextCursor });
      if (items.length === 0) console.log('No tokens match.');
      else
        console.log(
          table([
            ['ID', 'STATE', 'MANAGED', 'RISK', 'TENANT', 'OWNER', 'LAST USED'],
            ...items.map((t) => [t.id, t.state, t.managed === null ? '-' : t.managed ? 'yes' : 'NO', t.risk ? String(t.risk.score) : '-', t.tenantId, t.owner, t.lastUsedAt ?? 'never']),
          ]),
        );
      if (nextCursor) console.log(`\nMore tokens match. Next page: --cursor ${nextCursor}   (or --all for every page)`);
    });

  withApi(tokens.command('show <id>').description('Show one token with its practical test')).action(async (id: string, flags) => {
      const e = await endpoints.tokens();
    const t = await api(flags)(e.get, { params: { id: idArg('token', id) } });
    if (flags.json) printJson(t);
    else showToken(t);
  });

  withApi(tokens.command('register').description('Register a token the platform already holds (credentials read from environment variables, encrypted at once)'))
    .requiredOption('--tenant <id>', 'the customer (required)')
    .requiredOption('--provider <id>', 'the issuer (required)')
    .requiredOption('--owner <owner>', 'the accountable person or team on the platform side (required)')
    .requiredOption('--access-token-env <name>', 'read the access token from this environment variable (required)')
    .option('--refresh-token-env <name>', 'read the refresh token from this environment variable')
    .option('--scope <scope>', 'a granted scope (repeat for more)', collect)
    .option('--purpose <text>', 'the business justification')
    .option('--review-due-at <time>', 'when the purpose must be re-confirmed (ISO 8601)')
    .option('--workload <name>', 'a workload that may use it through the gateway (repeat for more)', collect)
    .option('--approver-subject <sub>', 'the customer administrator who approved it (at the issuer)')
    .option('--approver-email <email>', "the approver's email")
    .option('--approver-issuer <issuer>', "the approver's issuer")
    .option('--subject <sub>', 'the resource owner at the issuer')
    .option('--access-expires-at <time>', 'ISO 8601')
    .option('--refresh-expires-at <time>', 'ISO 8601')
    .option('--usage-channel <channel>', 'gateway (default: workloads use it through the gateway) or direct (the platform uses it outside the gateway: its use is not observed)')
    .option('--served-tenant <id>', 'a tenant it serves beyond its own (delegated admin, marketplace; repeat for more)', collect)
    .action(async (flags) => {
      const e = await endpoints.tokens();
      const accessToken = secretFromEnv(flags.accessTokenEnv, '--access-token-env')!;
      const refreshToken = secretFromEnv(flags.refreshTokenEnv, '--refresh-token-env');
      if ((flags.approverEmail || flags.approverIssuer) && !flags.approverSubject) throw new CliError('--approver-email and --approver-issuer need --approver-subject.', EXIT.usage);
      const body = {
        tenantId: idArg('tenant', flags.tenant),
        providerId: idArg('provider', flags.provider),
        owner: flags.owner as string,
        scopes: (flags.scope as string[] | undefined) ?? [],
        accessToken,
        ...(refreshToken ? { refreshToken } : {}),
        ...(flags.purpose ? { purpose: flags.purpose as string } : {}),
        ...(flags.reviewDueAt ? { reviewDueAt: flags.reviewDueAt as string } : {}),
        ...(flags.workload ? { workloads: flags.workload as string[] } : {}),
        ...(flags.subject ? { subject: flags.subject as string } : {}),
        ...(flags.accessExpiresAt ? { accessExpiresAt: flags.accessExpiresAt as string } : {}),
        ...(flags.refreshExpiresAt ? { refreshExpiresAt: flags.refreshExpiresAt as string } : {}),
        ...(flags.usageChannel ? { usageChannel: oneOf(flags.usageChannel as string, '--usage-channel', ['gateway', 'direct'] as const)! } : {}),
        ...(flags.servedTenant ? { servedTenants: (flags.servedTenant as string[]).map((t) => idArg('tenant', t)) } : {}),
        ...(flags.approverSubject
          ? { approver: { subject: flags.approverSubject as string, ...(flags.approverEmail ? { email: flags.approverEmail as string } : {}), ...(flags.approverIssuer ? { issuer: flags.approverIssuer as string } : {}) } }
          : {}),
      };
      const t = await api(flags)(e.register, { body });
      if (flags.json) return printJson(t);
      console.log(`Registered ${t.id} (${managedLabel(t)}).`);
      for (const r of t.managedReasons) console.log(`  ! ${r.condition}: ${r.message}`);
    });

  withApi(tokens.command('update <id>').description('Change owner, purpose, review date or workloads'))
    .option('--owner <owner>', 'a new accountable owner')
    .option('--purpose <text>', 'a new business justification')
    .option('--clear-purpose', 'remove the purpose')
    .option('--review-due-at <time>', 'when the purpose must be re-confirmed (ISO 8601)')
    .option('--clear-review-due-at', 'remove the review date')
    .option('--workload <name>', 'the workloads that may use it, replacing the list (repeat for more)', collect)
    .option('--add-workload <name>', 'add a workload (repeat for more)', collect)
    .option('--remove-workload <name>', 'remove a workload (repeat for more)', collect)
    .option('--usage-channel <channel>', 'gateway or direct (used outside the gateway)')
    .option('--served-tenant <id>', 'the tenants it serves beyond its own, replacing the list (repeat for more)', collect)
    .option('--clear-served-tenants', 'it serves its own tenant only')
    .action(async (id: string, flags) => {
      const e = await endpoints.tokens();
      idArg('token', id);
      const call = api(flags);
      if (flags.purpose && flags.clearPurpose) throw new CliError('Give --purpose or --clear-purpose, not both.', EXIT.usage);
      if (flags.reviewDueAt && flags.clearReviewDueAt) throw new CliError('Give --review-due-at or --clear-review-due-at, not both.', EXIT.usage);
      if (flags.workload && (flags.addWorkload || flags.removeWorkload)) throw new CliError('Give --workload (the whole list) or --add-workload/--remove-workload, not both.', EXIT.usage);
      let workloads = flags.workload as string[] | undefined;
      if (flags.addWorkload || flags.removeWorkload) {
        const current = await call(e.get, { params: { id } });
        const removed = new Set((flags.removeWorkload as string[] | undefined) ?? []);
        workloads = [...new Set([...current.workloads, ...((flags.addWorkload as string[] | undefined) ?? [])])].filter((w) => !removed.has(w));
      }
      const body = {
        ...(flags.owner ? { owner: flags.owner as string } : {}),
        ...(flags.purpose ? { purpose: flags.purpose as string } : flags.clearPurpose ? { purpose: null } : {}),
        ...(flags.reviewDueAt ? { reviewDueAt: flags.reviewDueAt as string } : flags.clearReviewDueAt ? { reviewDueAt: null } : {}),
        ...(workloads ? { workloads } : {}),
        ...(flags.usageChannel ? { usageChannel: oneOf(flags.usageChannel as string, '--usage-channel', ['gateway', 'direct'] as const)! } : {}),
        ...(flags.servedTenant ? { servedTenants: (flags.servedTenant as string[]).map((t) => idArg('tenant', t)) } : flags.clearServedTenants ? { servedTenants: [] } : {}),
      };
      if (Object.keys(body).length === 0) throw new CliError('Nothing to change: give at least one of --owner, --purpose, --review-due-at, --workload, --add-workload, --remove-workload, --usage-channel, --served-tenant.', EXIT.usage);
      const t = await call(e.update, { params: { id }, body });
      if (flags.json) return printJson(t);
      console.log(`Updated ${t.id}.`);
      showToken(t);
    });

  for (const action of ['suspend', 'resume'] as const) {
    withApi(tokens.command(`${action} <id>`).description(action === 'suspend' ? 'Suspend a token (reversible; the gateway refuses it at once)' : 'Resume a suspended token'))
      .requiredOption('--reason <text>', 'why (recorded in the ledger) (required)')
      .action(async (id: string, flags) => {
        const e = await endpoints.tokens();
        const t = await api(flags)(e[action], { params: { id: idArg('token', id) }, body: { reason: flags.reason } });
        if (flags.json) printJson(t);
        else console.log(`${t.id} is now ${t.state}.`);
      });
  }

  withApi(tokens.command('revoke <id>').description('Revoke a token: final, refused by the gateway at once, revoked at the issuer too'))
    .requiredOption('--reason <text>', 'why (recorded in the ledger) (required)')
    .option('--wait <ms>', 'wait this long for the issuer’s outcome (0: do not wait)', '3000')
    .action(async (id: string, flags) => {
      const e = await endpoints.tokens();
      const call = api(flags);
      const waitMs = intOption(flags.wait, '--wait', 0, 60_000)!;
      let t = await call(e.revoke, { params: { id: idArg('token', id) }, body: { reason: flags.reason } });
      const until = Date.now() + waitMs;
      while (t.revocation?.upstream === 'pending' && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 100));
        t = await call(e.get, { params: { id } });
      }
      if (flags.json) return printJson(t);
      console.log(`${t.id} is revoked: the gateway refuses it from now on (in force ${t.revocation?.locallyEffectiveAt ?? t.stateChangedAt}).`);
      console.log(upstreamSentence(t));
    });

  withApi(tokens.command('revoke-all').description('Bulk revoke every live token of a tenant and/or provider (or the tokens named), then follow the revocations at the issuers'))
    .option('--tenant <id>', 'tenant')
    .option('--provider <id>', 'provider')
    .option('--ids <ids>', 'only these tokens: ids separated by commas or spaces (at most 5,000; with --ids-from, both lists)')
    .option('--ids-from <file>', 'only the tokens named in this file, one id a line or separated by commas, lines starting with # ignored ("-": standard input)')
    .option('--reason <text>', 'why (recorded in the ledger) (required, but for --dry-run)')
    .option('--dry-run', 'say how many live tokens of the --tenant/--provider it would revoke, and change nothing (not with --ids)')
    .option('--no-wait', 'return once revoked in Custody, without following the issuers')
    .action(async (flags) => {
      const e = await endpoints.tokens();
      const ids = namedIds(flags.ids as string | undefined, flags.idsFrom as string | undefined);
      if (!flags.tenant && !flags.provider && !ids) throw new CliError('Name --tenant, --provider and/or --ids: bulk revocation never runs without a filter.', EXIT.usage);
      const filter = { ...(flags.tenant ? { tenantId: idArg('tenant', flags.tenant) } : {}), ...(flags.provider ? { providerId: idArg('provider', flags.provider) } : {}) };
      const call = api(flags);
      if (ids && flags.dryRun) throw new CliError('--dry-run counts by tenant and provider; with --ids, list the tokens instead (custody tokens show <id>).', EXIT.usage);
      if (flags.dryRun) {
        // Counts by provider and state (a few seconds old at most: token.service.ts `counts`).
        const { at, items } = await call(e.counts, { query: filter.tenantId ? { tenantId: filter.tenantId } : {} });
        const mine = items.filter((i) => !filter.providerId || i.providerId === filter.providerId);
        const active = mine.filter((i) => i.state === 'active').reduce((s, i) => s + i.count, 0);
        const suspended = mine.filter((i) => i.state === 'suspended').reduce((s, i) => s + i.count, 0);
        if (flags.json) return printJson({ dryRun: true, at, wouldRevoke: active + suspended, active, suspended });
        const n = (v: number) => v.toLocaleString('en-US');
        console.log(`Would revoke ${n(active + suspended)} live ${active + suspended === 1 ? 'token' : 'tokens'} (${n(active)} active, ${n(suspended)} suspended; counted at ${at}). Nothing was changed: run it again without --dry-run, with --reason, to revoke.`);
        return;
      }
      if (typeof flags.reason !== 'string' || flags.reason.trim() === '') throw new CliError('Give --reason: why they are revoked (recorded in the ledger).', EXIT.usage);
      const r = await call(e.bulkRevoke, { body: { ...filter, ...(ids ? { ids } : {}), reason: flags.reason as string } });
      const again = followCommand(r.requestedAt, filter);
      if (!flags.json) {
        const n = (v: number) => v.toLocaleString('en-US');
        console.log(r.revoked === 0 ? 'No live token matched: nothing was revoked.' : `Revoked ${n(r.revoked)} ${r.revoked === 1 ? 'token' : 'tokens'} in Custody: the gateway refuses ${r.revoked === 1 ? 'it' : 'them'} from now on.`);
        printNotRevoked(r.notRevoked ?? []);
        // A named token that does not exist, is outside the filter or changed meanwhile is not done:
        // a script must see it (exit 3) without parsing the output. One already ended is.
        if ((r.notRevoked ?? []).some((i) => i.why !== 'not_live')) process.exitCode = EXIT.notFound;
        if (r.upstreamNone > 0) {
          console.log(
            r.revoked === 1
              ? 'WARNING: it cannot be revoked at the issuer by Custody (its provider has no revocation endpoint, or Custody never held its credential: an inventory-only record): it stays valid there until revoked by hand (or it expires).'
              : `WARNING: ${n(r.upstreamNone)} of them cannot be revoked at the issuer by Custody (their provider has no revocation endpoint, or Custody never held their credential: inventory-only records): they stay valid there until revoked by hand (or they expire).`,
          );
        }
        if (r.upstreamPending > 0) console.log(`${n(r.upstreamPending)} ${r.upstreamPending === 1 ? 'is' : 'are'} being revoked at the issuer (paced; single revocations go first).`);
      }
      if (flags.json && (r.notRevoked ?? []).some((i) => i.why !== 'not_live')) process.exitCode = EXIT.notFound;
      if (!flags.wait || r.upstreamPending === 0) {
        if (flags.json) printJson(r);
        else if (r.upstreamPending > 0) console.log(`Follow them with: ${again}`);
        return;
      }
      const p = await followRevocation(call, e.revocationProgress, { requestedAt: r.requestedAt, ...filter }, again, !flags.json);
      if (flags.json) return printJson({ ...r, upstream: p });
      printUpstreamSummary(p);
    });

  withApi(tokens.command('revocation-progress').description('Where the upstream side of a (bulk) revocation stands, by outcome'))
    .requiredOption('--requested-at <time>', 'the requestedAt a bulk revocation answered (required)')
    .option('--tenant <id>', 'tenant')
    .option('--provider <id>', 'provider')
    .option('--wait', 'follow it until nothing is pending')
    .action(async (flags) => {
      const e = await endpoints.tokens();
      const filter = { ...(flags.tenant ? { tenantId: idArg('tenant', flags.tenant) } : {}), ...(flags.provider ? { providerId: idArg('provider', flags.provider) } : {}) };
      const query = { requestedAt: flags.requestedAt as string, ...filter };
      const call = api(flags);
      const p = flags.wait ? await followRevocation(call, e.revocationProgress, query, followCommand(query.requestedAt, filter), !flags.json) : await call(e.revocationProgress, { query });
      if (flags.json) return printJson(p);
      if (p.total === 0) console.log('No token was revoked at that moment (give requestedAt exactly as the bulk revocation answered it, to the millisecond).');
      else printUpstreamSummary(p);
    });

  withApi(tokens.command('reauthorize <id>').description("Make a single-use reauthorisation link for the token's customer administrator (renews it in place)"))
    .option('--expires-in <minutes>', 'how long the link may be opened (default 4320: 72 hours; at most 43200)')
    .action(async (id: string, flags) => {
      const expires = intOption(flags.expiresIn, '--expires-in', 5, 43_200);
      const r = await api(flags)((await endpoints.oauth()).reauthorization, { params: { id: idArg('token', id) }, body: expires === undefined ? {} : { expiresInMinutes: expires } });
      if (flags.json) return printJson(r);
      console.log(`Send this link to the customer administrator of ${id}; it works once, until ${r.expiresAt}:\n\n  ${r.url}\n`);
      console.log(`It asks the issuer for: ${r.scopes.join(' ') || '(sign-in scopes only)'}. The approval renews ${id} in place (a policy or customer suspension is lifted).`);
    });

  withApi(tokens.command('justify <id>').description("Re-justify a token's purpose (the owner's periodic review): moves its review date"))
    .requiredOption('--purpose <text>', 'why the token is still needed (required; may restate the current purpose)')
    .action(async (id: string, flags) => {
      const t = await api(flags)((await endpoints.tokens()).justify, { params: { id: idArg('token', id) }, body: { purpose: flags.purpose } });
      if (flags.json) return printJson(t);
      console.log(`${t.id}: purpose recorded; next review due ${t.reviewDueAt ?? '(none)'}.`);
      if (t.state === 'suspended') console.log(`It is still suspended (${t.stateReason ?? 'no reason recorded'}): justifying does not lift a suspension; the security team resumes it (custody tokens resume ${t.id}) or the customer reauthorises it.`);
    });

  withApi(tokens.command('refresh <id>').description('Refresh now (optionally narrowed to some granted scopes)'))
    .option('--scope <scope>', 'narrow the new access token to this granted scope (repeat for more)', collect)
    .action(async (id: string, flags) => {
      const r = await api(flags)((await endpoints.oauth()).refresh, { params: { id: idArg('token', id) }, body: flags.scope ? { scopes: flags.scope as string[] } : {} });
      if (flags.json) printJson(r);
      else console.log(r.refreshed ? `Refreshed ${r.tokenId}${r.rotated ? ' (the issuer rotated the refresh token)' : ''}; the access token expires ${r.accessExpiresAt ?? 'never stated'}.` : `${r.tokenId} was refreshed concurrently; nothing more to do.`);
    });
}

/** The command that follows a bulk revocation again (printed when the user stops following). */
function followCommand(requestedAt: string, filter: { tenantId?: string; providerId?: string }): string {
  return `custody tokens revocation-progress --requested-at ${requestedAt}${filter.tenantId ? ` --tenant ${filter.tenantId}` : ''}${filter.providerId ? ` --provider ${filter.providerId}` : ''} --wait`;
}

interface Progress {
  total: number;
  pending: number;
  verified: number;
  unverifiable: number;
  failed: number;
  none: number;
}

function printUpstreamSummary(p: Progress): void {
  console.log(
    `At the issuers: ${p.verified} verified, ${p.unverifiable} revoked but not confirmed (no introspection, or registered credentials the issuer never reported active), ${p.failed} given up (alerts raised: revoke those by hand), ` +
      `${p.none} with no revocation endpoint (still valid at the issuer)${p.pending > 0 ? `; ${p.pending} still pending` : ''}.`,
  );
}

/**
 * Polls a revocation's progress until nothing is pending: a bar on a terminal, a line every few
 * seconds otherwise. A rate-limited poll waits and goes on; Ctrl-C stops following (not the
 * revocation) and says how to follow again.
 */
async function followRevocation(
  call: ReturnType<typeof api>,
  endpoint: Awaited<ReturnType<typeof endpoints.tokens>>['revocationProgress'],
  query: { requestedAt: string; tenantId?: string; providerId?: string },
  again: string,
  speak: boolean,
): Promise<Progress> {
  const bar = progressBar('at the issuers');
  const tty = process.stderr.isTTY === true;
  if (speak) console.error('Following the revocations at the issuers (failures are retried until CUSTODY_REVOCATION_GIVE_UP_HOURS); Ctrl-C stops following, not the revocation.');
  const interrupted = new Promise<'interrupted'>((resolve) => process.once('SIGINT', () => resolve('interrupted')));
  let lastLine = 0;
  try {
    for (;;) {
      let p: Progress;
      try {
        p = await call(endpoint, { query });
      } catch (err) {
        // Rate limited while polling: wait and go on (the revocation is not affected).
        if (err instanceof CliError && err.code === 'rate_limited') {
          if ((await Promise.race([interrupted, sleep(2_000)])) === 'interrupted') throw stopped(again);
          continue;
        }
        throw err;
      }
      bar.update(p.total - p.pending, p.total);
      if (speak && !tty && Date.now() - lastLine >= 5_000) {
        lastLine = Date.now();
        console.error(`${p.total - p.pending}/${p.total} settled at the issuers, ${p.pending} pending`);
      }
      if (p.pending === 0) return p;
      if ((await Promise.race([interrupted, sleep(1_000)])) === 'interrupted') throw stopped(again);
    }
  } finally {
    await bar.stop();
  }
}

function sleep(ms: number): Promise<'slept'> {
  return new Promise((resolve) => setTimeout(() => resolve('slept'), ms));
}

function stopped(again: string): CliError {
  return new CliError(`Stopped following. The revocation goes on at the issuers; follow it again with:\n  ${again}`, EXIT.incomplete, 'interrupted');
}

/** What each `why` of a bulk revocation's notRevoked means, for a person. */
const NOT_REVOKED_WHY: Record<string, string> = {
  not_found: 'no such token (or not one you can see)',
  outside_filter: 'not of the tenant or provider also named',
  not_live: 'already ended',
  changed_meanwhile: 'changed by someone else while this ran: revoke it again',
};

/** The ids named to a bulk revocation that it did not revoke, grouped by why (the first 20 of each). */
function printNotRevoked(items: { id: string; why: string; state?: string }[]): void {
  if (items.length === 0) return;
  console.log(`NOT REVOKED: ${items.length} of the ids named:`);
  for (const why of Object.keys(NOT_REVOKED_WHY)) {
    const these = items.filter((i) => i.why === why);
    if (these.length === 0) continue;
    const shown = these.slice(0, 20).map((i) => (i.state ? `${i.id} (${i.state})` : i.id));
    console.log(`  ${NOT_REVOKED_WHY[why]} (${these.length}): ${shown.join(', ')}${these.length > 20 ? `, and ${these.length - 20} more (--json lists all)` : ''}`);
  }
}

/** The ids of --ids and --ids-from (a file, or "-" for standard input), checked and de-duplicated; undefined when neither is given. */
function namedIds(inline: string | undefined, from: string | undefined): string[] | undefined {
  if (inline === undefined && from === undefined) return undefined;
  const named: { id: string; where: string }[] = [];
  if (inline !== undefined) for (const id of inline.split(/[\s,]+/)) if (id !== '') named.push({ id, where: '--ids' });
  if (from !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(from === '-' ? 0 : from, 'utf8');
    } catch (err) {
      throw new CliError(`--ids-from: cannot read ${from === '-' ? 'standard input' : from} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`, EXIT.usage);
    }
    const source = from === '-' ? 'standard input' : from;
    text.replace(/^\uFEFF/, '').split(/\r?\n/).forEach((line, i) => {
      if (line.trimStart().startsWith('#')) return;
      for (const id of line.split(/[\s,]+/)) if (id !== '') named.push({ id, where: `${source} line ${i + 1}` });
    });
  }
  if (named.length === 0) throw new CliError('--ids/--ids-from named no token id.', EXIT.usage);
  for (const { id, where } of named) if (!isId('token', id)) throw new CliError(`"${id}" (${where}) is not a token id (like tok_01J…: a prefix and 26 characters).`, EXIT.usage);
  const ids = [...new Set(named.map((n) => n.id))];
  if (ids.length > 5000) throw new CliError(`${ids.length} ids named; a bulk revocation takes at most 5,000 (revoke by --tenant or --provider, or in several runs).`, EXIT.usage);
  return ids;
}
