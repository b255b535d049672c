import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createCustody } from '../app/custody.ts';
import { createLogger } from '../shared/logger.ts';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { bearer, keyFor, startHarness, type Harness } from '../../test/support/harness.ts';
import { connectThroughCustody, startFaultForwarder, startTestIssuer, type TestIssuer } from '../../test/support/oidc.ts';
import { eventually } from '../../test/support/wait.ts';

const PUBLIC_URL = 'http://127.0.0.1:7420';
const REVOCATION_PATH = '/token/revocation';

describeEachDatabase('upstream revocation through the outbox', (kind) => {
  let issuer: TestIssuer;
  let forwarder: Awaited<ReturnType<typeof startFaultForwarder>>;
  let h: Harness;
  let admin: string;
  let tenantId: string;
  let adminT: string;
  let providerId: string;

  beforeAll(async () => {
    issuer = await startTestIssuer({ redirectUris: [`${PUBLIC_URL}/oauth/callback`] });
    forwarder = await startFaultForwarder(issuer.issuer);
    h = await startHarness(kind, {
      env: { CUSTODY_PUBLIC_URL: PUBLIC_URL },
      oauth: { requestTimeoutMs: 300, outbox: { pollMs: 20, baseDelayMs: 50, maxDelayMs: 200, leaseMs: 1000, giveUpAfterMs: 60_000 } },
    });
    admin = await keyFor(h, 'admin');
    tenantId = (await h.custody.tenants.create(h.admin, { name: `acme-${randomBytes(3).toString('hex')}` })).id;
    adminT = await keyFor(h, 'tenant_admin', tenantId);
    // Discovered from the issuer, except revocation, which goes through the fault-injecting forwarder.
    const r = await h.app.inject({
      method: 'POST',
      url: '/v1/providers',
      headers: bearer(admin),
      payload: { name: 'issuer', issuer: issuer.issuer, revocationEndpoint: `${forwarder.url}${REVOCATION_PATH}`, development: true, clientId: issuer.clientId, clientSecret: issuer.clientSecret, apiBaseUrls: ['https://api.example.com/'] },
    });
    expect(r.statusCode).toBe(201);
    providerId = r.json().id;
  });
  afterAll(async () => {
    await h?.close();
    await forwarder?.close();
    await issuer?.close();
  });

  const connect = async (account: string) => {
    const r = await connectThroughCustody(h.app, { key: adminT, providerId, tenantId, account, publicUrl: PUBLIC_URL, scope: 'api:read' });
    expect(r.status).toBe(200);
    return r.tokenId!;
  };
  const credentials = async (tokenId: string) => {
    const row = await h.custody.storage.db.selectFrom('tokens').select(['access_token_enc', 'refresh_token_enc', 'tenant_id']).where('id', '=', tokenId).executeTakeFirstOrThrow();
    const key = await h.custody.vault.loadDataKey(h.custody.storage.db, row.tenant_id, tokenId);
    return { access: h.custody.vault.decrypt(key, 'access_token', row.access_token_enc).reveal(), refresh: h.custody.vault.decrypt(key, 'refresh_token', row.refresh_token_enc!).reveal() };
  };
  /** Asks the issuer itself (RFC 7662) whether a credential is still active. */
  const activeAtIssuer = async (token: string) => {
    const r = await fetch(`${issuer.issuer}/token/introspection`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${issuer.clientId}:${issuer.clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ token }),
    });
    return ((await r.json()) as { active: boolean }).active;
  };
  const record = async (id: string) => (await h.app.inject({ url: `/v1/tokens/${id}`, headers: bearer(admin) })).json();
  const upstreamEntry = async (id: string) => (await h.custody.ledger.list({ subjectId: id, action: 'token.upstream_revocation', order: 'asc', limit: 10 }))[0];
  const deliver = async (id: string) => {
    await eventually(
      async () => {
        await h.custody.outbox.runOnce();
        return (await record(id)).revocation?.upstream !== 'pending';
      },
      { what: `upstream outcome of ${id}`, timeoutMs: 20_000, intervalMs: 25 },
    );
    return record(id);
  };

  it('revokes at the issuer, confirms by introspection, and says verified on the record, the ledger, the provider and /metrics', async () => {
    // The metrics are counted before and after, so only this revocation is looked at.
    const metric = async (pattern: RegExp) => Number(pattern.exec((await h.app.inject({ url: '/metrics' })).body)?.[1] ?? 0);
    const VERIFIED = /custody_revocation_upstream_seconds_count\{upstream="verified"\} (\d+)/;
    const LOCAL = /custody_revocation_local_seconds_count (\d+)/;
    const PENDING = /custody_outbox_pending (\d+)/;
    const before = { verified: await metric(VERIFIED), local: await metric(LOCAL), pending: await metric(PENDING) };
    const id = await connect('alice');
    const creds = await credentials(id);
    expect(await activeAtIssuer(creds.access)).toBe(true);
    const r = await h.app.inject({ method: 'POST', url: `/v1/tokens/${id}/revoke`, headers: bearer(adminT), payload: { reason: 'offboarded' } });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ state: 'revoked', revocation: { upstream: 'pending', upstreamConfirmedAt: null } });
    // The job committed with the revocation.
    const job = await h.custody.storage.db.selectFrom('outbox_jobs').selectAll().where('subject_id', '=', id).executeTakeFirstOrThrow();
    expect(job.status).toBe('pending');

    const t = await deliver(id);
    expect(t.revocation).toMatchObject({ upstream: 'verified' });
    const { requestedAt, locallyEffectiveAt, upstreamConfirmedAt } = t.revocation;
    expect(requestedAt <= locallyEffectiveAt && locallyEffectiveAt <= upstreamConfirmedAt).toBe(true);
    expect(await activeAtIssuer(creds.access)).toBe(false);
    expect(await activeAtIssuer(creds.refresh)).toBe(false);
    const entry = await upstreamEntry(id);
    expect(entry).toMatchObject({ actor: 'system:outbox', data: { upstream: 'verified', requestedAt, locallyEffectiveAt, upstreamConfirmedAt } });
    const provider = (await h.app.inject({ url: `/v1/providers/${providerId}`, headers: bearer(admin) })).json();
    expect(provider.revocation.verified).toBe(true);
    expect(t.revocationPath).toEqual({ local: 'gateway', upstream: 'rfc7009', verified: true });
    expect({ verified: await metric(VERIFIED), local: await metric(LOCAL), pending: await metric(PENDING) }).toEqual({
      verified: before.verified + 1,
      local: before.local + 1,
      pending: before.pending,
    });
  });

  it('delivers each revocation once: running the worker again changes nothing', async () => {
    const id = await connect('bob');
    await h.custody.tokens.transition(h.admin, id, 'revoke', 'x');
    await deliver(id);
    const before = forwarder.received.get(REVOCATION_PATH) ?? 0;
    await h.custody.outbox.runOnce();
    expect(forwarder.received.get(REVOCATION_PATH) ?? 0).toBe(before);
    expect(await h.custody.ledger.list({ subjectId: id, action: 'token.upstream_revocation', order: 'asc', limit: 10 })).toHaveLength(1);
  });

  it('writes one job per token in a bulk revocation and drains them all to verified', async () => {
    const ids = [await connect('carol'), await connect('dave'), await connect('erin')];
    const r = await h.app.inject({ method: 'POST', url: '/v1/tokens/revoke', headers: bearer(admin), payload: { ids, reason: 'incident' } });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ revoked: 3, upstreamPending: 3 });
    const jobs = await h.custody.storage.db.selectFrom('outbox_jobs').select('subject_id').where('subject_id', 'in', ids).execute();
    expect(jobs).toHaveLength(3);
    for (const id of ids) expect((await deliver(id)).revocation.upstream).toBe('verified');
    const requested = new Set(await Promise.all(ids.map(async (id) => (await record(id)).revocation.requestedAt)));
    expect(requested.size).toBe(1);
  });

  it('retries a failing revocation endpoint (503 with Retry-After, then a timeout) until it succeeds', async () => {
    const id = await connect('frank');
    const creds = await credentials(id);
    // The refresh and access tokens are revoked at once: each attempt's pair meets one fault.
    forwarder.inject(REVOCATION_PATH, { kind: '503', retryAfter: '1' }, { kind: 'pass' }, { kind: 'hang' }, { kind: 'pass' });
    await h.custody.tokens.transition(h.admin, id, 'revoke', 'x');
    await h.custody.outbox.runOnce();
    const afterFirst = await h.custody.storage.db.selectFrom('outbox_jobs').selectAll().where('subject_id', '=', id).executeTakeFirstOrThrow();
    expect(afterFirst).toMatchObject({ status: 'pending', attempts: 1 });
    expect(afterFirst.last_error).toContain('503');
    // Retry-After: 1 is honoured over the 50 ms backoff.
    expect(Date.parse(afterFirst.next_attempt_at) - Date.parse(afterFirst.updated_at)).toBeGreaterThanOrEqual(1000);
    const t = await deliver(id);
    expect(t.revocation.upstream).toBe('verified');
    const entry = await upstreamEntry(id);
    expect(entry!.data.attempts).toBe(3);
    expect(await activeAtIssuer(creds.refresh)).toBe(false);
  });

  it('gives up after the window with an alert and a failed outcome, and the token stays revoked locally', async () => {
    const id = await connect('grace');
    const impatient = await createCustody(h.config, { logger: createLogger('silent'), storage: h.custody.storage, oauth: { requestTimeoutMs: 300, outbox: { baseDelayMs: 50, maxDelayMs: 100, giveUpAfterMs: 300 } } });
    try {
      forwarder.inject(REVOCATION_PATH, ...Array.from({ length: 50 }, () => ({ kind: '503' as const })));
      await impatient.tokens.transition(h.admin, id, 'revoke', 'x');
      await eventually(
        async () => {
          await impatient.outbox.runOnce();
          return (await record(id)).revocation.upstream === 'failed';
        },
        { what: 'give-up', timeoutMs: 20_000, intervalMs: 25 },
      );
      const t = await record(id);
      expect(t).toMatchObject({ state: 'revoked', revocation: { upstream: 'failed', upstreamConfirmedAt: null } });
      expect((await upstreamEntry(id))!.data.upstream).toBe('failed');
      const alerts = await h.custody.alerts.forSubject(h.custody.storage.db, id);
      expect(alerts).toHaveLength(1);
      expect(alerts[0]).toMatchObject({ kind: 'upstream_revocation_failed', severity: 'critical' });
      const job = await h.custody.storage.db.selectFrom('outbox_jobs').select('status').where('subject_id', '=', id).executeTakeFirstOrThrow();
      expect(job.status).toBe('gave_up');
    } finally {
      forwarder.clear(REVOCATION_PATH);
      await impatient.outbox.stop();
    }
  });

  it('still revokes upstream after the worker is killed with SIGKILL between commit and call', async () => {
    const id = await connect('heidi');
    const creds = await credentials(id);
    // Both credentials' revocations (sent at once) hang.
    forwarder.inject(REVOCATION_PATH, { kind: 'hang' }, { kind: 'hang' });
    const before = forwarder.received.get(REVOCATION_PATH) ?? 0;
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/outbox-child.ts'], {
      cwd: process.cwd(),
      env: {
        ...process.env,
        CUSTODY_DATABASE_URL: h.db.kind === 'sqlite' ? h.db.file! : h.db.url!,
        CUSTODY_KEYRING: h.config.keyring.kind === 'inline' ? h.config.keyring.value : '',
        CHILD_TOKEN_ID: id,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += String(d)));
    child.stderr.on('data', (d) => (out += String(d)));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    await eventually(async () => out.includes('COMMITTED') && (forwarder.received.get(REVOCATION_PATH) ?? 0) > before, { what: 'the child to commit and call', timeoutMs: 30_000, intervalMs: 25 });
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    // Committed locally, never delivered upstream.
    expect((await record(id)).revocation.upstream).toBe('pending');
    expect(await activeAtIssuer(creds.access)).toBe(true);
    // "Restart": a worker here picks the job up once the dead worker's lease runs out.
    const t = await deliver(id);
    expect(t.revocation.upstream).toBe('verified');
    expect(await activeAtIssuer(creds.access)).toBe(false);
    expect(await activeAtIssuer(creds.refresh)).toBe(false);
    expect((await h.custody.ledger.verify()).ok).toBe(true);
  });

  it('says unverifiable when the provider revokes but offers no introspection', async () => {
    const p = await h.custody.providers.create(h.admin, {
      name: `no-introspection-${randomBytes(2).toString('hex')}`,
      tokenEndpoint: `${issuer.issuer}/token`,
      revocationEndpoint: `${issuer.issuer}/token/revocation`,
      development: true,
      clientId: issuer.clientId,
      clientSecret: issuer.clientSecret,
      apiBaseUrls: ['https://api.example.com/'],
    });
    const t = await h.custody.tokens.register(h.admin, { tenantId, providerId: p.id, owner: 'o', scopes: ['s'], accessToken: new (await import('../shared/secret.ts')).Secret('at-unknown-to-issuer') });
    await h.custody.tokens.transition(h.admin, t.id, 'revoke', 'x');
    const r = await deliver(t.id);
    expect(r.revocation).toMatchObject({ upstream: 'unverifiable' });
    expect(r.revocationPath.verified).toBe(false);
    expect((await upstreamEntry(t.id))!.data.upstream).toBe('unverifiable');
  });

  it('records upstream none and writes no job for a provider without a revocation endpoint', async () => {
    const p = await h.custody.providers.create(h.admin, { name: `bare-${randomBytes(2).toString('hex')}`, tokenEndpoint: 'https://issuer.example.com/token', clientId: 'c', apiBaseUrls: ['https://api.example.com/'] });
    const t = await h.custody.tokens.register(h.admin, { tenantId, providerId: p.id, owner: 'o', scopes: ['s'], accessToken: new (await import('../shared/secret.ts')).Secret('at-bare') });
    await h.custody.tokens.transition(h.admin, t.id, 'revoke', 'x');
    const r = await record(t.id);
    expect(r.revocation).toMatchObject({ upstream: 'none' });
    expect(r.revocationPath.upstream).toBe('none');
    expect(await h.custody.storage.db.selectFrom('outbox_jobs').select('id').where('subject_id', '=', t.id).execute()).toHaveLength(0);
  });
});
