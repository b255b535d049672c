import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { bearer, keyFor, seed, startHarness, type Harness, type Seeded } from '../../test/support/harness.ts';
import { newId } from '../shared/ids.ts';

describeEachDatabase('token lifecycle over HTTP', (kind) => {
  let h: Harness;
  let s: Seeded;
  let admin: string;

  beforeAll(async () => {
    h = await startHarness(kind);
    s = await seed(h);
    admin = await keyFor(h, 'admin');
  });
  afterAll(() => h.close());

  const post = (url: string, body: unknown, key = admin) => h.app.inject({ method: 'POST', url, headers: bearer(key), payload: body as object });

  it('suspends an active token, resumes it, and records both in the ledger', async () => {
    const suspended = await post(`/v1/tokens/${s.tokenA}/suspend`, { reason: 'investigation' });
    expect(suspended.statusCode).toBe(200);
    expect(suspended.json().state).toBe('suspended');
    const resumed = await post(`/v1/tokens/${s.tokenA}/resume`, { reason: 'cleared' });
    expect(resumed.statusCode).toBe(200);
    expect(resumed.json().state).toBe('active');
    const ledger = await h.app.inject({ url: `/v1/ledger?tokenId=${s.tokenA}&order=asc`, headers: bearer(admin) });
    expect(ledger.json().items.map((e: { action: string }) => e.action)).toEqual(['token.registered', 'token.suspended', 'token.resumed']);
  });

  it('refuses to resume an active token with 409 illegal_transition', async () => {
    const r = await post(`/v1/tokens/${s.tokenA}/resume`, { reason: 'x' });
    expect(r.statusCode).toBe(409);
    expect(r.json().error.code).toBe('illegal_transition');
  });

  it('revokes, then refuses every further transition of the revoked token with 409', async () => {
    const r = await post(`/v1/tokens/${s.tokenB}/revoke`, { reason: 'customer offboarded' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ state: 'revoked', stateReason: 'customer offboarded' });
    for (const action of ['suspend', 'resume', 'revoke']) {
      const again = await post(`/v1/tokens/${s.tokenB}/${action}`, { reason: 'again' });
      expect(again.statusCode).toBe(409);
      expect(again.json().error.code).toBe('illegal_transition');
    }
  });

  it('counts records by provider and state: a tenant administrator their tenant only, another tenant 404, ended records included', async () => {
    const t = await h.custody.tenants.create(h.admin, { name: `counted-${Date.now()}` });
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await h.custody.tokens.register(h.admin, { tenantId: t.id, providerId: s.providerId, owner: 'o', scopes: [], accessToken: new (await import('../shared/secret.ts')).Secret(`at-count-${i}-${Date.now()}`) })).id);
    await post(`/v1/tokens/${ids[0]}/suspend`, { reason: 'check' });
    await post(`/v1/tokens/${ids[1]}/revoke`, { reason: 'check' });
    const get = (url: string, key = admin) => h.app.inject({ url, headers: bearer(key) });
    const own = await get(`/v1/tokens/counts?tenantId=${t.id}`);
    expect(own.statusCode).toBe(200);
    expect(own.json().items).toEqual([
      { providerId: s.providerId, state: 'active', count: 1 },
      { providerId: s.providerId, state: 'revoked', count: 1 },
      { providerId: s.providerId, state: 'suspended', count: 1 },
    ]);
    // A tenant's count is reused for 2 s at most: the change just made shows within that.
    await post(`/v1/tokens/${ids[2]}/revoke`, { reason: 'check' });
    await expect.poll(async () => (await get(`/v1/tokens/counts?tenantId=${t.id}`)).json().items, { timeout: 5_000, interval: 250 }).toContainEqual({ providerId: s.providerId, state: 'revoked', count: 2 });

    const tenantAdmin = await keyFor(h, 'tenant_admin', t.id);
    expect((await get('/v1/tokens/counts', tenantAdmin)).json().items).toEqual((await get(`/v1/tokens/counts?tenantId=${t.id}`)).json().items);
    const foreign = await get(`/v1/tokens/counts?tenantId=${s.tenantA}`, tenantAdmin);
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json().error.code).toBe('tenant_not_found');
    expect((await get(`/v1/tokens/counts?tenantId=${newId('tenant')}`)).statusCode).toBe(404);
    expect((await get('/v1/tokens/counts?tenantId=nope')).statusCode).toBe(400);
    expect((await get('/v1/tokens/counts?state=active')).statusCode).toBe(400);

    // Every tenant: the sum over the rows is every record the inventory lists.
    const all = (await get('/v1/tokens/counts')).json() as { at: string; items: { count: number }[] };
    let listed = 0;
    for (let cursor: string | null = null; ; ) {
      const page = (await get(`/v1/tokens?limit=1000${cursor ? `&cursor=${cursor}` : ''}`)).json() as { items: unknown[]; nextCursor: string | null };
      listed += page.items.length;
      if (!(cursor = page.nextCursor)) break;
    }
    expect(all.items.reduce((n, r) => n + r.count, 0)).toBe(listed);
    expect(Number.isNaN(Date.parse(all.at))).toBe(false);
  });
});
