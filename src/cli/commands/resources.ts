import type { Command } from 'commander';
import type { Static } from 'typebox';
import type { TokenPage, TokenSchema } from '../../tokens/token.schemas.ts';
import type { TenantSchema } from '../../tenants/tenant.routes.ts';
import type { ProviderSchema } from '../../providers/provider.routes.ts';
import { isId } from '../../shared/ids.ts';
import { apiClient } from '../api-client.ts';
import { CliError } from '../context.ts';

type Token = Static<typeof TokenSchema>;

function withApi(cmd: Command): Command {
  return cmd.option('--url <url>', 'Custody server (CUSTODY_URL, default http://127.0.0.1:7420)').option('--api-key <key>', 'API key (CUSTODY_API_KEY)');
}

function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

function tokenId(id: string): string {
  if (!isId('token', id)) throw new CliError(`"${id}" is not a token id (tok_ followed by 26 characters)`);
  return id;
}

function showToken(t: Token) {
  const lines = [
    `${t.id}  ${t.state.toUpperCase()}  ${t.managed ? 'managed' : 'UNMANAGED'}`,
    `  tenant      ${t.tenantId}`,
    `  provider    ${t.providerId}`,
    `  owner       ${t.owner}`,
    `  approver    ${t.approver ? `${t.approver.subject}${t.approver.email ? ` <${t.approver.email}>` : ''}` : '(none)'}`,
    `  purpose     ${t.purpose ?? '(none)'}${t.reviewDueAt ? `  (review due ${t.reviewDueAt})` : ''}`,
    `  workloads   ${t.workloads.join(', ') || '(none)'}`,
    `  scopes      ${t.scopeUsage.map((s) => `${s.scope}${s.lastUsedAt ? ` (used ${s.lastUsedAt})` : ' (unused)'}`).join(', ') || '(none)'}`,
    `  last used   ${t.lastUsedAt ?? 'never'}${t.lastUsedBy ? ` by ${t.lastUsedBy}` : ''}`,
    `  revocation  gateway + ${t.revocationPath.upstream}${t.revocationPath.upstream !== 'none' ? (t.revocationPath.verified ? ' (verified)' : ' (unverified)') : ''}`,
    `  state       ${t.state} since ${t.stateChangedAt} by ${t.stateActor ?? '?'}${t.stateReason ? `: ${t.stateReason}` : ''}`,
  ];
  for (const r of t.managedReasons) lines.push(`  ! ${r.condition}: ${r.message}`);
  console.log(lines.join('\n'));
}

export function registerResources(program: Command) {
  const tokens = program.command('tokens').description('The token inventory (through a server)');

  withApi(tokens.command('list').description('List tokens'))
    .option('--tenant <id>', 'only this tenant')
    .option('--provider <id>', 'only this provider')
    .option('--state <state>', 'active, suspended, expired or revoked')
    .option('--owner <owner>', 'only this owner')
    .option('--unmanaged', 'only tokens failing the practical test')
    .option('--dormant-days <n>', 'not used for at least n days')
    .option('--q <text>', 'search')
    .option('--limit <n>', 'at most this many', '50')
    .option('--all', 'follow cursors to the end')
    .option('--json', 'print JSON')
    .action(async (flags) => {
      const call = apiClient(flags);
      const params = new URLSearchParams();
      const set = (k: string, v: string | undefined) => v !== undefined && params.set(k, v);
      set('tenantId', flags.tenant);
      set('providerId', flags.provider);
      set('state', flags.state);
      set('owner', flags.owner);
      set('dormantDays', flags.dormantDays);
      set('q', flags.q);
      if (flags.unmanaged) params.set('managed', 'false');
      params.set('limit', flags.limit);
      const items: Token[] = [];
      for (;;) {
        const page = await call<Static<typeof TokenPage>>('GET', `/v1/tokens?${params}`);
        items.push(...page.items);
        if (!flags.all || !page.nextCursor) break;
        params.set('cursor', page.nextCursor);
      }
      if (flags.json) return console.log(JSON.stringify(items, null, 2));
      if (items.length === 0) return console.log('No tokens match.');
      console.log(
        table([
          ['ID', 'STATE', 'MANAGED', 'TENANT', 'OWNER', 'LAST USED'],
          ...items.map((t) => [t.id, t.state, t.managed ? 'yes' : 'NO', t.tenantId, t.owner, t.lastUsedAt ?? 'never']),
        ]),
      );
    });

  withApi(tokens.command('show <id>').description('Show one token with its practical test'))
    .option('--json', 'print JSON')
    .action(async (id: string, flags) => {
      const t = await apiClient(flags)<Token>('GET', `/v1/tokens/${tokenId(id)}`);
      if (flags.json) console.log(JSON.stringify(t, null, 2));
      else showToken(t);
    });

  for (const action of ['suspend', 'resume', 'revoke'] as const) {
    withApi(tokens.command(`${action} <id>`).description(`${action[0]!.toUpperCase()}${action.slice(1)} a token`))
      .requiredOption('--reason <text>', 'why (recorded in the ledger)')
      .option('--json', 'print JSON')
      .action(async (id: string, flags) => {
        const t = await apiClient(flags)<Token>('POST', `/v1/tokens/${tokenId(id)}/${action}`, { reason: flags.reason });
        if (flags.json) console.log(JSON.stringify(t, null, 2));
        else console.log(`${t.id} is now ${t.state}.`);
      });
  }

  withApi(tokens.command('revoke-all').description('Bulk revoke every live token of a tenant and/or provider'))
    .option('--tenant <id>', 'tenant')
    .option('--provider <id>', 'provider')
    .requiredOption('--reason <text>', 'why (recorded in the ledger)')
    .option('--json', 'print JSON')
    .action(async (flags) => {
      if (!flags.tenant && !flags.provider) throw new CliError('Name --tenant and/or --provider: bulk revocation never runs without a filter.');
      const r = await apiClient(flags)<{ revoked: number }>('POST', '/v1/tokens/revoke', { tenantId: flags.tenant, providerId: flags.provider, reason: flags.reason });
      console.log(flags.json ? JSON.stringify(r) : `Revoked ${r.revoked} tokens.`);
    });

  const tenants = program.command('tenants').description('Customers (through a server)');
  withApi(tenants.command('create <name>').description('Add a customer'))
    .option('--json', 'print JSON')
    .action(async (name: string, flags) => {
      const t = await apiClient(flags)<Static<typeof TenantSchema>>('POST', '/v1/tenants', { name });
      console.log(flags.json ? JSON.stringify(t, null, 2) : `Created tenant ${t.id} (${t.name}).`);
    });
  withApi(tenants.command('list').description('List customers'))
    .option('--json', 'print JSON')
    .action(async (flags) => {
      const { items } = await apiClient(flags)<{ items: Static<typeof TenantSchema>[] }>('GET', '/v1/tenants');
      if (flags.json) console.log(JSON.stringify(items, null, 2));
      else console.log(items.length ? table([['ID', 'NAME', 'CREATED'], ...items.map((t) => [t.id, t.name, t.createdAt])]) : 'No tenants yet.');
    });

  const providers = program.command('providers').description('Issuers and their APIs (through a server)');
  withApi(providers.command('add <name>').description('Register an issuer: its endpoints are discovered from --issuer (RFC 8414 / OpenID discovery) unless given'))
    .option('--issuer <url>', 'the issuer; its discovery document supplies the endpoints not given below')
    .option('--token-endpoint <url>', 'token endpoint (required without --issuer)')
    .option('--authorization-endpoint <url>', 'authorization endpoint (for customer consent)')
    .option('--revocation-endpoint <url>', 'RFC 7009 revocation endpoint')
    .option('--introspection-endpoint <url>', 'RFC 7662 introspection endpoint')
    .requiredOption('--client-id <id>', "Custody's client id at the issuer")
    .option('--client-secret-env <name>', 'read the client secret from this environment variable (never from a flag: flags land in shell history)')
    .requiredOption('--api-base-url <url...>', 'the only API origins/paths the gateway may forward to')
    .option('--development', 'a local development issuer: plain http allowed on loopback')
    .option('--json', 'print JSON')
    .action(async (name: string, flags) => {
      if (!flags.issuer && !flags.tokenEndpoint) throw new CliError('Give --issuer (to discover the endpoints) or --token-endpoint.');
      let clientSecret: string | undefined;
      if (flags.clientSecretEnv) {
        clientSecret = process.env[flags.clientSecretEnv];
        if (!clientSecret) throw new CliError(`The environment variable ${flags.clientSecretEnv} is empty or not set.`);
      }
      const body: Record<string, unknown> = { name, clientId: flags.clientId, apiBaseUrls: flags.apiBaseUrl };
      const set = (key: string, value: unknown) => value !== undefined && (body[key] = value);
      set('issuer', flags.issuer);
      set('tokenEndpoint', flags.tokenEndpoint);
      set('authorizationEndpoint', flags.authorizationEndpoint);
      set('revocationEndpoint', flags.revocationEndpoint);
      set('introspectionEndpoint', flags.introspectionEndpoint);
      set('clientSecret', clientSecret);
      if (flags.development) body.development = true;
      const p = await apiClient(flags)<Static<typeof ProviderSchema>>('POST', '/v1/providers', body);
      if (flags.json) return console.log(JSON.stringify(p, null, 2));
      const yes = (v: boolean | null) => (v === null ? 'unknown yet' : v ? 'yes' : 'no');
      console.log(
        [
          `Registered provider ${p.id} (${p.name})${p.discoveredAt ? ` — discovered from ${p.issuer}` : ''}`,
          `  token endpoint    ${p.tokenEndpoint}`,
          `  authorization     ${p.authorizationEndpoint ?? '(none: no customer consent)'}`,
          `  revocation        ${p.revocationEndpoint ?? '(none: tokens can only be blocked in the gateway)'}`,
          `  introspection     ${p.introspectionEndpoint ?? '(none: revocations cannot be verified)'}`,
          `  supports          PKCE S256: ${yes(p.supports.pkceS256)}; refresh rotation: ${yes(p.supports.refreshRotation)}`,
          `  revocation path   ${p.revocation.supported ? (p.revocation.verified ? 'verified' : 'not yet verified (verified by the first confirmed revocation)') : 'none'}`,
        ].join('\n'),
      );
    });
  withApi(providers.command('list').description('List providers'))
    .option('--json', 'print JSON')
    .action(async (flags) => {
      const { items } = await apiClient(flags)<{ items: Static<typeof ProviderSchema>[] }>('GET', '/v1/providers');
      if (flags.json) console.log(JSON.stringify(items, null, 2));
      else
        console.log(
          items.length
            ? table([['ID', 'NAME', 'ISSUER', 'REVOCATION'], ...items.map((p) => [p.id, p.name, p.issuer ?? '-', p.revocation.supported ? (p.revocation.verifiedAt ? 'verified' : 'unverified') : 'none'])])
            : 'No providers yet.',
        );
    });
}
