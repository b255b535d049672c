import fs from 'node:fs';
import SqliteDatabase from 'better-sqlite3';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.ts';
import { entryHash } from '../src/ledger/ledger.chain.ts';
import { Secret } from '../src/shared/secret.ts';
import { openLocalKeyring } from '../src/vault/local-keyring.ts';
import { runCli, spawnCli } from './support/cli.ts';
import { describeEachDatabase } from './support/databases.ts';
import { startEchoUpstream, type EchoUpstream } from './support/echo-upstream.ts';
import { keyFor, seed, startHarness, testKeyring, type Harness, type Seeded } from './support/harness.ts';
import { eventually } from './support/wait.ts';

// Each `custody` run is a process of its own that loads the CLI (~0.5 s of CPU): runs that do not
// depend on one another start together, and what the CLI decides before it sends anything (usage
// errors, a server it cannot reach) is checked once, below, not once per database.

/** The CLI as a user runs it (the compiled `bin/custody.js`), against a real server. */
describeEachDatabase('the custody CLI against a server', (kind) => {
  let h: Harness;
  let s: Seeded;
  let upstream: EchoUpstream;
  let port: number;
  let env: Record<string, string | undefined>;

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    h = await startHarness(kind);
    s = await seed(h);
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    port = (h.app.server.address() as AddressInfo).port;
    env = { CUSTODY_URL: `http://127.0.0.1:${port}`, CUSTODY_API_KEY: await keyFor(h, 'admin') };
  });
  afterAll(async () => {
    await h?.close();
    await upstream?.close();
  });

  const cli = (args: string[], extra: Record<string, string | undefined> = {}) => runCli(args, { ...env, ...extra });

  it('finds the server from CUSTODY_HOST and CUSTODY_PORT when CUSTODY_URL is not set', async () => {
    const r = await cli(['tenants', 'list', '--json'], { CUSTODY_URL: undefined, CUSTODY_HOST: '127.0.0.1', CUSTODY_PORT: String(port) });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).map((t: { id: string }) => t.id)).toEqual(expect.arrayContaining([s.tenantA, s.tenantB]));
  });

  it('exits with a distinct, documented code for each kind of failure the server reports, and --json makes errors JSON on stderr', async () => {
    // Usage errors (2) and an unreachable server (7) are decided before anything is sent: 'the custody CLI on its own'.
    const [missing, refused, conflict] = await Promise.all([
      cli(['tokens', 'show', 'tok_01J00000000000000000000000', '--json']),
      cli(['tokens', 'list'], { CUSTODY_API_KEY: 'cus_01J00000000000000000000000_' + 'x'.repeat(43) }),
      cli(['tokens', 'resume', s.tokenA, '--reason', 'not suspended']),
    ]);
    expect(missing.code).toBe(3);
    expect(JSON.parse(missing.stderr)).toEqual({ error: { code: 'token_not_found', message: expect.any(String) } });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/^custody: /);
    expect(conflict.code).toBe(5);
    expect(conflict.stderr).toContain('cannot resume a token that is active');
  });

  it('says when more tokens exist, and keeps nextCursor in --json', async () => {
    for (let i = 0; i < 3; i++) await h.custody.tokens.register(h.admin, { tenantId: s.tenantA, providerId: s.providerId, owner: 'paging', scopes: [], accessToken: new (await import('../src/shared/secret.ts')).Secret(`at-${i}`) });
    const [text, first, every] = await Promise.all([
      cli(['tokens', 'list', '--owner', 'paging', '--limit', '2']),
      cli(['tokens', 'list', '--owner', 'paging', '--limit', '2', '--json']),
      cli(['tokens', 'list', '--owner', 'paging', '--limit', '2', '--all', '--json']),
    ]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/More tokens match\. Next page: --cursor \S+/);
    const json = JSON.parse(first.stdout);
    expect(json.items).toHaveLength(2);
    expect(json.nextCursor).toEqual(expect.any(String));
    const all = JSON.parse(every.stdout);
    expect(all).toMatchObject({ nextCursor: null });
    expect(all.items).toHaveLength(3);
  });

  it('registers a token from environment variables, updates it, and revokes it saying what happened at the issuer', async () => {
    const reg = await cli(
      ['tokens', 'register', '--tenant', s.tenantA, '--provider', s.providerId, '--owner', 'team-cli', '--access-token-env', 'CLI_AT', '--scope', 'invoices.read', '--workload', 'billing-sync', '--purpose', 'cli test', '--approver-subject', 'carol', '--json'],
      { CLI_AT: 'cli-access-token-value' },
    );
    expect(reg.code, reg.stderr).toBe(0);
    const token = JSON.parse(reg.stdout);
    expect(reg.stdout).not.toContain('cli-access-token-value');
    expect(token).toMatchObject({ owner: 'team-cli', workloads: ['billing-sync'], purpose: 'cli test', approver: { subject: 'carol' } });

    const upd = await cli(['tokens', 'update', token.id, '--add-workload', 'reporting', '--remove-workload', 'billing-sync', '--owner', 'team-other', '--json']);
    expect(upd.code, upd.stderr).toBe(0);
    expect(JSON.parse(upd.stdout)).toMatchObject({ owner: 'team-other', workloads: ['reporting'] });

    // The seeded provider's revocation endpoint is not reachable here: the outcome is still pending when the wait ends.
    const rev = await cli(['tokens', 'revoke', token.id, '--reason', 'cli test', '--wait', '200']);
    expect(rev.code, rev.stderr).toBe(0);
    expect(rev.stdout).toContain('is revoked: the gateway refuses it from now on');
    expect(rev.stdout).toContain('At the issuer: still pending');
  });

  it('adds a provider with scope rules, the unmapped-call policy and private-network access, then changes them', async () => {
    const add = await cli([
      'providers', 'add', `cli-${port}`, '--token-endpoint', 'https://as.example.com/token', '--client-id', 'c', '--api-base-url', `${upstream.origin}/api`,
      '--scope-rule', 'GET /invoices/** invoices.read', '--scope-rule', 'post /invoices invoices.write', '--unmapped-calls', 'deny', '--allow-private-network', '--development', '--json',
    ]);
    expect(add.code, add.stderr).toBe(0);
    const p = JSON.parse(add.stdout);
    expect(p).toMatchObject({ allowPrivateNetwork: true, unmappedCalls: 'deny', scopeRules: [{ method: 'GET', pathPattern: '/invoices/**', scope: 'invoices.read' }, { method: 'POST', pathPattern: '/invoices', scope: 'invoices.write' }] });
    const [upd, list] = await Promise.all([cli(['providers', 'update', p.id, '--unmapped-calls', 'allow', '--no-allow-private-network']), cli(['providers', 'list'])]);
    expect(upd.code, upd.stderr).toBe(0);
    expect(upd.stdout).toContain('unmapped calls    forwarded');
    expect(upd.stdout).toContain('not allowed (public addresses only)');
    expect(list.stdout).toMatch(/PKCE\s+ROTATION\s+REVOKE\s+INTROSPECT\s+REVOCATION PATH/);

    // The scope catalogue: each scope's sensitivity (and a description), replaced as a whole.
    const cat = await cli(['providers', 'update', p.id, '--scope-catalogue', 'invoices.read=read:Read invoices', '--scope-catalogue', 'invoices.write=write', '--json']);
    expect(cat.code, cat.stderr).toBe(0);
    expect(JSON.parse(cat.stdout).scopeCatalogue).toEqual([{ name: 'invoices.read', sensitivity: 'read', description: 'Read invoices' }, { name: 'invoices.write', sensitivity: 'write' }]);
    expect((await cli(['providers', 'show', p.id])).stdout).toContain('invoices.read (read) — Read invoices');
    const none = await cli(['providers', 'update', p.id, '--no-scope-catalogue', '--json']);
    expect(JSON.parse(none.stdout).scopeCatalogue).toEqual([]);
  });

  it('creates an API key through the server when it has a key, ledgered under that key', async () => {
    const r = await cli(['apikey', 'create', '--role', 'auditor', '--name', 'through-the-api', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const created = JSON.parse(r.stdout);
    const [entry] = await h.custody.ledger.list({ subjectId: created.apiKey.id, order: 'asc', limit: 1 });
    expect(entry!.actor).toMatch(/^apikey:key_/);
  });

  it('revoke-all revokes every live token of a provider and follows the upstream side until it is done', async () => {
    const seeded = await seed(h);
    // A dry run says how many, and changes nothing; without it, a reason is required.
    const [dry, noReason] = await Promise.all([cli(['tokens', 'revoke-all', '--provider', seeded.providerId, '--dry-run']), cli(['tokens', 'revoke-all', '--provider', seeded.providerId])]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('Would revoke 2 live tokens');
    expect(dry.stdout).toContain('Nothing was changed');
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain('--reason');
    expect((await h.custody.storage.db.selectFrom('tokens').select('id').where('provider_id', '=', seeded.providerId).where('state', '=', 'revoked').execute()).length).toBe(0);
    // A mistyped provider is a 404, not "0 revoked" (run meanwhile: it touches nothing).
    const typoRun = cli(['tokens', 'revoke-all', '--provider', 'prv_01J00000000000000000000000', '--reason', 'typo']);
    const run = spawnCli(['tokens', 'revoke-all', '--provider', seeded.providerId, '--reason', 'provider breach'], env);
    // Nothing delivers upstream in this test: once the CLI is following, the outcomes are recorded here
    // as the outbox would, and it finishes with the summary.
    await eventually(async () => (await h.custody.storage.db.selectFrom('tokens').select('id').where('provider_id', '=', seeded.providerId).where('upstream_revocation', '=', 'pending').execute()).length === 2, { what: 'the bulk revocation' });
    await h.custody.storage.db.updateTable('tokens').set({ upstream_revocation: 'verified' }).where('provider_id', '=', seeded.providerId).execute();
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Revoked 2 tokens in Custody');
    expect(r.stdout).toContain('2 are being revoked at the issuer');
    expect(r.stdout).toContain('At the issuers: 2 verified');
    const again = await cli(['tokens', 'revoke-all', '--provider', seeded.providerId, '--reason', 'again', '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ revoked: 0, upstreamPending: 0 });
    const typo = await typoRun;
    expect(typo.code).toBe(3);
    expect(typo.stderr).toContain('provider');
  });

  it('revoke-all says plainly when tokens cannot be revoked at their issuer', async () => {
    const p = await h.custody.providers.create(h.admin, { name: `no-revoke-${Date.now()}`, tokenEndpoint: 'https://issuer.example.com/token', clientId: 'c', apiBaseUrls: ['https://api.example.com/'] });
    await h.custody.tokens.register(h.admin, { tenantId: s.tenantA, providerId: p.id, owner: 'o', scopes: [], accessToken: new Secret('at-no-revoke') });
    const r = await cli(['tokens', 'revoke-all', '--provider', p.id, '--reason', 'breach']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('WARNING: it cannot be revoked at the issuer by Custody (its provider has no revocation endpoint');

    // By ids (from standard input): the ids it did not revoke are named, with why.
    const t = await h.custody.tokens.register(h.admin, { tenantId: s.tenantA, providerId: p.id, owner: 'o', scopes: [], accessToken: new Secret('at-no-revoke-2') });
    const missing = 'tok_01J00000000000000000000000';
    const run = spawnCli(['tokens', 'revoke-all', '--ids-from', '-', '--reason', 'incident list'], env);
    run.child.stdin!.end(`# incident 42\n${t.id}\n${missing}\n`);
    const byIds = await run.done;
    // A named token not found is not done: exit 3, after the rest was revoked.
    expect(byIds.code, byIds.stderr).toBe(3);
    expect(byIds.stdout).toContain('Revoked 1 token in Custody');
    expect(byIds.stdout).toContain(`NOT REVOKED: 1 of the ids named:\n  no such token (or not one you can see) (1): ${missing}`);
    const bad = await cli(['tokens', 'revoke-all', '--ids', `${t.id},nope`, '--reason', 'x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"nope" (--ids) is not a token id');
  });

  it('shows and sets the policy, keeps the directories, sweeps, and reads findings and their summary', async () => {
    const set = await cli(['policy', 'set', 'dormantAfterDays=60', 'mode=audit']);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toMatch(/dormantAfterDays\s+60\s+global/);
    // The refused changes write nothing, so they run beside the tenant's override.
    const [tenant, bad, unknownKey, owner] = await Promise.all([
      cli(['policy', 'set', '--tenant', s.tenantA, 'reviewIntervalDays=90', '--json']),
      cli(['policy', 'set', 'graceDays=100']),
      cli(['policy', 'set', 'dormantDays=5']),
      cli(['owners', 'add', `cli-team-${Date.now()}`, '--team', '--contact', 'ops@example.com']),
    ]);
    expect(JSON.parse(tenant.stdout)).toMatchObject({ scope: s.tenantA, values: { reviewIntervalDays: 90, dormantAfterDays: 60 }, sources: { reviewIntervalDays: 'tenant', dormantAfterDays: 'global' } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/graceDays \(100\) must be shorter than dormantAfterDays \(60\)/);
    expect(unknownKey.code).toBe(2);
    expect(owner.code, owner.stderr).toBe(0);
    const sweep = await cli(['sweep']);
    expect(sweep.code, sweep.stderr).toBe(0);
    expect(sweep.stdout).toMatch(/^Swept \d+ tokens and \d+ workloads/);
    const [summary, listed] = await Promise.all([cli(['findings', 'summary']), cli(['findings', 'list', '--tenant', s.tenantA, '--type', 'no_owner', '--json'])]);
    expect(summary.code, summary.stderr).toBe(0);
    expect(summary.stdout).toMatch(/^Managed share [\d.]+%: \d+ of \d+ live tokens are managed/);
    const list = JSON.parse(listed.stdout) as { items: { id: string; tenantId: string }[] };
    expect(list.items.length).toBeGreaterThan(0);
    expect(new Set(list.items.map((f) => f.tenantId))).toEqual(new Set([s.tenantA]));
    // What is asserted of the finding shown does not depend on whether the acknowledgement came first.
    const [show, ack] = await Promise.all([cli(['findings', 'show', list.items[0]!.id]), cli(['findings', 'ack', list.items[0]!.id, '--reason', 'owner being added'])]);
    expect(show.stdout).toMatch(/OWASP NHI\s+NHI1 Improper Offboarding/);
    expect(ack.stdout).toContain(`Acknowledged ${list.items[0]!.id}`);
  }, 60_000);

  it('justifies a purpose, lists and shows notices, and says why a token cannot be reauthorised', async () => {
    const [noticeId] = await h.custody.storage.db.transaction().execute((trx) =>
      h.custody.notices.record(trx, [{ tenantId: s.tenantA, tokenId: s.tokenA, findingId: 'fnd_01J00000000000000000000000', findingType: 'dormant', deadline: '2030-01-01T00:00:00.000Z', message: 'Token will be suspended by policy (dormant).', recipients: [{ kind: 'owner', name: 'team-a', address: null }], link: null, policyVersion: { global: 1, tenant: 0 } }]),
    );
    // None of these depends on another: justifying moves the review date only; reauthorising is refused whatever it is.
    const [justified, blank, list, show, reauth] = await Promise.all([
      cli(['tokens', 'justify', s.tokenA, '--purpose', 'monthly invoice sync']),
      cli(['tokens', 'justify', s.tokenA, '--purpose', '  ']),
      cli(['notices', 'list', '--token', s.tokenA]),
      cli(['notices', 'show', noticeId!, '--json']),
      // The seeded provider has no issuer: no consent can run, and the CLI says so.
      cli(['tokens', 'reauthorize', s.tokenA]),
    ]);
    expect(justified.code, justified.stderr).toBe(0);
    expect(justified.stdout).toMatch(/purpose recorded; next review due \d{4}-/);
    expect(blank.code).toBe(2);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain(`${noticeId}  dormant  suspend on 2030-01-01T00:00:00.000Z`);
    expect(list.stdout).toContain('to owner team-a (no address known)');
    expect(JSON.parse(show.stdout)).toMatchObject({ id: noticeId, tokenId: s.tokenA, findingType: 'dormant' });
    expect(reauth.code).toBe(5);
    expect(reauth.stderr).toMatch(/cannot run a customer consent/);
  });

  it('lists, shows, acknowledges and resolves alerts', async () => {
    const { id } = await h.custody.storage.db.transaction().execute((trx) =>
      h.custody.alerts.raise(trx, { kind: 'cli_probe', severity: 'high', tenantId: s.tenantA, subjectId: s.tokenA, message: 'Probe alert for the CLI.', evidence: { kind: 'usage', workload: 'etl' } }, new Date()),
    );
    const [list, show] = await Promise.all([cli(['alerts', 'list', '--token', s.tokenA, '--kind', 'cli_probe']), cli(['alerts', 'show', id])]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain(id);
    expect(show.stdout).toContain('cli_probe  HIGH  open');
    expect(show.stdout).toContain('"workload":"etl"');
    expect((await cli(['alerts', 'ack', id, '--reason', 'looking'])).stdout).toContain(`Acknowledged ${id}`);
    const resolved = await cli(['alerts', 'resolve', id, '--reason', 'done', '--json']);
    expect(JSON.parse(resolved.stdout)).toMatchObject({ id, status: 'resolved', resolution: { reason: 'done' } });
  });

  it('lists and revokes API keys, and lists the ledger', async () => {
    const workload = await keyFor(h, 'workload', s.tenantA, 'billing-sync');
    const id = `key_${workload.slice(4, 30)}`;
    // The list shows revoked keys too: it runs beside the revocation.
    const [list, revoked] = await Promise.all([cli(['apikey', 'list', '--json']), cli(['apikey', 'revoke', id])]);
    expect(JSON.parse(list.stdout).map((k: { id: string }) => k.id)).toContain(id);
    expect(list.stdout).not.toContain(workload);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(`Revoked ${id}`);
    const ledger = await cli(['ledger', 'list', '--action', 'apikey.revoked', '--json']);
    expect(JSON.parse(ledger.stdout).items[0]).toMatchObject({ action: 'apikey.revoked', subjectId: id });
  });
});

describe('the custody CLI on its own', () => {
  const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'custody-cli-'));

  it('decides usage errors (exit 2, JSON on stderr with --json) before it sends anything, and says when the server is unreachable (exit 7)', async () => {
    // Nothing listens at this address: a command the CLI sent would end in exit 7, not in a usage error.
    const nowhere = { CUSTODY_URL: 'http://127.0.0.1:9', CUSTODY_API_KEY: 'cus_01J00000000000000000000000_' + 'x'.repeat(43) };
    const run = (args: string[], extra: Record<string, string | undefined> = {}) => runCli(args, { ...nowhere, ...extra });
    const token = 'tok_01J00000000000000000000000';
    const provider = 'prv_01J00000000000000000000000';
    const [usage, unknownOption, unreachable, malformed, badPort, withPassword, once, noTenant, nothing, badRule, badEntry, badType] = await Promise.all([
      run(['tokens', 'show', 'not-an-id']),
      run(['tokens', 'list', '--colour', '--json']),
      run(['tokens', 'list', '--json']),
      // A malformed address is a usage error, not an unreachable server, and is not echoed with a password.
      run(['tokens', 'list'], { CUSTODY_URL: '127.0.0.1:7420' }),
      run(['tokens', 'list'], { CUSTODY_URL: undefined, CUSTODY_PORT: 'abc' }),
      run(['tokens', 'list'], { CUSTODY_URL: 'http://user:hunter2@127.0.0.1:9' }),
      // A parser error is said once; with --json, as JSON.
      run(['tokens', 'list', '--colour']),
      // A rule of the API a flag maps to is said with the flag's name.
      run(['apikey', 'create', '--role', 'workload', '--name', 'x']),
      run(['tokens', 'update', token]),
      run(['providers', 'update', provider, '--scope-rule', 'FETCH /x y']),
      run(['providers', 'update', provider, '--scope-catalogue', 'invoices.read=secret']),
      run(['notices', 'list', '--type', 'nope']),
    ]);
    expect(usage.code).toBe(2);
    expect(unknownOption.code).toBe(2);
    expect(JSON.parse(unknownOption.stderr).error).toEqual({ code: 'usage_error', message: "unknown option '--colour'" });
    expect(unreachable.code).toBe(7);
    expect(JSON.parse(unreachable.stderr).error.code).toBe('unreachable');
    expect(malformed.code).toBe(2);
    expect(badPort.code).toBe(2);
    expect(withPassword.code).toBe(2);
    expect(withPassword.stderr).not.toContain('hunter2');
    expect(once.code).toBe(2);
    expect(once.stderr.match(/unknown option/g)).toHaveLength(1);
    expect(noTenant.code).toBe(2);
    expect(noTenant.stderr).toContain('--tenant');
    expect(nothing.code).toBe(2);
    expect(badRule.code).toBe(2);
    expect(badRule.stderr).toContain('must be one of *, GET');
    expect(badEntry.code).toBe(2);
    expect(badEntry.stderr).toContain('sensitivity one of read, write, admin');
    expect(badType.code).toBe(2);
  });

  it('prints its version and help, with the exit codes', async () => {
    const [version, help] = await Promise.all([runCli(['--version']), runCli(['--help'])]);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toBe(JSON.parse(fs.readFileSync('package.json', 'utf8')).version);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Exit codes: 0 ok');
  });

  it('generates a key that CUSTODY_KEYRING takes as is', async () => {
    const [r, json] = await Promise.all([runCli(['keys', 'generate']), runCli(['keys', 'generate', '--json'])]);
    expect(r.code).toBe(0);
    const value = r.stdout.trim();
    expect(JSON.parse(json.stdout).keyring).toMatch(/^1:/);
    expect(value).toMatch(/^1:[A-Za-z0-9+/]{43}=$/);
    const { keyring } = openLocalKeyring(loadConfig({ CUSTODY_KEYRING: value }).keyring);
    expect(await keyring.versions()).toEqual([1]);
  });

  it('makes the first key of a database without a key (bootstrap), and refuses to make more that way once one exists', async () => {
    const db = path.join(tmp(), 'boot.db');
    const keyring = testKeyring();
    expect((await runCli(['migrate', '--database-url', db], { CUSTODY_KEYRING: keyring })).code).toBe(0);
    const env = { CUSTODY_KEYRING: keyring, CUSTODY_DATABASE_URL: db, CUSTODY_API_KEY: undefined, CUSTODY_URL: undefined };
    const first = await runCli(['apikey', 'create', '--role', 'admin', '--name', 'first', '--json'], env);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout).apiKey).toMatchObject({ role: 'admin', name: 'first' });
    const second = await runCli(['apikey', 'create', '--role', 'admin', '--name', 'sneaky'], env);
    expect(second.code).toBe(4);
    expect(second.stderr).toContain('API keys already exist');
    // Holding the database and its keyring, an operator says so: --database-url.
    expect((await runCli(['apikey', 'create', '--role', 'auditor', '--name', 'operator', '--database-url', db], env)).code).toBe(0);
    // A server named without a key: the key is missing, not a local file.
    const named = await runCli(['apikey', 'create', '--role', 'auditor', '--name', 'x'], { ...env, CUSTODY_URL: 'http://127.0.0.1:9' });
    expect(named.code).toBe(4);
    expect(named.stderr).toContain('No API key');
  });

  it('verifies a copy of a database without creating a key file beside it, and says which keyring it needs', async () => {
    const dir = tmp();
    const db = path.join(dir, 'copy.db');
    const keyring = testKeyring();
    // A database made with an inline keyring, then verified without it.
    expect((await runCli(['migrate', '--database-url', db], { CUSTODY_KEYRING: keyring })).code).toBe(0);
    const [created, typo, r, nowhere] = await Promise.all([
      runCli(['apikey', 'create', '--role', 'auditor', '--name', 'a', '--database-url', db], { CUSTODY_KEYRING: keyring }),
      // A typo in the path makes no new database.
      runCli(['apikey', 'create', '--role', 'auditor', '--name', 'a', '--database-url', path.join(dir, 'cpoy.db')], { CUSTODY_KEYRING: keyring }),
      runCli(['ledger', 'verify', '--database-url', db], { CUSTODY_KEYRING: undefined }),
      runCli(['ledger', 'verify', '--database-url', path.join(dir, 'typo.db')], { CUSTODY_KEYRING: keyring }),
    ]);
    expect(created.code, created.stderr).toBe(0);
    expect(typo.code).toBe(3);
    expect(fs.existsSync(path.join(dir, 'cpoy.db'))).toBe(false);
    expect(nowhere.code).toBe(3);
    expect(fs.existsSync(path.join(dir, 'typo.db'))).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('CUSTODY_KEYRING_FILE');
    expect(fs.existsSync(path.join(dir, 'keyring.json'))).toBe(false);
    // Verify only reads: a tail after the last checkpoint (written here by hand) stays unanchored,
    // run after run; verify never signs over it.
    const sqlite = new SqliteDatabase(db);
    const head = sqlite.prepare('select seq, hash from ledger_entries order by seq desc limit 1').get() as { seq: number; hash: string };
    const entry = { at: new Date().toISOString(), actor: 'system:test', action: 'test.tail', tenantId: null, subjectId: null, data: '{}', prevHash: head.hash };
    sqlite
      .prepare('insert into ledger_entries (seq, at, actor, action, tenant_id, subject_id, data, prev_hash, hash) values (?, ?, ?, ?, null, null, ?, ?, ?)')
      .run(head.seq + 1, entry.at, entry.actor, entry.action, entry.data, entry.prevHash, entryHash(entry));
    const checkpoints = () => (sqlite.prepare('select count(*) as n from ledger_checkpoints').get() as { n: number }).n;
    const before = checkpoints();
    const first = await runCli(['ledger', 'verify', '--database-url', db, '--json'], { CUSTODY_KEYRING: keyring });
    expect(JSON.parse(first.stdout)).toMatchObject({ ok: true, checkpoints: { unanchored: 1 } });
    // The second run, after the first has ended, finds the tail still unanchored; the text form runs beside it.
    const [again, ok] = await Promise.all([
      runCli(['ledger', 'verify', '--database-url', db, '--json'], { CUSTODY_KEYRING: keyring }),
      runCli(['ledger', 'verify', '--database-url', db], { CUSTODY_KEYRING: keyring }),
    ]);
    expect(JSON.parse(again.stdout)).toMatchObject({ ok: true, checkpoints: { unanchored: 1 } });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^OK: \d+ entries/);
    expect(checkpoints()).toBe(before);
    sqlite.close();
  });

  it('refuses to serve in production without a keyring before it creates a database', async () => {
    const dir = tmp();
    const db = path.join(dir, 'prod.db');
    const r = await runCli(['serve', '--port', '0', '--database-url', db], { CUSTODY_ENV: 'production', CUSTODY_KEYRING: undefined });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('CUSTODY_KEYRING');
    expect(fs.existsSync(db)).toBe(false);
  });

  it('serves with what it says to a person on stderr (the one-time key among it) and only JSON log lines on stdout', async () => {
    const dir = tmp();
    const { child, done } = spawnCli(['serve', '--port', '0', '--database-url', path.join(dir, 'c.db')], { CUSTODY_LOG_LEVEL: 'info', CUSTODY_KEYRING: testKeyring() });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    let failure: unknown;
    try {
      const url = await eventually(() => /Custody is running at (\S+)/.exec(stderr)?.[1], { what: 'the server to say where it runs', timeoutMs: 30_000 });
      const key = /^\s+(cus_\S+)$/m.exec(stderr)![1]!;
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(200);
      // The first key works, and nothing of it is on stdout.
      expect((await fetch(`${url}/v1/tenants`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
      await eventually(() => stdout.includes('request completed'), { what: 'a log line' });
      expect(stdout).not.toContain(key);
      for (const line of stdout.split('\n').filter(Boolean)) expect(() => JSON.parse(line), line).not.toThrow();
    } catch (err) {
      failure = err;
    }
    child.kill('SIGTERM');
    const end = await done;
    // The first failure is the one reported; the exit is named with its signal and last words.
    if (failure) throw failure;
    expect({ code: end.code, signal: end.signal }, stderr.slice(-2000)).toEqual({ code: 0, signal: null });
  }, 60_000);
});
