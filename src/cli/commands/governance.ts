import type { Command } from 'commander';
import type { Finding } from '../../governance/finding.contract.ts';
import type { Notice } from '../../governance/notice.contract.ts';
import type { PolicyView } from '../../governance/policy.contract.ts';
import { FINDING_SEVERITIES, FINDING_STATUSES, FINDING_TYPES } from '../../governance/finding.types.ts';
import { POLICY_KEYS as POLICY_KEY_LIST } from '../../governance/policy.rules.ts';
import { api, endpoints, idArg, intOption, oneOf, readPages, withApi } from '../command-helpers.ts';
import { CliError, EXIT } from '../errors.ts';
import { collect, printJson, table } from '../output.ts';

const POLICY_KEYS: readonly string[] = POLICY_KEY_LIST;

/** `key=value`: numbers, true/false, null and JSON objects as such, anything else as text. */
function parseAssignment(text: string): [string, unknown] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new CliError(`"${text}" is not KEY=VALUE (e.g. dormantAfterDays=60, mode=enforce, forbiddenScopes='{"prv_…":["admin"]}')`, EXIT.usage);
  const key = text.slice(0, eq);
  if (!POLICY_KEYS.includes(key)) throw new CliError(`"${key}" is not a policy value; the values are: ${POLICY_KEYS.join(', ')}`, EXIT.usage);
  const raw = text.slice(eq + 1);
  try {
    return [key, JSON.parse(raw)];
  } catch {
    return [key, raw];
  }
}

function showPolicy(v: PolicyView, title: string) {
  const level = v.scope === 'global' ? `version ${v.version}` : `override version ${v.version}${v.version === 0 ? ' (none)' : ''}, global version ${v.globalVersion}`;
  console.log(`${title} (${level}${v.updatedAt ? `, changed ${v.updatedAt} by ${v.updatedBy}` : ''})`);
  console.log(table([['VALUE', 'IN FORCE', 'FROM'], ...Object.entries(v.values).map(([k, val]) => [k, JSON.stringify(val), v.sources[k] ?? '-'])]));
  for (const note of v.notes) console.log(`\nNOTE: ${note}`);
}

function findingLine(f: Finding): string[] {
  return [f.id, f.severity, f.status, f.type, f.tenantId ?? '(platform)', f.tokenId ?? f.workloadId ?? '-', f.reasons[0]?.message.slice(0, 80) ?? ''];
}

function showFinding(f: Finding) {
  const lines = [
    `${f.id}  ${f.type}  ${f.severity.toUpperCase()}  ${f.status}`,
    `  ${f.tokenId ? `token       ${f.tokenId}` : `workload    ${f.workloadId}`}`,
    `  tenant      ${f.tenantId ?? '(platform-wide)'}`,
    `  seen        first ${f.firstSeenAt}, last ${f.lastSeenAt}${f.resolvedAt ? `, resolved ${f.resolvedAt}` : ''}`,
    ...f.reasons.map((r) => `  - ${r.message}`),
    `  OWASP NHI   ${f.mappings.owaspNhi.map((m) => `${m.id} ${m.name}`).join('; ')}`,
    `  NIST CSF    ${f.mappings.nistCsf.map((m) => m.id).join(', ')}`,
    `  AI RMF      ${f.mappings.nistAiRmf.map((m) => m.id).join(', ')}`,
  ];
  if (f.exception) lines.push(`  excepted    by ${f.exception.id} until ${f.exception.expiresAt ?? '?'}`);
  if (f.acknowledgement) lines.push(`  acknowledged ${f.acknowledgement.at} by ${f.acknowledgement.by}${f.acknowledgement.reason ? `: ${f.acknowledgement.reason}` : ''}`);
  if (f.enforcement) {
    const e = f.enforcement;
    const stage = { notified: 'notice given', suspended: 'token suspended by policy', would_notify: 'audit: a notice would have been given', would_suspend: 'audit: the token would have been suspended' }[e.stage ?? 'notified'];
    lines.push(`  enforcement ${e.stage ? stage : 'nothing done yet'}${e.nextActionAt ? `; next step due ${e.nextActionAt}` : ''}${e.noticeId ? ` (notice ${e.noticeId})` : ''}`);
  }
  console.log(lines.join('\n'));
}

function showNotice(n: Notice) {
  console.log(`${n.id}  ${n.findingType}  ${n.action} ${n.deadline <= n.createdAt ? 'at once' : `on ${n.deadline}`}  delivery ${n.delivery}`);
  console.log(`  token ${n.tokenId} (tenant ${n.tenantId}), ${n.action === 'escalate' ? 'review item' : 'finding'} ${n.findingId}, given ${n.createdAt}`);
  console.log(`  to ${n.recipients.map((r) => `${r.kind} ${r.name}${r.address ? ` <${r.address}>` : ' (no address known)'}`).join('; ')}`);
  console.log(`  ${n.message}`);
  if (n.link) console.log(`  link ${n.link.url ?? '(hidden from your role)'} (until ${n.link.expiresAt}; single use)`);
}

export function registerGovernance(program: Command) {
  const policy = program.command('policy').description('The governance policy: global, and per-tenant overrides (through a server)');
  withApi(policy.command('show').description('The global policy, or a tenant’s effective policy, with where each value comes from'))
    .option('--tenant <id>', 'the effective policy of this tenant')
    .action(async (flags) => {
      const e = await endpoints.policy();
      const v = flags.tenant ? await api(flags)(e.effective, { params: { id: idArg('tenant', flags.tenant) } }) : await api(flags)(e.getGlobal);
      if (flags.json) printJson(v);
      else showPolicy(v, flags.tenant ? `Effective policy of ${flags.tenant}` : 'Global policy');
    });
  withApi(policy.command('set [assignments...]').description('Change policy values: KEY=VALUE … (the other values set stay as they are)'))
    .option('--tenant <id>', "change this tenant's override instead of the global policy")
    .option('--unset <key>', 'stop setting a value here (inherit it again; repeat for more)', collect)
    .action(async (assignments: string[], flags) => {
      const e = await endpoints.policy();
      const call = api(flags);
      const tenant = flags.tenant ? idArg('tenant', flags.tenant) : undefined;
      const unset = (flags.unset as string[] | undefined) ?? [];
      for (const k of unset) if (!POLICY_KEYS.includes(k)) throw new CliError(`--unset ${k}: not a policy value; the values are: ${POLICY_KEYS.join(', ')}`, EXIT.usage);
      if (assignments.length === 0 && unset.length === 0) throw new CliError('Nothing to change: give KEY=VALUE … or --unset KEY.', EXIT.usage);
      const current = tenant ? await call(e.getTenant, { params: { id: tenant } }) : await call(e.getGlobal);
      const doc: Record<string, unknown> = { ...current.set };
      for (const a of assignments) {
        const [k, v] = parseAssignment(a);
        doc[k] = v;
      }
      for (const k of unset) delete doc[k];
      const v = tenant ? await call(e.putTenant, { params: { id: tenant }, body: doc }) : await call(e.putGlobal, { body: doc });
      if (flags.json) printJson(v);
      else showPolicy(v, tenant ? `Policy override of ${tenant} is now` : 'Global policy is now');
    });

  const findings = program.command('findings').description('Governance findings (through a server)');
  withApi(findings.command('list').description('Live findings (open, acknowledged, excepted), filtered'))
    .option('--tenant <id>', 'only this tenant')
    .option('--token <id>', 'only this token')
    .option('--type <type>', FINDING_TYPES.join(', '))
    .option('--severity <s>', FINDING_SEVERITIES.join(', '))
    .option('--status <s>', FINDING_STATUSES.join(', '))
    .option('--owasp <item>', 'an OWASP NHI Top 10 (2025) item, e.g. NHI7')
    .option('--limit <n>', 'page size, 1–1000', '50')
    .option('--all', 'follow pages to the end')
    .action(async (flags) => {
      const e = await endpoints.findings();
      const call = api(flags);
      const query = {
        tenantId: flags.tenant ? idArg('tenant', flags.tenant) : undefined,
        tokenId: flags.token ? idArg('token', flags.token) : undefined,
        type: oneOf(flags.type, '--type', FINDING_TYPES),
        severity: oneOf(flags.severity, '--severity', FINDING_SEVERITIES),
        status: oneOf(flags.status, '--status', FINDING_STATUSES),
        owaspNhi: (flags.owasp as string | undefined)?.toUpperCase(),
        limit: String(intOption(flags.limit, '--limit', 1, 1000)),
      };
      const { items, nextCursor } = await readPages((cursor) => call(e.list, { query: { ...query, cursor } }), undefined, Boolean(flags.all));
      if (flags.json) return printJson({ items, nextCursor });
      console.log(items.length === 0 ? 'No findings match.' : table([['ID', 'SEVERITY', 'STATUS', 'TYPE', 'TENANT', 'SUBJECT', 'WHY'], ...items.map(findingLine)]));
      if (nextCursor) console.log('\nMore findings match: add --all for every page.');
    });
  withApi(findings.command('show <id>').description('One finding: reasons, mappings, exception')).action(async (id: string, flags) => {
    const f = await api(flags)((await endpoints.findings()).get, { params: { id: idArg('finding', id) } });
    if (flags.json) printJson(f);
    else showFinding(f);
  });
  withApi(findings.command('ack <id>').description('Acknowledge a finding (it stays until its cause clears)'))
    .requiredOption('--reason <text>', 'why (ledgered) (required)')
    .action(async (id: string, flags) => {
      const f = await api(flags)((await endpoints.findings()).acknowledge, { params: { id: idArg('finding', id) }, body: { reason: flags.reason } });
      if (flags.json) printJson(f);
      else console.log(`Acknowledged ${f.id} (${f.type}, ${f.status}).`);
    });
  withApi(findings.command('summary').description('Counts by type, severity, OWASP item and CSF subcategory, and the managed share'))
    .option('--tenant <id>', 'only this tenant')
    .action(async (flags) => {
      const s = await api(flags)((await endpoints.findings()).summary, { query: { tenantId: flags.tenant ? idArg('tenant', flags.tenant) : undefined } });
      if (flags.json) return printJson(s);
      const pct = (x: number | null) => (x === null ? '-' : `${(x * 100).toFixed(1)}%`);
      console.log(`Managed share ${pct(s.managed.share)}: ${s.managed.managed} of ${s.managed.live} live tokens are managed; ${s.managed.unmanaged} are unmanaged privilege.`);
      console.log(`${s.findings} live findings.\n`);
      const counts = (title: string, m: Record<string, number>) => Object.keys(m).length > 0 && console.log(`${table([[title, 'COUNT'], ...Object.entries(m).sort((a, b) => b[1] - a[1]).map(([k, n]) => [k, String(n)])])}\n`);
      counts('TYPE', s.byType);
      counts('SEVERITY', s.bySeverity);
      counts('OWASP NHI', s.byOwaspNhi);
      counts('NIST CSF', s.byNistCsf);
      if (s.tenants.length > 1) console.log(table([['TENANT', 'LIVE', 'MANAGED', 'SHARE', 'FINDINGS'], ...s.tenants.map((t) => [t.tenantId, String(t.managed.live), String(t.managed.managed), pct(t.managed.share), String(t.findings)])]));
    });

  withApi(program.command('sweep').description('Run the governance sweep now and print what it found')).action(async (flags) => {
    const r = await api(flags)((await endpoints.findings()).sweep);
    if (flags.json) return printJson(r);
    const n = (count: number, what: string) => `${count} ${what}${count === 1 ? '' : 's'}`;
    console.log(`Swept ${n(r.tokens, 'token')} and ${n(r.workloads, 'workload')} in ${r.durationMs} ms: ${n(r.opened, 'finding')} opened, ${r.resolved} resolved, ${r.changed} changed; ${n(r.riskChanged, 'risk score')} rescored.`);
    const e = r.enforcement;
    if (e) {
      console.log(
        `Enforcement: ${n(e.notified, 'notice')} given, ${n(e.suspended, 'token')} suspended by policy; ${n(e.wouldNotify, 'would-be notice')} and ${n(e.wouldSuspend, 'would-be suspension')} ledgered for tenants in audit mode (those change nothing). See: custody notices list; custody policy show.`,
      );
    }
  });

  const notices = program.command('notices').description('Notices given before enforcement (through a server)');
  withApi(notices.command('list').description('Notices, newest first'))
    .option('--tenant <id>', 'tenant')
    .option('--token <id>', 'token')
    .option('--type <findingType>', 'the finding type the notice is about')
    .option('--limit <n>', 'how many (default 50, at most 1000)')
    .option('--cursor <cursor>', 'continue after the page that printed this cursor')
    .action(async (flags) => {
      const e = await endpoints.notices();
      const limit = intOption(flags.limit, '--limit', 1, 1000);
      const query = {
        ...(flags.tenant ? { tenantId: idArg('tenant', flags.tenant) } : {}),
        ...(flags.token ? { tokenId: idArg('token', flags.token) } : {}),
        ...(flags.type ? { findingType: oneOf(flags.type, '--type', FINDING_TYPES) } : {}),
        ...(limit ? { limit: String(limit) } : {}),
        ...(flags.cursor ? { cursor: String(flags.cursor) } : {}),
      };
      const { items, nextCursor } = await api(flags)(e.list, { query });
      if (flags.json) return printJson({ items, nextCursor });
      if (items.length === 0) return console.log('No notices.');
      for (const n of items) showNotice(n);
      if (nextCursor) console.log(`\nMore notices: --cursor ${nextCursor}`);
    });
  withApi(notices.command('show <id>').description('One notice, with its link for the roles that may reauthorise')).action(async (id: string, flags) => {
    const n = await api(flags)((await endpoints.notices()).get, { params: { id: idArg('notice', id) } });
    if (flags.json) return printJson(n);
    showNotice(n);
  });

  const owners = program.command('owners').description('Accountable owners (through a server)');
  withApi(owners.command('list').description('The owners directory')).action(async (flags) => {
    const { items } = await api(flags)((await endpoints.directory()).listOwners, { query: {} });
    if (flags.json) return printJson(items);
    console.log(items.length === 0 ? 'No owners yet: add them with custody owners add.' : table([['ID', 'NAME', 'KIND', 'ACTIVE', 'CONTACT'], ...items.map((o) => [o.id, o.name, o.kind, o.active ? 'yes' : 'NO', o.contact ?? ''])]));
  });
  withApi(owners.command('add <name>').description('Add a person or team (the name tokens use in their owner field)'))
    .option('--team', 'a team rather than a person')
    .option('--contact <text>', 'email, channel or pager')
    .action(async (name: string, flags) => {
      const o = await api(flags)((await endpoints.directory()).createOwner, { body: { name, kind: flags.team ? 'team' : 'person', ...(flags.contact ? { contact: flags.contact } : {}) } });
      if (flags.json) printJson(o);
      else console.log(`Added owner ${o.id} (${o.name}, ${o.kind}).`);
    });
  for (const [verb, active] of [['deactivate', false], ['activate', true]] as const) {
    withApi(owners.command(`${verb} <owner>`).description(`${active ? 'Mark an owner active again' : 'Mark an owner as gone: their tokens and workloads become owner_orphaned'} (by id, or by name)`)).action(async (owner: string, flags) => {
      const e = await endpoints.directory();
      const call = api(flags);
      let id = owner;
      if (!owner.startsWith('own_')) {
        const { items } = await call(e.listOwners, { query: {} });
        const match = items.find((o) => o.name.toLowerCase() === owner.toLowerCase());
        if (!match) throw new CliError(`No owner named "${owner}" in the directory (custody owners list).`, EXIT.notFound);
        id = match.id;
      }
      const o = await call(e.patchOwner, { params: { id: idArg('owner', id) }, body: { active } });
      if (flags.json) printJson(o);
      else console.log(`${o.name} is now ${o.active ? 'active' : 'deactivated: reassign their tokens with custody owners reassign'}.`);
    });
  }
  withApi(owners.command('reassign').description('Move every live token and workload of one owner to another'))
    .requiredOption('--from <owner>', 'the owner now named on them (required)')
    .requiredOption('--to <owner>', 'an active owner in the directory (required)')
    .option('--reason <text>', 'why (ledgered)')
    .action(async (flags) => {
      const r = await api(flags)((await endpoints.directory()).reassign, { body: { fromOwner: flags.from, toOwner: flags.to, ...(flags.reason ? { reason: flags.reason } : {}) } });
      if (flags.json) printJson(r);
      else if (r.tokens + r.workloads === 0) console.log(`Nothing moved: no live token or workload names "${flags.from}" as its owner (the attempt is in the ledger).`);
      else console.log(`Moved ${r.tokens} token${r.tokens === 1 ? '' : 's'} and ${r.workloads} workload${r.workloads === 1 ? '' : 's'} from ${flags.from} to ${flags.to}.`);
    });

  const workloads = program.command('workloads').description('The platform’s workloads (through a server)');
  withApi(workloads.command('list').description('Registered workloads'))
    .option('--tenant <id>', 'this tenant’s and the platform-wide ones')
    .action(async (flags) => {
      const { items } = await api(flags)((await endpoints.directory()).listWorkloads, { query: { tenantId: flags.tenant ? idArg('tenant', flags.tenant) : undefined } });
      if (flags.json) return printJson(items);
      console.log(items.length === 0 ? 'No workloads yet.' : table([['ID', 'NAME', 'TENANT', 'OWNER', 'ACTIVE', 'PURPOSE'], ...items.map((w) => [w.id, w.name, w.tenantId ?? '(platform)', w.owner ?? '-', w.active ? 'yes' : 'no', w.purpose ?? ''])]));
    });
  withApi(workloads.command('add <name>').description('Register a workload (tokens naming it stop being unknown_workload)'))
    .option('--tenant <id>', 'of this tenant only (default: platform-wide)')
    .option('--owner <owner>', 'the accountable owner')
    .option('--purpose <text>', 'what it does with tokens')
    .action(async (name: string, flags) => {
      const w = await api(flags)((await endpoints.directory()).createWorkload, {
        body: { name, ...(flags.tenant ? { tenantId: idArg('tenant', flags.tenant) } : {}), ...(flags.owner ? { owner: flags.owner } : {}), ...(flags.purpose ? { purpose: flags.purpose } : {}) },
      });
      if (flags.json) printJson(w);
      else console.log(`Registered workload ${w.id} (${w.name}, ${w.tenantId ?? 'platform-wide'}).`);
    });

  withApi(workloads.command('update <id>').description('Change a workload’s owner or purpose, or retire it (tokens naming a retired workload are unknown_workload)'))
    .option('--owner <owner>', 'the accountable owner')
    .option('--clear-owner', 'no owner')
    .option('--purpose <text>', 'what it does with tokens')
    .option('--retire', 'mark it retired')
    .option('--active', 'mark it active again')
    .action(async (id: string, flags) => {
      if (flags.retire && flags.active) throw new CliError('Give --retire or --active, not both.', EXIT.usage);
      const body = {
        ...(flags.owner ? { owner: flags.owner as string } : flags.clearOwner ? { owner: null } : {}),
        ...(flags.purpose ? { purpose: flags.purpose as string } : {}),
        ...(flags.retire ? { active: false } : flags.active ? { active: true } : {}),
      };
      if (Object.keys(body).length === 0) throw new CliError('Nothing to change: give --owner, --clear-owner, --purpose, --retire or --active.', EXIT.usage);
      const w = await api(flags)((await endpoints.directory()).patchWorkload, { params: { id: idArg('workload', id) }, body });
      if (flags.json) printJson(w);
      else console.log(`Workload ${w.id} (${w.name}): owner ${w.owner ?? '(none)'}, ${w.active ? 'active' : 'retired'}.`);
    });

  const exceptions = program.command('exceptions').description('Time-boxed exceptions to findings (through a server)');
  withApi(exceptions.command('list').description('Exceptions'))
    .option('--tenant <id>', 'only this tenant')
    .option('--status <s>', 'active, expired or withdrawn')
    .action(async (flags) => {
      const { items } = await api(flags)((await endpoints.exceptions()).list, { query: { tenantId: flags.tenant ? idArg('tenant', flags.tenant) : undefined, status: oneOf(flags.status, '--status', ['active', 'expired', 'withdrawn'] as const) } });
      if (flags.json) return printJson(items);
      console.log(items.length === 0 ? 'No exceptions.' : table([['ID', 'STATUS', 'TENANT', 'TOKEN', 'TYPE', 'EXPIRES', 'APPROVED BY'], ...items.map((x) => [x.id, x.status, x.tenantId, x.tokenId ?? '(all)', x.findingType, x.expiresAt, x.approvedBy])]));
    });
  withApi(exceptions.command('add').description('Accept a finding type for a tenant (or one token) until a date'))
    .option('--tenant <id>', 'the tenant (required unless --token names the token)')
    .option('--token <id>', 'only this token (its tenant is taken from it)')
    .requiredOption('--type <type>', `the finding type (required): ${FINDING_TYPES.join(', ')}`)
    .requiredOption('--approved-by <name>', 'who approved the exception (required)')
    .requiredOption('--reason <text>', 'why (required)')
    .requiredOption('--expires-at <time>', 'a date (2027-03-31, midnight UTC) or an ISO 8601 time, at most 365 days ahead (required)')
    .action(async (flags) => {
      const call = api(flags);
      let tenant = flags.tenant as string | undefined;
      if (!tenant && flags.token) tenant = (await call((await endpoints.tokens()).get, { params: { id: idArg('token', flags.token) } })).tenantId;
      if (!tenant) throw new CliError('Give --tenant, or --token (the tenant is taken from the token).', EXIT.usage);
      const expiresAt = /^\d{4}-\d{2}-\d{2}$/.test(flags.expiresAt) ? `${flags.expiresAt}T00:00:00Z` : (flags.expiresAt as string);
      const x = await call((await endpoints.exceptions()).create, {
        body: {
          tenantId: idArg('tenant', tenant),
          ...(flags.token ? { tokenId: idArg('token', flags.token) } : {}),
          findingType: oneOf(flags.type, '--type', FINDING_TYPES)!,
          approvedBy: flags.approvedBy,
          reason: flags.reason,
          expiresAt,
        },
      });
      if (flags.json) printJson(x);
      else console.log(`Exception ${x.id}: ${x.findingType} accepted for ${x.tokenId ?? `every token of ${x.tenantId}`} until ${x.expiresAt}.`);
    });
  withApi(exceptions.command('withdraw <id>').description('End an exception now (its findings reopen)')).action(async (id: string, flags) => {
    const x = await api(flags)((await endpoints.exceptions()).withdraw, { params: { id: idArg('exception', id) } });
    if (flags.json) printJson(x);
    else console.log(`Withdrew exception ${x.id}.`);
  });
}
