import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase, describePostgres } from '../../test/support/databases.ts';
import { startGatewayFixture, type GatewayFixture } from '../../test/support/gateway-fixture.ts';
import { bearer, keyFor, startHarness, type Harness } from '../../test/support/harness.ts';
import { eventually } from '../../test/support/wait.ts';

/**
 * PATCH /v1/providers/{id}: what the gateway allows (scope rules, unmapped calls, private
 * networks, API base URLs) changes on the next call, every change is ledgered with its old and
 * new value, and a bad change is refused naming each problem.
 */
describeEachDatabase('changing a provider', (kind) => {
  let f: GatewayFixture;
  const patch = (id: string, payload: unknown, key = f.adminKey) => f.h.app.inject({ method: 'PATCH', url: `/v1/providers/${id}`, headers: bearer(key), payload: payload as object });

  beforeAll(async () => {
    f = await startGatewayFixture(kind, { env: { CUSTODY_GATEWAY_RECHECK_MS: '60000' } });
  });
  afterAll(() => f?.close());

  it('lets a loopback API in only once allowPrivateNetwork is set, and the refusal says which flag allows it', async () => {
    const providerId = await f.createProvider({ allowPrivateNetwork: false });
    const token = await f.createToken(providerId);
    const refused = await f.call(token, '/invoices/1');
    expect(refused.status).toBe(403);
    expect(refused.json().error).toMatchObject({ code: 'target_not_allowed' });
    expect(refused.json().error.message).toContain('allowPrivateNetwork');
    expect(refused.json().error.message).toContain(`custody providers update ${providerId} --allow-private-network`);

    const r = await patch(providerId, { allowPrivateNetwork: true });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ id: providerId, allowPrivateNetwork: true });
    expect((await f.call(token, '/invoices/1')).status).toBe(200);
  });

  it('applies new scope rules and the unmapped-call policy on the next call', async () => {
    const providerId = await f.createProvider({});
    const token = await f.createToken(providerId, { scopes: ['invoices.read', 'reports.read'] });
    expect((await f.call(token, '/reports/7')).json().error.code).toBe('unmapped_call_refused');

    await patch(providerId, { unmappedCalls: 'allow' });
    expect((await f.call(token, '/reports/7')).status).toBe(200);

    await patch(providerId, { unmappedCalls: 'deny', scopeRules: [{ method: 'GET', pathPattern: '/reports/**', scope: 'reports.read' }] });
    expect((await f.call(token, '/reports/7')).status).toBe(200);
    // The old rules are gone: /invoices is unmapped now.
    expect((await f.call(token, '/invoices/1')).json().error.code).toBe('unmapped_call_refused');
  });

  it('ledgers each change with its old and new value, a new client secret only as replaced, and answers without secrets', async () => {
    const providerId = await f.createProvider({ revocationEndpoint: 'https://issuer.example.com/revoke' });
    await f.h.custody.storage.db.updateTable('providers').set({ revocation_verified_at: '2026-11-01T00:00:00.000Z' }).where('id', '=', providerId).execute();
    const r = await patch(providerId, { name: `renamed-${providerId}`, revocationEndpoint: 'https://issuer.example.com/revoke2', clientSecret: 'brand-new-secret-value' });
    expect(r.statusCode).toBe(200);
    expect(r.body).not.toContain('brand-new-secret-value');
    // A new revocation endpoint has not been shown to work yet.
    expect(r.json()).toMatchObject({ revocationEndpoint: 'https://issuer.example.com/revoke2', hasClientSecret: true, revocation: { supported: true, verified: false, verifiedAt: null } });
    const [entry] = await f.h.custody.ledger.list({ subjectId: providerId, action: 'provider.updated', order: 'desc', limit: 1 });
    expect(entry!.data).toEqual({
      changes: {
        name: { from: expect.any(String), to: `renamed-${providerId}` },
        revocationEndpoint: { from: 'https://issuer.example.com/revoke', to: 'https://issuer.example.com/revoke2' },
        revocationVerified: { from: true, to: false },
        clientSecret: { from: 'none', to: 'replaced' },
      },
    });
    expect(JSON.stringify(entry)).not.toContain('brand-new-secret-value');
    expect((await f.h.custody.providers.clientSecret(providerId))!.reveal()).toBe('brand-new-secret-value');
  });

  it('changes nothing, and ledgers nothing, for values that are already so', async () => {
    const providerId = await f.createProvider({});
    // About this provider (the ledger's head may move meanwhile: earlier tests' background work, e.g. an upstream revocation finishing).
    const entries = async () => (await f.h.custody.ledger.list({ subjectId: providerId, order: 'desc', limit: 100 })).map((e) => e.seq);
    const before = await entries();
    expect((await patch(providerId, { unmappedCalls: 'deny', allowPrivateNetwork: true })).statusCode).toBe(200);
    expect(await entries()).toEqual(before);
  });

  it('refuses a bad change naming every problem, an empty one, a non-admin, an unknown provider and a taken name', async () => {
    const providerId = await f.createProvider({ development: false, allowPrivateNetwork: false, apiBaseUrls: ['https://api.example.com/v1'] });
    const bad = await patch(providerId, { apiBaseUrls: ['http://api.example.com'], tokenEndpoint: 'ftp://x', scopeRules: [{ method: 'FETCH', pathPattern: 'no-slash', scope: 's' }] });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('validation_failed');
    expect(bad.json().error.message).toContain('must be one of *, GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
    const urls = await patch(providerId, { apiBaseUrls: ['http://api.example.com'], tokenEndpoint: 'ftp://x' });
    expect(urls.json().error.details.map((d: { path: string }) => d.path)).toEqual(['body/tokenEndpoint', 'body/apiBaseUrls/0']);
    const leaky = await patch(providerId, { tokenEndpoint: 'https://as.example.com/token?client_secret=hunter2' });
    expect(leaky.json().error.details).toEqual([{ path: 'body/tokenEndpoint', message: expect.stringContaining('must not carry a credential in its query string (client_secret)') }]);
    expect(JSON.stringify(await f.h.custody.ledger.list({ subjectId: providerId, order: 'desc', limit: 10 }))).not.toContain('hunter2');
    expect((await patch(providerId, {})).json().error).toMatchObject({ code: 'validation_failed', message: expect.stringContaining('at least one field') });
    expect((await patch(providerId, { unmappedCalls: 'maybe' })).json().error.message).toContain('must be one of allow, deny');
    const security = await keyFor(f.h, 'security');
    expect((await patch(providerId, { unmappedCalls: 'allow' }, security)).json().error.code).toBe('forbidden');
    expect((await patch('prv_01J00000000000000000000000', { unmappedCalls: 'allow' })).statusCode).toBe(404);
    const other = await f.createProvider({});
    const taken = (await f.h.custody.providers.get(other)).name;
    expect((await patch(providerId, { name: taken })).json().error.code).toBe('provider_exists');
  });
});

describePostgres('changing a provider, across instances', (kind) => {
  let a: GatewayFixture;
  let b: Harness;
  let bBase: string;

  beforeAll(async () => {
    a = await startGatewayFixture(kind, { env: { CUSTODY_GATEWAY_RECHECK_MS: '60000' } });
    const keyring = a.h.config.keyring.kind === 'inline' ? a.h.config.keyring.value : '';
    b = await startHarness(kind, { database: a.h.db, keyring, env: { CUSTODY_GATEWAY_RECHECK_MS: '60000' } });
    await b.custody.gateway.start();
    await b.app.listen({ host: '127.0.0.1', port: 0 });
    bBase = `http://127.0.0.1:${(b.app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('reaches the other instance’s gateway at once (a notification, not the periodic re-read)', async () => {
    const providerId = await a.createProvider({});
    const token = await a.createToken(providerId);
    const callB = async () => (await request(`${bBase}/gw/${token}/invoices/1`, { headers: { authorization: `Bearer ${a.keyA}` } })).statusCode;
    expect(await callB()).toBe(200);
    await a.h.custody.providers.update(a.h.admin, providerId, { scopeRules: [] });
    await eventually(async () => (await callB()) === 403, { what: 'instance B to refuse the now unmapped call' });
  });
});
