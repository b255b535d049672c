import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../shared/clock.ts';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { startEchoUpstream, type EchoUpstream } from '../../test/support/echo-upstream.ts';
import { bearer, keyFor, startHarness, type Harness } from '../../test/support/harness.ts';
import { browserCookie, connectThroughCustody, consent, startTestIssuer, type TestIssuer } from '../../test/support/oidc.ts';
import { excessScopes, selectConsentScopes } from './scope-minimisation.rules.ts';

const PUBLIC_URL = 'http://127.0.0.1:7420';
const MINUTE = 60_000;

describe('consent scope selection (pure)', () => {
  it('keeps Custody’s own scopes, drops API scopes the policy does not allow, and forbidden ones (never openid)', () => {
    expect(selectConsentScopes(['api:read', 'api:write'], { allowed: ['api:read'], forbidden: [] })).toEqual({
      scopes: ['openid', 'email', 'offline_access', 'api:read'],
      dropped: { notAllowed: ['api:write'], forbidden: [] },
    });
    expect(selectConsentScopes(['api:read', 'api:write'], { allowed: null, forbidden: ['api:write', 'offline_access', 'openid'] })).toEqual({
      scopes: ['openid', 'email', 'api:read'],
      dropped: { notAllowed: [], forbidden: ['offline_access', 'api:write'] },
    });
    expect(selectConsentScopes([], { allowed: [], forbidden: [] }).scopes).toEqual(['openid', 'email', 'offline_access']);
  });

  it('names what an issuer granted beyond what was asked', () => {
    expect(excessScopes(['openid', 'api:read'], ['openid', 'api:read', 'api:write', 'admin'])).toEqual(['api:write', 'admin']);
    expect(excessScopes(['openid', 'api:read'], ['openid'])).toEqual([]);
  });
});

describeEachDatabase('scope minimisation, narrowing and short-lived access against oidc-provider', (kind) => {
  let issuer: TestIssuer;
  let echo: EchoUpstream;
  let h: Harness;
  let admin: string;
  let providerId: string;
  let gatewayUrl: string;
  /** What the issuer claims to grant beyond what it was asked (see startTestIssuer). */
  let overGrant: string[] = [];
  const clock = fixedClock('2026-11-28T08:00:00Z');

  beforeAll(async () => {
    issuer = await startTestIssuer({ redirectUris: [`${PUBLIC_URL}/oauth/callback`], claimExtraScopes: () => overGrant });
    echo = await startEchoUpstream();
    h = await startHarness(kind, { clock, env: { CUSTODY_PUBLIC_URL: PUBLIC_URL }, oauth: { requestTimeoutMs: 3000, refreshRetryBaseMs: 20 } });
    // Gateway calls go over a real connection (as workloads make them): usage is recorded when the response has been delivered.
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    gatewayUrl = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
    admin = await keyFor(h, 'admin');
    const created = await h.app.inject({
      method: 'POST',
      url: '/v1/providers',
      headers: bearer(admin),
      payload: {
        name: `scoped-${randomBytes(2).toString('hex')}`,
        issuer: issuer.issuer,
        development: true,
        clientId: issuer.clientId,
        clientSecret: issuer.clientSecret,
        apiBaseUrls: [echo.origin],
        allowPrivateNetwork: true,
        scopeRules: [
          { method: 'GET', pathPattern: '/items/**', scope: 'api:read' },
          { method: 'POST', pathPattern: '/items', scope: 'api:write' },
        ],
        scopeCatalogue: [
          { name: 'api:read', sensitivity: 'read', description: 'Read items' },
          { name: 'api:write', sensitivity: 'write' },
        ],
      },
    });
    expect(created.statusCode).toBe(201);
    providerId = created.json().id;
  });
  afterAll(async () => {
    await h?.close();
    await echo?.close();
    await issuer?.close();
  });

  /** A tenant of its own (each test sets its own policy), its administrator and a workload key. */
  async function tenantWith(policy: Record<string, unknown>) {
    const tenantId = (await h.custody.tenants.create(h.admin, { name: `t-${randomBytes(4).toString('hex')}` })).id;
    const put = await h.app.inject({ method: 'PUT', url: `/v1/tenants/${tenantId}/policy`, headers: bearer(admin), payload: policy });
    expect(put.statusCode, put.body).toBe(200);
    // The gateway reads the latest loaded policies without waiting: let the reload after the change land.
    await h.custody.policy.snapshot();
    return { tenantId, tenantAdmin: await keyFor(h, 'tenant_admin', tenantId), workload: await keyFor(h, 'workload', tenantId, 'billing-sync') };
  }
  async function consented(tenantId: string, tenantAdmin: string, scope = 'api:read api:write') {
    const r = await connectThroughCustody(h.app, { key: tenantAdmin, providerId, tenantId, account: `acct-${randomBytes(3).toString('hex')}`, publicUrl: PUBLIC_URL, scope });
    expect(r.status, r.html).toBe(200);
    await h.custody.tokens.patch(h.admin, r.tokenId!, { workloads: ['billing-sync'] });
    return r.tokenId!;
  }
  const record = async (id: string) => (await h.app.inject({ url: `/v1/tokens/${id}`, headers: bearer(admin) })).json();
  const findingOf = async (tokenId: string, type: string) => {
    await h.custody.findings.settled();
    return (await h.custody.findingQueries.list(h.admin, { tokenId, type: type as never, limit: 1 })).items[0];
  };
  async function call(workload: string, id: string, method: 'GET' | 'POST', path: string) {
    const r = await fetch(`${gatewayUrl}/gw/${id}${path}`, { method, headers: { ...bearer(workload), ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) }, ...(method === 'POST' ? { body: '{}' } : {}) });
    const text = await r.text();
    return { statusCode: r.status, json: () => JSON.parse(text) };
  }
  async function introspect(token: string): Promise<{ active: boolean; scope?: string }> {
    const r = await fetch(`${issuer.issuer}/token/introspection`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${issuer.clientId}:${issuer.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    });
    return (await r.json()) as { active: boolean; scope?: string };
  }

  it('shows the provider’s scope catalogue, and refuses a consent for a scope it does not declare with 400 validation_failed', async () => {
    const p = (await h.app.inject({ url: `/v1/providers/${providerId}`, headers: bearer(admin) })).json();
    expect(p.scopeCatalogue).toEqual([
      { name: 'api:read', sensitivity: 'read', description: 'Read items' },
      { name: 'api:write', sensitivity: 'write' },
    ]);
    const { tenantId, tenantAdmin } = await tenantWith({});
    const r = await h.app.inject({ url: `/v1/connect/${providerId}?tenantId=${tenantId}&owner=o&scope=api:read%20api:admin`, headers: bearer(tenantAdmin) });
    expect(r.statusCode).toBe(400);
    expect(r.json().error).toMatchObject({ code: 'validation_failed' });
    expect(r.json().error.message).toContain('"api:admin"');
    // A catalogue naming a scope twice is refused, with the entry named.
    const twice = await h.app.inject({ method: 'PATCH', url: `/v1/providers/${providerId}`, headers: bearer(admin), payload: { scopeCatalogue: [{ name: 'api:read', sensitivity: 'read' }, { name: 'api:read', sensitivity: 'admin' }] } });
    expect(twice.statusCode).toBe(400);
    expect(twice.json().error.details).toEqual([expect.objectContaining({ path: 'body/scopeCatalogue/1/name' })]);
  });

  it('refuses a new consent for scopes the policy does not allow, and minimises a reauthorisation to the allowed ones, naming what it dropped', async () => {
    const { tenantId, tenantAdmin } = await tenantWith({});
    const account = `acct-${randomBytes(3).toString('hex')}`;
    const r = await connectThroughCustody(h.app, { key: tenantAdmin, providerId, tenantId, account, publicUrl: PUBLIC_URL, scope: 'api:read api:write' });
    const id = r.tokenId!;
    expect((await record(id)).grantedScopes).toContain('api:write');
    await tenantPolicy(tenantId, { allowedScopes: { [providerId]: ['api:read'] } });
    // A new connection asking for it: refused, naming the scope and why.
    const refused = await h.app.inject({ url: `/v1/connect/${providerId}?tenantId=${tenantId}&owner=o&scope=api:read%20api:write`, headers: bearer(tenantAdmin) });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error.message).toContain('"api:write" (not in the tenant’s allowedScopes for this provider)');
    // The token's reauthorisation asks only for what is allowed; its preview says so.
    const link = (await h.app.inject({ method: 'POST', url: `/v1/tokens/${id}/reauthorization`, headers: bearer(tenantAdmin), payload: {} })).json();
    const preview = await h.app.inject({ url: link.url.slice(PUBLIC_URL.length) });
    expect(preview.body).toContain('<code>openid email offline_access api:read</code>');
    expect(preview.body).toContain(`renews an existing connection (${id})`);
    const opened = await h.app.inject({ method: 'POST', url: link.url.slice(PUBLIC_URL.length), headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '' });
    const back = await consent(String(opened.headers.location), account, `${PUBLIC_URL}/oauth/callback`);
    const done = await h.app.inject({ url: back.slice(PUBLIC_URL.length), headers: { cookie: browserCookie(opened.headers['set-cookie']) } });
    expect(done.statusCode, done.body).toBe(200);
    const t = await record(id);
    expect(t.grantedScopes).toContain('api:read');
    expect(t.grantedScopes).not.toContain('api:write');
    expect(t.effectiveScopes).toEqual(t.grantedScopes);
    expect(t.excessScopes).toEqual([]);
    const started = (await h.custody.ledger.list({ action: 'oauth.consent_started', tenantId, order: 'desc', limit: 1 }))[0]!;
    expect(started.data.scopes).toEqual(['openid', 'email', 'offline_access', 'api:read']);
    expect(started.data.droppedScopes).toEqual({ notAllowed: ['api:write'], forbidden: [] });
    expect(await findingOf(id, 'excess_grant')).toBeUndefined();
  });

  it('raises excess_grant naming the scopes an issuer granted beyond what was asked', async () => {
    const { tenantId, tenantAdmin } = await tenantWith({ allowedScopes: { [providerId]: ['api:read'] } });
    overGrant = ['api:write'];
    let id: string;
    try {
      id = await consented(tenantId, tenantAdmin, 'api:read');
    } finally {
      overGrant = [];
    }
    const t = await record(id);
    expect(t.grantedScopes).toContain('api:write');
    expect(t.excessScopes).toEqual(['api:write']);
    const f = await findingOf(id, 'excess_grant');
    expect(f).toMatchObject({ type: 'excess_grant', severity: 'medium', status: 'open' });
    expect(f!.mappings.owaspNhi.map((m: { id: string }) => m.id)).toEqual(['NHI5', 'NHI3']);
    expect(f!.reasons[0]).toMatchObject({ code: 'excess_grant', data: { scopes: ['api:write'] } });
    expect(f!.reasons[0]!.message).toContain('api:write');
  });

  it('narrows a refresh to the scopes used recently: the issuer is asked for them, the new access token holds them, granted stays, and a call needing a dropped scope answers scope_narrowed with a finding', async () => {
    const { tenantId, tenantAdmin, workload } = await tenantWith({ narrowScopesOnRefresh: true });
    const id = await consented(tenantId, tenantAdmin, 'api:read api:write');
    // Held for longer than the usage window (narrowing judges use over a whole window).
    const longAgo = new Date(clock.now().getTime() - 40 * 86_400_000).toISOString();
    await h.custody.storage.db.updateTable('tokens').set({ approved_at: longAgo, issued_at: longAgo }).where('id', '=', id).execute();
    const granted: string[] = (await record(id)).grantedScopes;
    expect(granted).toEqual(expect.arrayContaining(['openid', 'email', 'offline_access', 'api:read', 'api:write']));
    // Used recently: api:read only.
    expect((await call(workload, id, 'GET', '/items/1')).statusCode).toBe(200);
    // Usage is recorded when the response closes and written in batches: wait until it is stored.
    for (let i = 0; i < 100 && !(await h.custody.tokens.refreshView(id)).scopeLastUsed['api:read']; i++) {
      await h.custody.gateway.flushUsage();
      await new Promise((r) => setTimeout(r, 20));
    }

    const refreshed = await h.app.inject({ method: 'POST', url: `/v1/tokens/${id}/refresh`, headers: bearer(tenantAdmin), payload: {} });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    // What the issuer received, and what the new access token holds there.
    expect(issuer.refreshScopes.at(-1)?.split(' ').sort()).toEqual(['api:read', 'offline_access', 'openid']);
    const access = (await h.custody.tokens.revealAccessToken(id)).reveal();
    const seen = await introspect(access);
    expect(seen.active).toBe(true);
    expect(seen.scope?.split(' ').sort()).toEqual(['api:read', 'offline_access', 'openid']);
    // The record: granted as the customer approved it, effective as the live token holds.
    const t = await record(id);
    expect(t.grantedScopes).toEqual(granted);
    expect([...t.effectiveScopes].sort()).toEqual(['api:read', 'offline_access', 'openid']);
    const entry = (await h.custody.ledger.list({ subjectId: id, action: 'token.refreshed', order: 'desc', limit: 1 }))[0]!;
    expect(entry.data).toMatchObject({ narrowedBy: 'policy', dropped: expect.arrayContaining(['api:write', 'email']) });

    // A call needing the dropped scope: refused, and the token records that it was wanted.
    const refused = await call(workload, id, 'POST', '/items');
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.code).toBe('scope_narrowed');
    expect(refused.json().error.message).toContain(`/v1/tokens/${id}/reauthorization`);
    const before = echo.received.length;
    // After narrowing the gateway attaches the new access token.
    expect((await call(workload, id, 'GET', '/items/2')).statusCode).toBe(200);
    expect(echo.received.slice(before).map((r) => r.headers.authorization)).toEqual([`Bearer ${access}`]);
    for (let i = 0; i < 50 && (await h.custody.tokens.facts.byIds(h.custody.storage.db, [id]))[0]!.wantedScopes.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await h.custody.tokens.facts.byIds(h.custody.storage.db, [id]))[0]!.wantedScopes).toEqual(['api:write']);
    const f = await findingOf(id, 'scope_narrowed');
    expect(f).toMatchObject({ status: 'open', severity: 'low' });
    expect(f!.reasons[0]).toMatchObject({ code: 'scope_narrowed', data: { scopes: ['api:write'] } });
    expect(f!.reasons[0]!.message).toContain(`POST /v1/tokens/${id}/reauthorization`);
    // Refused again: written once (one ledger entry), not per call.
    expect((await call(workload, id, 'POST', '/items')).json().error.code).toBe('scope_narrowed');
    await new Promise((r) => setTimeout(r, 50));
    expect(await h.custody.ledger.list({ subjectId: id, action: 'token.scope_wanted', order: 'asc', limit: 10 })).toHaveLength(1);

    // A refresh without narrowing gives the live token the whole grant again: the finding resolves.
    await tenantPolicy(tenantId, { narrowScopesOnRefresh: false });
    expect((await h.app.inject({ method: 'POST', url: `/v1/tokens/${id}/refresh`, headers: bearer(tenantAdmin), payload: {} })).statusCode).toBe(200);
    expect(issuer.refreshScopes.at(-1)).toBeUndefined();
    expect([...(await record(id)).effectiveScopes].sort()).toEqual([...granted].sort());
    await h.custody.findings.settled();
    expect((await h.custody.findingQueries.get(h.admin, f!.id)).status).toBe('resolved');
    expect((await call(workload, id, 'POST', '/items')).statusCode).toBe(200);
  });

  it('refreshes through the gateway once the access token is older than maxAccessTokenTtlMinutes, though the issuer’s token lives longer', async () => {
    const { tenantId, tenantAdmin, workload } = await tenantWith({ maxAccessTokenTtlMinutes: 30 });
    const id = await consented(tenantId, tenantAdmin, 'api:read');
    const first = (await h.custody.tokens.revealAccessToken(id)).reveal();
    const issuedAt = clock.now().getTime();
    const refreshes = issuer.counts.refresh;
    const bearerSent = async () => {
      const before = echo.received.length;
      expect((await call(workload, id, 'GET', '/items/1')).statusCode).toBe(200);
      return echo.received.slice(before).map((r) => r.headers.authorization);
    };
    try {
      // 20 minutes old: still within the policy, and the issuer's token (an hour) is far from expiry.
      clock.set(new Date(issuedAt + 20 * MINUTE));
      expect(await bearerSent()).toEqual([`Bearer ${first}`]);
      expect(issuer.counts.refresh).toBe(refreshes);
      // 29.5 minutes old: refreshed before it reaches 30, once for concurrent callers.
      clock.set(new Date(issuedAt + 29.5 * MINUTE));
      const concurrent = await Promise.all(Array.from({ length: 5 }, () => call(workload, id, 'GET', '/items/2')));
      expect(concurrent.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200]);
      expect(issuer.counts.refresh).toBe(refreshes + 1);
      const second = (await h.custody.tokens.revealAccessToken(id)).reveal();
      expect(second).not.toBe(first);
      expect(await bearerSent()).toEqual([`Bearer ${second}`]);
      const t = await record(id);
      expect(Date.parse(t.accessExpiresAt)).toBe(issuedAt + 29.5 * MINUTE + 3600_000);
      expect(issuer.counts.refresh).toBe(refreshes + 1);
    } finally {
      clock.set(new Date(issuedAt));
    }
  });

  async function tenantPolicy(tenantId: string, policy: Record<string, unknown>) {
    const put = await h.app.inject({ method: 'PUT', url: `/v1/tenants/${tenantId}/policy`, headers: bearer(admin), payload: policy });
    expect(put.statusCode, put.body).toBe(200);
    await h.custody.policy.snapshot();
  }
});
