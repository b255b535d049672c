import type { Command } from 'commander';
import type { ProviderRecord } from '../../providers/provider.contract.ts';
import type { ScopeCatalogueEntry, ScopeRule } from '../../providers/provider.types.ts';
import { api, endpoints, idArg, oneOf, secretFromEnv, withApi } from '../command-helpers.ts';
import { CliError, EXIT } from '../errors.ts';
import { collect, printJson, table, yesNo } from '../output.ts';

const METHODS = ['*', 'GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** `--scope-rule "GET /invoices/** invoices.read"` → a scope rule. */
function parseScopeRule(text: string): ScopeRule {
  const parts = text.trim().split(/\s+/);
  if (parts.length !== 3) throw new CliError(`--scope-rule takes "METHOD PATH-PATTERN SCOPE", e.g. "GET /invoices/** invoices.read" (got "${text}")`, EXIT.usage);
  const [method, pathPattern, scope] = parts as [string, string, string];
  return { method: oneOf(method.toUpperCase(), '--scope-rule method', METHODS)!, pathPattern, scope };
}

const SENSITIVITIES = ['read', 'write', 'admin'] as const;

/** `--scope-catalogue "invoices.read=read:Read invoices"` → a catalogue entry (the description is optional). */
function parseCatalogueEntry(text: string): ScopeCatalogueEntry {
  const eq = text.indexOf('=');
  const usage = `--scope-catalogue takes "SCOPE=SENSITIVITY" or "SCOPE=SENSITIVITY:DESCRIPTION", sensitivity one of ${SENSITIVITIES.join(', ')}, e.g. "invoices.read=read:Read invoices" (got "${text}")`;
  if (eq <= 0) throw new CliError(usage, EXIT.usage);
  const name = text.slice(0, eq).trim();
  const rest = text.slice(eq + 1);
  const colon = rest.indexOf(':');
  const sensitivity = (colon < 0 ? rest : rest.slice(0, colon)).trim();
  const description = colon < 0 ? '' : rest.slice(colon + 1).trim();
  if (!name || /\s/.test(name) || !(SENSITIVITIES as readonly string[]).includes(sensitivity)) throw new CliError(usage, EXIT.usage);
  return { name, sensitivity: sensitivity as ScopeCatalogueEntry['sensitivity'], ...(description ? { description } : {}) };
}

/** The gateway and network options shared by `providers add` and `providers update`. */
function withGatewayOptions(cmd: Command): Command {
  return cmd
    .option('--scope-rule <rule>', 'a gateway scope rule "METHOD PATH-PATTERN SCOPE" (repeat; first match wins; replaces the list on update)', collect)
    .option('--scope-catalogue <entry>', 'a scope the issuer offers and its sensitivity, "SCOPE=read|write|admin[:DESCRIPTION]" (repeat; replaces the catalogue on update; consents may then ask only for these)', collect)
    .option('--no-scope-catalogue', 'remove the scope catalogue (update)')
    .option('--unmapped-calls <policy>', 'a call no scope rule maps is refused (deny, the default) or forwarded (allow)')
    .option('--allow-private-network', 'let the gateway reach loopback and private addresses (an API on this host or your network)')
    .option('--no-allow-private-network', 'only public addresses (the default)')
    .option('--allow-path-parameters', "let API paths carry ';' path parameters (refused by default)")
    .option('--no-allow-path-parameters', "refuse ';' path parameters (the default)")
    .option('--development', 'a local development issuer: plain http allowed on loopback');
}

function gatewayBody(flags: Record<string, unknown>) {
  return {
    ...(flags.scopeRule ? { scopeRules: (flags.scopeRule as string[]).map(parseScopeRule) } : {}),
    ...(Array.isArray(flags.scopeCatalogue) ? { scopeCatalogue: (flags.scopeCatalogue as string[]).map(parseCatalogueEntry) } : flags.scopeCatalogue === false ? { scopeCatalogue: [] } : {}),
    ...(flags.unmappedCalls !== undefined ? { unmappedCalls: oneOf(flags.unmappedCalls as string, '--unmapped-calls', ['allow', 'deny'] as const)! } : {}),
    ...(flags.allowPrivateNetwork !== undefined ? { allowPrivateNetwork: flags.allowPrivateNetwork as boolean } : {}),
    ...(flags.allowPathParameters !== undefined ? { allowPathParameters: flags.allowPathParameters as boolean } : {}),
    ...(flags.development ? { development: true } : {}),
  };
}

function describe(p: ProviderRecord, verb: string): string {
  const rules = p.scopeRules.length > 0 ? p.scopeRules.map((r) => `${r.method} ${r.pathPattern} → ${r.scope}`).join('\n                    ') : '(none)';
  const catalogue = p.scopeCatalogue.length > 0 ? p.scopeCatalogue.map((e) => `${e.name} (${e.sensitivity})${e.description ? ` — ${e.description}` : ''}`).join('\n                    ') : '(none declared: consents may ask for any scope the issuer supports)';
  return [
    `${verb} provider ${p.id} (${p.name})${p.discoveredAt ? ` — discovered from ${p.issuer}` : ''}`,
    `  token endpoint    ${p.tokenEndpoint}`,
    `  authorization     ${p.authorizationEndpoint ?? '(none: no customer consent)'}`,
    `  revocation        ${p.revocationEndpoint ?? '(none: tokens can only be blocked in the gateway)'}`,
    `  introspection     ${p.introspectionEndpoint ?? '(none: revocations cannot be verified)'}`,
    `  supports          PKCE S256: ${yesNo(p.supports.pkceS256)}; refresh rotation: ${yesNo(p.supports.refreshRotation)}`,
    `  revocation path   ${p.revocation.supported ? (p.revocation.verified ? `verified ${p.revocation.verifiedAt}` : 'not yet verified (verified by the first confirmed revocation of a token obtained through consent; registered and imported tokens never verify it)') : 'none'}`,
    `  API base URLs     ${p.apiBaseUrls.join(', ')}`,
    `  scope rules       ${rules}`,
    `  scope catalogue   ${catalogue}`,
    `  unmapped calls    ${p.unmappedCalls === 'deny' ? 'refused (403 unmapped_call_refused)' : 'forwarded'}`,
    `  private network   ${p.allowPrivateNetwork ? 'allowed (loopback and private addresses)' : 'not allowed (public addresses only)'}${p.development ? '; development provider' : ''}`,
    `  path parameters   ${p.allowPathParameters ? "allowed (';' in paths)" : "refused (';' in paths)"}`,
  ].join('\n');
}

export function registerProviders(program: Command) {
  const tenants = program.command('tenants').description('Customers (through a server)');
  withApi(tenants.command('create <name>').description('Add a customer')).action(async (name: string, flags) => {
    const t = await api(flags)((await endpoints.tenants()).create, { body: { name } });
    if (flags.json) printJson(t);
    else console.log(`Created tenant ${t.id} (${t.name}).`);
  });
  withApi(tenants.command('show <id>').description('One customer')).action(async (id: string, flags) => {
    const t = await api(flags)((await endpoints.tenants()).get, { params: { id: idArg('tenant', id) } });
    if (flags.json) printJson(t);
    else console.log(`${t.id}  ${t.name}  (created ${t.createdAt})`);
  });
  withApi(tenants.command('list').description('List customers')).action(async (flags) => {
    const { items } = await api(flags)((await endpoints.tenants()).list);
    if (flags.json) printJson(items);
    else console.log(items.length ? table([['ID', 'NAME', 'CREATED'], ...items.map((t) => [t.id, t.name, t.createdAt])]) : 'No tenants yet.');
  });

  const providers = program.command('providers').description('Issuers and their APIs (through a server)');
  withGatewayOptions(withApi(providers.command('add <name>').description('Register an issuer: its endpoints are discovered from --issuer (RFC 8414 / OpenID discovery) unless given')))
    .option('--issuer <url>', 'the issuer; its discovery document supplies the endpoints not given below')
    .option('--token-endpoint <url>', 'token endpoint (required without --issuer)')
    .option('--authorization-endpoint <url>', 'authorization endpoint (for customer consent)')
    .option('--revocation-endpoint <url>', 'RFC 7009 revocation endpoint')
    .option('--introspection-endpoint <url>', 'RFC 7662 introspection endpoint')
    .requiredOption('--client-id <id>', "Custody's client id at the issuer (required)")
    .option('--client-secret-env <name>', 'read the client secret from this environment variable (never from a flag: flags land in shell history)')
    .requiredOption('--api-base-url <url>', 'an API origin/path the gateway may forward to (repeat for more; required)', collect)
    .action(async (name: string, flags) => {
      if (!flags.issuer && !flags.tokenEndpoint) throw new CliError('Give --issuer (to discover the endpoints) or --token-endpoint.', EXIT.usage);
      const clientSecret = secretFromEnv(flags.clientSecretEnv, '--client-secret-env');
      const body = {
        name,
        clientId: flags.clientId as string,
        apiBaseUrls: flags.apiBaseUrl as string[],
        ...(flags.issuer ? { issuer: flags.issuer as string } : {}),
        ...(flags.tokenEndpoint ? { tokenEndpoint: flags.tokenEndpoint as string } : {}),
        ...(flags.authorizationEndpoint ? { authorizationEndpoint: flags.authorizationEndpoint as string } : {}),
        ...(flags.revocationEndpoint ? { revocationEndpoint: flags.revocationEndpoint as string } : {}),
        ...(flags.introspectionEndpoint ? { introspectionEndpoint: flags.introspectionEndpoint as string } : {}),
        ...(clientSecret ? { clientSecret } : {}),
        ...gatewayBody(flags),
      };
      const p = await api(flags)((await endpoints.providers()).create, { body });
      if (flags.json) printJson(p);
      else console.log(describe(p, 'Registered'));
    });

  withGatewayOptions(withApi(providers.command('update <id>').description("Change a provider: the gateway's scope rules, unmapped-call policy, network access, API base URLs, endpoints or client")))
    .option('--name <name>', 'a new name')
    .option('--api-base-url <url>', 'an API origin/path the gateway may forward to (repeat for more; replaces the list)', collect)
    .option('--token-endpoint <url>', 'token endpoint')
    .option('--authorization-endpoint <url>', 'authorization endpoint')
    .option('--revocation-endpoint <url>', 'RFC 7009 revocation endpoint (a new one is verified afresh)')
    .option('--introspection-endpoint <url>', 'RFC 7662 introspection endpoint')
    .option('--client-id <id>', "Custody's client id at the issuer")
    .option('--client-secret-env <name>', 'read a new client secret from this environment variable')
    .action(async (id: string, flags) => {
      const clientSecret = secretFromEnv(flags.clientSecretEnv, '--client-secret-env');
      const body = {
        ...(flags.name ? { name: flags.name as string } : {}),
        ...(flags.apiBaseUrl ? { apiBaseUrls: flags.apiBaseUrl as string[] } : {}),
        ...(flags.tokenEndpoint ? { tokenEndpoint: flags.tokenEndpoint as string } : {}),
        ...(flags.authorizationEndpoint ? { authorizationEndpoint: flags.authorizationEndpoint as string } : {}),
        ...(flags.revocationEndpoint ? { revocationEndpoint: flags.revocationEndpoint as string } : {}),
        ...(flags.introspectionEndpoint ? { introspectionEndpoint: flags.introspectionEndpoint as string } : {}),
        ...(flags.clientId ? { clientId: flags.clientId as string } : {}),
        ...(clientSecret ? { clientSecret } : {}),
        ...gatewayBody(flags),
      };
      if (Object.keys(body).length === 0) throw new CliError('Nothing to change: give at least one option (see custody providers update --help).', EXIT.usage);
      const p = await api(flags)((await endpoints.providers()).update, { params: { id: idArg('provider', id) }, body });
      if (flags.json) printJson(p);
      else console.log(describe(p, 'Updated'));
    });

  withApi(providers.command('show <id>').description('One provider: what it supports and what the gateway allows')).action(async (id: string, flags) => {
    const p = await api(flags)((await endpoints.providers()).get, { params: { id: idArg('provider', id) } });
    if (flags.json) printJson(p);
    else console.log(describe(p, 'The'));
  });

  withApi(providers.command('list').description('List providers and what each issuer supports')).action(async (flags) => {
    const { items } = await api(flags)((await endpoints.providers()).list);
    if (flags.json) return printJson(items);
    if (items.length === 0) return console.log('No providers yet.');
    const mark = (v: boolean | null) => (v === null ? '?' : v ? 'yes' : 'no');
    console.log(
      table([
        ['ID', 'NAME', 'ISSUER', 'PKCE', 'ROTATION', 'REVOKE', 'INTROSPECT', 'REVOCATION PATH', 'RULES', 'UNMAPPED'],
        ...items.map((p) => [
          p.id,
          p.name,
          p.issuer ?? '-',
          mark(p.supports.pkceS256),
          mark(p.supports.refreshRotation),
          mark(p.supports.revocation),
          mark(p.supports.introspection),
          p.revocation.supported ? (p.revocation.verified ? 'verified' : 'unverified') : 'none',
          String(p.scopeRules.length),
          p.unmappedCalls,
        ]),
      ]),
    );
    console.log('\nPKCE, ROTATION: "?" until known (refresh rotation is learned on the first refresh).');
  });
}
