import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createCustody, type Custody } from '../app/custody.ts';
import { systemPrincipal } from '../auth/roles.ts';
import { createLogger } from '../shared/logger.ts';
import { Secret } from '../shared/secret.ts';
import { fixedClock } from '../shared/clock.ts';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { bearer, keyFor, startHarness, type Harness } from '../../test/support/harness.ts';
import { startEchoUpstream } from '../../test/support/echo-upstream.ts';
import { connectThroughCustody, startFaultForwarder, startTestIssuer, type TestIssuer } from '../../test/support/oidc.ts';

const PUBLIC_URL = 'http://127.0.0.1:7420';

describeEachDatabase('OAuth consent and refresh against oidc-provider', (kind) => {
  let issuer: TestIssuer;
  let h: Harness;
  let admin: string;
  let tenantA: string;
  let tenantB: string;
  let adminA: string;
  let providerId: string;

  beforeAll(async () => {
    issuer = await startTestIssuer({ redirectUris: [`${PUBLIC_URL}/oauth/callback`] });
    h = await startHarness(kind, { env: { CUSTODY_PUBLIC_URL: PUBLIC_URL }, oauth: { requestTimeoutMs: 3000, refreshRetryBaseMs: 20 } });
    admin = await keyFor(h, 'admin');
    tenantA = (await h.custody.tenants.create(h.admin, { name: `acme-${randomBytes(3).toString('hex')}` })).id;
    tenantB = (await h.custody.tenants.create(h.admin, { name: `globex-${randomBytes(3).toString('hex')}` })).id;
    adminA = await keyFor(h, 'tenant_admin', tenantA);
    const created = await h.app.inject({
      method: 'POST',
      url: '/v1/providers',
      headers: bearer(admin),
      payload: { name: 'test-issuer', issuer: issuer.issuer, development: true, clientId: issuer.clientId, clientSecret: issuer.clientSecret, apiBaseUrls: ['https://api.example.com/'] },
    });
    expect(created.statusCode).toBe(201);
    providerId = created.json().id;
  });
  afterAll(async () => {
    await h?.close();
    await issuer?.close();
  });

  const connect = (account: string, extra: { key?: string; tenantId?: string; deny?: boolean; scope?: string } = {}) =>
    connectThroughCustody(h.app, { key: extra.key ?? adminA, providerId, tenantId: extra.tenantId ?? tenantA, account, publicUrl: PUBLIC_URL, scope: extra.scope ?? 'api:read api:write', ...(extra.deny ? { deny: true } : {}) });
  const getToken = async (id: string) => (await h.app.inject({ url: `/v1/tokens/${id}`, headers: bearer(admin) })).json();
  const ledgerOf = async (subjectId: string) =>
    (await h.custody.ledger.list({ subjectId, order: 'asc', limit: 100 })).map((e) => ({ action: e.action, actor: e.actor, data: e.data }));

  it('discovers the issuer and shows what it supports, with revocation not yet verified', async () => {
    // A provider of its own: the shared one learns rotation from the refresh tests below.
    const created = await h.app.inject({
      method: 'POST',
      url: '/v1/providers',
      headers: bearer(admin),
      payload: { name: `discovered-${randomBytes(2).toString('hex')}`, issuer: issuer.issuer, development: true, clientId: issuer.clientId, clientSecret: issuer.clientSecret, apiBaseUrls: ['https://api.example.com/'] },
    });
    expect(created.statusCode).toBe(201);
    const p = (await h.app.inject({ url: `/v1/providers/${created.json().id}`, headers: bearer(admin) })).json();
    expect(p).toMatchObject({
      issuer: issuer.issuer,
      authorizationEndpoint: `${issuer.issuer}/auth`,
      tokenEndpoint: `${issuer.issuer}/token`,
      revocationEndpoint: `${issuer.issuer}/token/revocation`,
      introspectionEndpoint: `${issuer.issuer}/token/introspection`,
      supports: { pkceS256: true, refreshRotation: null, revocation: true, introspection: true },
      revocation: { supported: true, verified: false, verifiedAt: null },
      hasClientSecret: true,
    });
    expect(p.discoveredAt).not.toBeNull();
  });

  it('lists the consent, callback and refresh routes in /openapi.json', async () => {
    const doc = (await h.app.inject({ url: '/openapi.json' })).json();
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/connect/{providerId}', '/oauth/callback', '/v1/tokens/{id}/refresh']));
  });

  it('refuses a plain-http issuer with 400 validation_failed unless the provider is marked development', async () => {
    const r = await h.app.inject({
      method: 'POST',
      url: '/v1/providers',
      headers: bearer(admin),
      payload: { name: 'insecure', issuer: issuer.issuer, clientId: 'x', apiBaseUrls: ['https://api.example.com/'] },
    });
    expect(r.statusCode).toBe(400);
    expect(r.json().error.code).toBe('validation_failed');
    expect(r.json().error.message).toContain('development');
  });

  it('answers 502 discovery_failed for an issuer that serves no discovery document', async () => {
    const r = await h.app.inject({
      method: 'POST',
      url: '/v1/providers',
      headers: bearer(admin),
      payload: { name: 'nowhere', issuer: 'http://127.0.0.1:9/', development: true, clientId: 'x', apiBaseUrls: ['https://api.example.com/'] },
    });
    expect(r.statusCode).toBe(502);
    expect(r.json().error.code).toBe('discovery_failed');
  });

  it('runs the consent flow and records the consenting account as approver, from the verified ID token', async () => {
    const r = await connect('alice');
    expect(r.status).toBe(200);
    expect(r.tokenId).toMatch(/^tok_/);
    const t = await getToken(r.tokenId!);
    expect(t).toMatchObject({
      tenantId: tenantA,
      providerId,
      subject: 'alice',
      owner: 'team-integrations',
      purpose: 'sync invoices',
      state: 'active',
      hasRefreshToken: true,
      approver: { subject: 'alice', email: 'alice@customer.example', issuer: issuer.issuer, active: true },
    });
    expect(t.grantedScopes).toEqual(expect.arrayContaining(['openid', 'email', 'offline_access', 'api:read', 'api:write']));
    const entries = await ledgerOf(r.tokenId!);
    expect(entries.map((e) => e.action)).toEqual(['token.registered', 'token.approved']);
    // The platform user who started it is named alongside the approver.
    expect(entries[1]!.actor).toMatch(/^apikey:key_/);
    expect(t.approver.startedBy).toBe(entries[1]!.actor);
    expect(entries[1]!.data).toMatchObject({ approver: { subject: 'alice', email: 'alice@customer.example' }, startedBy: entries[1]!.actor, reauthorisation: false });
  });

  it("hides another tenant from a tenant_admin starting a consent: 404 tenant_not_found", async () => {
    const r = await h.app.inject({ url: `/v1/connect/${providerId}?tenantId=${tenantB}&owner=x`, headers: bearer(adminA) });
    expect(r.statusCode).toBe(404);
    expect(r.json().error.code).toBe('tenant_not_found');
  });

  it('ends a consent the customer denies in a clear page and a ledger entry, with no record', async () => {
    const before = (await h.custody.tokens.list(h.admin, { tenantId: tenantA, limit: 1000 })).items.length;
    const r = await connect('mallory', { deny: true });
    expect(r.status).toBe(400);
    expect(r.html).toContain('access_denied');
    expect(r.tokenId).toBeNull();
    expect((await h.custody.tokens.list(h.admin, { tenantId: tenantA, limit: 1000 })).items.length).toBe(before);
    const failed = await h.custody.ledger.list({ action: 'oauth.consent_failed', order: 'desc', limit: 1 });
    expect(failed[0]!.data).toMatchObject({ error: 'access_denied', providerId });
  });

  it('refuses a replayed callback and an unknown or missing state with a 400 page, counted in /metrics and never ledgered', async () => {
    const first = await connect('bob');
    expect(first.status).toBe(200);
    const before = await h.custody.ledger.head();
    const replay = await h.app.inject({ url: first.callbackUrl.slice(PUBLIC_URL.length) });
    expect(replay.statusCode).toBe(400);
    expect(replay.body).toContain('replayed');
    // Anonymous spam: a hundred made-up states and no state at all write nothing permanent.
    for (let i = 0; i < 100; i++) expect((await h.app.inject({ url: `/oauth/callback?code=abc&state=made-up-${i}` })).body).toContain('bad_state');
    expect((await h.app.inject({ url: '/oauth/callback?code=abc' })).body).toContain('missing_state');
    expect(await h.custody.ledger.head()).toEqual(before);
    const metrics = (await h.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/custody_consent_callbacks_refused_total\{reason="bad_state"\} (\d+)/);
    expect(Number(/custody_consent_callbacks_refused_total\{reason="bad_state"\} (\d+)/.exec(metrics)![1])).toBeGreaterThanOrEqual(100);
    expect(metrics).toContain('custody_consent_callbacks_refused_total{reason="replayed"}');
    const bobs = (await h.custody.tokens.list(h.admin, { tenantId: tenantA, q: 'bob', limit: 10 })).items;
    expect(bobs).toHaveLength(1);
  });

  it('refreshes with rotation: a new refresh token stored with the access token, ledgered, rotation learned', async () => {
    const { tokenId } = await connect('carol');
    const before = await h.custody.storage.db.selectFrom('tokens').select(['refresh_fp', 'access_fp']).where('id', '=', tokenId!).executeTakeFirstOrThrow();
    const r = await h.app.inject({ method: 'POST', url: `/v1/tokens/${tokenId}/refresh`, headers: bearer(adminA), payload: {} });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ tokenId, refreshed: true, rotated: true });
    const after = await h.custody.storage.db.selectFrom('tokens').select(['refresh_fp', 'access_fp']).where('id', '=', tokenId!).executeTakeFirstOrThrow();
    expect(after.refresh_fp).not.toBe(before.refresh_fp);
    expect(after.access_fp).not.toBe(before.access_fp);
    expect((await ledgerOf(tokenId!)).map((e) => e.action)).toContain('token.refreshed');
    const p = (await h.app.inject({ url: `/v1/providers/${providerId}`, headers: bearer(admin) })).json();
    expect(p.supports.refreshRotation).toBe(true);
    // The rotated credential still works: a second refresh succeeds.
    const again = await h.app.inject({ method: 'POST', url: `/v1/tokens/${tokenId}/refresh`, headers: bearer(adminA), payload: {} });
    expect(again.statusCode).toBe(200);
  });

  it('narrows scopes on request, and refuses scopes beyond the grant with 403 scope_not_granted', async () => {
    const { tokenId } = await connect('dave');
    const narrowed = await h.app.inject({ method: 'POST', url: `/v1/tokens/${tokenId}/refresh`, headers: bearer(adminA), payload: { scopes: ['openid', 'api:read'] } });
    expect(narrowed.statusCode).toBe(200);
    const entry = (await ledgerOf(tokenId!)).find((e) => e.action === 'token.refreshed');
    expect(entry!.data.narrowedTo).toEqual(['openid', 'api:read']);
    expect((await getToken(tokenId!)).grantedScopes).toContain('api:write');
    const beyond = await h.app.inject({ method: 'POST', url: `/v1/tokens/${tokenId}/refresh`, headers: bearer(adminA), payload: { scopes: ['admin:all'] } });
    expect(beyond.statusCode).toBe(403);
    expect(beyond.json().error.code).toBe('scope_not_granted');
  });

  it('shares one refresh among 20 concurrent callers of an expiring token (counted at the issuer)', async () => {
    const { tokenId } = await connect('erin');
    await h.custody.storage.db.updateTable('tokens').set({ access_expires_at: new Date(Date.now() + 5_000).toISOString() }).where('id', '=', tokenId!).execute();
    const countBefore = issuer.counts.refresh;
    const secrets = await Promise.all(Array.from({ length: 20 }, () => h.custody.refresh.accessToken(tokenId!)));
    expect(issuer.counts.refresh - countBefore).toBe(1);
    expect(new Set(secrets.map((s) => s.reveal())).size).toBe(1);
    expect((await ledgerOf(tokenId!)).filter((e) => e.action === 'token.refreshed')).toHaveLength(1);
  });

  it('refreshes once for 20 concurrent gateway calls of an expiring token, and forwards the new access token', async () => {
    const echo = await startEchoUpstream();
    try {
      const p = await h.app.inject({
        method: 'POST',
        url: '/v1/providers',
        headers: bearer(admin),
        payload: { name: `gw-${randomBytes(2).toString('hex')}`, issuer: issuer.issuer, development: true, clientId: issuer.clientId, clientSecret: issuer.clientSecret, apiBaseUrls: [echo.origin], allowPrivateNetwork: true, unmappedCalls: 'allow' },
      });
      expect(p.statusCode).toBe(201);
      const { tokenId } = await connectThroughCustody(h.app, { key: adminA, providerId: p.json().id, tenantId: tenantA, account: 'gwen', publicUrl: PUBLIC_URL });
      const patched = await h.app.inject({ method: 'PATCH', url: `/v1/tokens/${tokenId}`, headers: bearer(adminA), payload: { workloads: ['billing-sync'] } });
      expect(patched.statusCode).toBe(200);
      await h.custody.storage.db.updateTable('tokens').set({ access_expires_at: new Date(Date.now() + 5_000).toISOString() }).where('id', '=', tokenId!).execute();
      const workload = await keyFor(h, 'workload', tenantA, 'billing-sync');
      const countBefore = issuer.counts.refresh;
      const responses = await Promise.all(Array.from({ length: 20 }, () => h.app.inject({ url: `/gw/${tokenId}/items`, headers: bearer(workload) })));
      expect(responses.map((r) => r.statusCode)).toEqual(Array(20).fill(200));
      expect(issuer.counts.refresh - countBefore).toBe(1);
      const row = await h.custody.storage.db.selectFrom('tokens').select(['access_token_enc', 'tenant_id']).where('id', '=', tokenId!).executeTakeFirstOrThrow();
      const key = await h.custody.vault.loadDataKey(h.custody.storage.db, row.tenant_id, tokenId!);
      const current = h.custody.vault.decrypt(key, 'access_token', row.access_token_enc).reveal();
      expect(new Set(echo.received.map((r) => r.headers.authorization))).toEqual(new Set([`Bearer ${current}`]));
    } finally {
      await echo.close();
    }
  });

  it('renews a suspended token in place when the same customer consents again (reauthorisation)', async () => {
    const { tokenId } = await connect('frank');
    const suspended = await h.app.inject({ method: 'POST', url: `/v1/tokens/${tokenId}/suspend`, headers: bearer(adminA), payload: { reason: 'dormant' } });
    expect(suspended.json().state).toBe('suspended');
    const fpBefore = (await h.custody.storage.db.selectFrom('tokens').select('access_fp').where('id', '=', tokenId!).executeTakeFirstOrThrow()).access_fp;
    const again = await connect('frank');
    expect(again.status).toBe(200);
    expect(again.tokenId).toBe(tokenId);
    expect(again.html).toContain('renewed');
    const t = await getToken(tokenId!);
    expect(t.state).toBe('active');
    expect(t.approver.subject).toBe('frank');
    const fpAfter = (await h.custody.storage.db.selectFrom('tokens').select('access_fp').where('id', '=', tokenId!).executeTakeFirstOrThrow()).access_fp;
    expect(fpAfter).not.toBe(fpBefore);
    const actions = (await ledgerOf(tokenId!)).map((e) => e.action);
    expect(actions.slice(-2)).toEqual(['token.reauthorised', 'token.approved']);
  });

  it('links a new consent after revocation to its predecessor', async () => {
    const { tokenId } = await connect('grace');
    await h.custody.tokens.transition(h.admin, tokenId!, 'revoke', 'offboarded');
    const next = await connect('grace');
    expect(next.tokenId).not.toBe(tokenId);
    expect((await getToken(next.tokenId!)).predecessorId).toBe(tokenId);
  });

  it('makes a token the customer revoked at the issuer revoked by actor issuer on the next refresh, with an alert', async () => {
    const { tokenId } = await connect('heidi');
    // The customer revokes the grant at the issuer (as their admin console would).
    const row = await h.custody.storage.db.selectFrom('tokens').select(['refresh_token_enc', 'tenant_id']).where('id', '=', tokenId!).executeTakeFirstOrThrow();
    const key = await h.custody.vault.loadDataKey(h.custody.storage.db, row.tenant_id, tokenId!);
    const refreshToken = h.custody.vault.decrypt(key, 'refresh_token', row.refresh_token_enc!).reveal();
    const revoked = await fetch(`${issuer.issuer}/token/revocation`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${issuer.clientId}:${issuer.clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ token: refreshToken, token_type_hint: 'refresh_token' }),
    });
    expect(revoked.status).toBe(200);
    const r = await h.app.inject({ method: 'POST', url: `/v1/tokens/${tokenId}/refresh`, headers: bearer(adminA), payload: {} });
    expect(r.statusCode).toBe(409);
    expect(r.json().error.code).toBe('refresh_refused');
    const t = await getToken(tokenId!);
    expect(t).toMatchObject({ state: 'revoked', stateActor: 'issuer' });
    expect((await ledgerOf(tokenId!)).find((e) => e.action === 'token.revoked')!.actor).toBe('issuer');
    const alerts = await h.custody.alerts.forSubject(h.custody.storage.db, tokenId!);
    expect(alerts.map((a) => a.kind)).toEqual(['revoked_at_issuer']);
  });

  it('never writes a credential (or the authorization code) into the ledger, the flows table, a response or the log', async () => {
    const { tokenId, callbackUrl } = await connect('ivan');
    const code = new URL(callbackUrl).searchParams.get('code')!;
    expect(code.length).toBeGreaterThan(10);
    expect(h.logs.join('')).not.toContain(code);
    const row = await h.custody.storage.db.selectFrom('tokens').select(['access_token_enc', 'tenant_id']).where('id', '=', tokenId!).executeTakeFirstOrThrow();
    const key = await h.custody.vault.loadDataKey(h.custody.storage.db, row.tenant_id, tokenId!);
    const access = h.custody.vault.decrypt(key, 'access_token', row.access_token_enc).reveal();
    const ledgerText = JSON.stringify(await h.custody.ledger.list({ order: 'asc', limit: 10_000 }));
    const flowsText = JSON.stringify(await h.custody.storage.db.selectFrom('oauth_flows').selectAll().execute());
    const response = (await h.app.inject({ url: `/v1/tokens/${tokenId}`, headers: bearer(admin) })).body;
    for (const text of [ledgerText, flowsText, response, h.logs.join('')]) expect(text).not.toContain(access);
  });

  it('retries a refresh through transient issuer failures, and answers 502 refresh_failed when they persist', async () => {
    const forwarder = await startFaultForwarder(issuer.issuer);
    try {
      const p = await h.app.inject({
        method: 'POST',
        url: '/v1/providers',
        headers: bearer(admin),
        payload: { name: `flaky-${randomBytes(2).toString('hex')}`, issuer: issuer.issuer, tokenEndpoint: `${forwarder.url}/token`, development: true, clientId: issuer.clientId, clientSecret: issuer.clientSecret, apiBaseUrls: ['https://api.example.com/'] },
      });
      expect(p.statusCode).toBe(201);
      const { tokenId } = await connectThroughCustody(h.app, { key: adminA, providerId: p.json().id, tenantId: tenantA, account: 'kim', publicUrl: PUBLIC_URL });
      forwarder.inject('/token', { kind: '503', retryAfter: '0' }, { kind: '503' });
      const r = await h.app.inject({ method: 'POST', url: `/v1/tokens/${tokenId}/refresh`, headers: bearer(adminA), payload: {} });
      expect(r.statusCode).toBe(200);
      expect(r.json()).toMatchObject({ refreshed: true, rotated: true });
      forwarder.inject('/token', { kind: '503' }, { kind: '503' }, { kind: '503' });
      const failed = await h.app.inject({ method: 'POST', url: `/v1/tokens/${tokenId}/refresh`, headers: bearer(adminA), payload: {} });
      expect(failed.statusCode).toBe(502);
      expect(failed.json().error.code).toBe('refresh_failed');
      expect((await getToken(tokenId!)).state).toBe('active');
    } finally {
      await forwarder.close();
    }
  });

  it('refreshes many different tokens at once without exhausting the connection pool', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push((await connect(`pool${i}`)).tokenId!);
    const results = await Promise.all(ids.map((id) => h.custody.refresh.refresh(id)));
    expect(results.every((r) => r.refreshed)).toBe(true);
  });

  if (kind === 'postgres') {
    it('refreshes once across two processes sharing the database (advisory lock), 10 callers each', async () => {
      const { tokenId } = await connect('judy');
      const other: Custody = await createCustody(h.config, { logger: createLogger('silent'), oauth: { requestTimeoutMs: 3000 } });
      try {
        await h.custody.storage.db.updateTable('tokens').set({ access_expires_at: new Date(Date.now() + 5_000).toISOString() }).where('id', '=', tokenId!).execute();
        const countBefore = issuer.counts.refresh;
        await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? other : h.custody).refresh.accessToken(tokenId!)));
        expect(issuer.counts.refresh - countBefore).toBe(1);
      } finally {
        await other.close();
      }
    });
  }
});

describeEachDatabase('expiry sweep', (kind) => {
  it('expires tokens whose refresh token expired, or with no refresh token whose access token expired, and no others', async () => {
    const clock = fixedClock('2026-11-28T08:00:00Z');
    const h = await startHarness(kind, { clock });
    try {
      const tenantId = (await h.custody.tenants.create(h.admin, { name: 'sweep' })).id;
      const providerId = (await h.custody.providers.create(h.admin, { name: 'p', tokenEndpoint: 'https://issuer.example.com/token', clientId: 'c', apiBaseUrls: ['https://api.example.com/'] })).id;
      const reg = (extra: Record<string, unknown>) =>
        h.custody.tokens.register(systemPrincipal('t'), { tenantId, providerId, owner: 'o', scopes: ['s'], accessToken: new Secret(`at-${randomBytes(4).toString('hex')}`), ...extra }).then((t) => t.id);
      const refreshExpired = await reg({ refreshToken: new Secret('rt1'), refreshExpiresAt: '2026-11-28T08:30:00Z', accessExpiresAt: '2026-11-28T08:05:00Z' });
      const accessOnlyExpired = await reg({ accessExpiresAt: '2026-11-28T08:10:00Z' });
      const refreshLive = await reg({ refreshToken: new Secret('rt2'), accessExpiresAt: '2026-11-28T08:05:00Z' });
      const accessOnlyLive = await reg({ accessExpiresAt: '2026-11-29T08:00:00Z' });
      expect(await h.custody.tokens.expireDue()).toBe(0);
      clock.set('2026-11-28T09:00:00Z');
      expect(await h.custody.tokens.expireDue()).toBe(2);
      const state = async (id: string) => (await h.custody.tokens.get(h.admin, id)).state;
      expect(await state(refreshExpired)).toBe('expired');
      expect(await state(accessOnlyExpired)).toBe('expired');
      expect(await state(refreshLive)).toBe('active');
      expect(await state(accessOnlyLive)).toBe('active');
      const entry = (await h.custody.ledger.list({ subjectId: refreshExpired, order: 'desc', limit: 1 }))[0]!;
      expect(entry).toMatchObject({ action: 'token.expired', actor: 'system:expiry-sweep' });
    } finally {
      await h.close();
    }
  });
});
