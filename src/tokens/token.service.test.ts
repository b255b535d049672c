import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { startHarness, type Harness } from '../../test/support/harness.ts';
import { fixedClock } from '../shared/clock.ts';
import { CustodyError } from '../shared/errors.ts';
import { Secret } from '../shared/secret.ts';
import type { TokenRecord } from './token.types.ts';

describeEachDatabase('token service', (kind) => {
  const clock = fixedClock('2026-11-28T12:00:00.000Z');
  let h: Harness;
  let tenantA: string;
  let tenantB: string;
  let verifiedProvider: string;
  let plainProvider: string;

  const register = (over: Partial<Parameters<Harness['custody']['tokens']['register']>[1]> = {}) =>
    h.custody.tokens.register(h.admin, {
      tenantId: tenantA,
      providerId: verifiedProvider,
      owner: 'team-a',
      approver: { subject: 'alice', email: 'alice@acme.example' },
      purpose: 'sync',
      scopes: ['read'],
      accessToken: new Secret(`at-${Math.random()}`),
      ...over,
    });

  beforeAll(async () => {
    h = await startHarness(kind, { clock });
    tenantA = (await h.custody.tenants.create(h.admin, { name: 'acme' })).id;
    tenantB = (await h.custody.tenants.create(h.admin, { name: 'globex' })).id;
    const mk = (name: string, revocationEndpoint?: string) =>
      h.custody.providers.create(h.admin, {
        name,
        tokenEndpoint: 'https://as.example.com/token',
        ...(revocationEndpoint ? { revocationEndpoint } : {}),
        clientId: 'c',
        apiBaseUrls: ['https://api.example.com'],
      });
    verifiedProvider = (await mk('verified', 'https://as.example.com/revoke')).id;
    plainProvider = (await mk('no-revocation')).id;
    // The OAuth worker marks a provider verified after a confirmed revocation; here we set it directly.
    await h.custody.storage.db.updateTable('providers').set({ revocation_verified_at: clock.now().toISOString() }).where('id', '=', verifiedProvider).execute();
  });
  afterAll(() => h.close());

  it('registers a token without ever returning its credentials', async () => {
    const t = await register({ refreshToken: new Secret('rt-secret-value') });
    expect(t).toMatchObject({ state: 'active', owner: 'team-a', hasRefreshToken: true, managed: true, grantedScopes: ['read'] });
    expect(JSON.stringify(t)).not.toContain('rt-secret-value');
  });

  it('refuses a credential already in the inventory, in any tenant, even one suspended or revoked (a second record would serve it again)', async () => {
    const access = `at-held-${Math.random()}`;
    const refresh = `rt-held-${Math.random()}`;
    const first = await register({ accessToken: new Secret(access), refreshToken: new Secret(refresh) });
    await h.custody.tokens.transition({ ...h.admin, role: 'security' }, first.id, 'suspend', 'incident');
    // The same access token, the same refresh token with a new access token, another tenant: each refused.
    for (const over of [{ accessToken: new Secret(access) }, { accessToken: new Secret(`at-new-${Math.random()}`), refreshToken: new Secret(refresh) }, { tenantId: tenantB, accessToken: new Secret(access) }]) {
      const err = await register(over).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CustodyError);
      expect(err).toMatchObject({ code: 'credential_registered', status: 409 });
      expect((err as CustodyError).message).toContain(`${first.id} (suspended)`);
    }
    // A tenant administrator of another tenant learns no id.
    const tenantAdminOfB = { ...h.admin, role: 'tenant_admin' as const, tenantId: tenantB };
    const hidden = await h.custody.tokens.register(tenantAdminOfB, { tenantId: tenantB, providerId: verifiedProvider, owner: 'x', scopes: [], accessToken: new Secret(access) }).then(() => null, (e: unknown) => e as CustodyError);
    expect(hidden).toMatchObject({ code: 'credential_registered' });
    expect(hidden!.message).not.toContain(first.id);
    // Revoked: still refused.
    await h.custody.tokens.transition(h.admin, first.id, 'revoke', 'compromised');
    await expect(register({ accessToken: new Secret(access) })).rejects.toMatchObject({ code: 'credential_registered' });
    // Registered at once, twice: one record.
    const again = `at-race-${Math.random()}`;
    const results = await Promise.allSettled([register({ accessToken: new Secret(again) }), register({ accessToken: new Secret(again) })]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'credential_registered' } });
    expect((await h.custody.tokens.findByCredential(h.admin, again))).not.toBeNull();
  });

  it('refuses to register into a tenant the caller cannot see, as a missing tenant', async () => {
    const tenantAdminOfB = { ...h.admin, role: 'tenant_admin' as const, tenantId: tenantB };
    await expect(h.custody.tokens.register(tenantAdminOfB, { tenantId: tenantA, providerId: verifiedProvider, owner: 'x', scopes: [], accessToken: new Secret('a') })).rejects.toMatchObject({
      code: 'tenant_not_found',
    });
  });

  it('agrees with the practical test when filtering managed=true and managed=false in SQL', async () => {
    // A tenant of its own: the exact count below is of this test's tokens only.
    const tenantId = (await h.custody.tenants.create(h.admin, { name: 'practical' })).id;
    const managedOne = await register({ tenantId });
    await register({ tenantId, providerId: plainProvider });
    await register({ tenantId, approver: undefined });
    await register({ tenantId, purpose: undefined });
    await register({ tenantId, reviewDueAt: '2026-11-01T00:00:00Z' });
    await register({ tenantId, issuedAt: '2026-01-01T00:00:00Z' });
    const suspended = await register({ tenantId, purpose: undefined });
    await h.custody.tokens.transition(h.admin, suspended.id, 'suspend', 'test');
    const revoked = await register({ tenantId, purpose: undefined });
    await h.custody.tokens.transition(h.admin, revoked.id, 'revoke', 'test');

    const all: TokenRecord[] = (await h.custody.tokens.list(h.admin, { tenantId, limit: 1000 })).items;
    const unmanaged = (await h.custody.tokens.list(h.admin, { tenantId, managed: false, limit: 1000 })).items;
    const managed = (await h.custody.tokens.list(h.admin, { tenantId, managed: true, limit: 1000 })).items;
    expect(unmanaged.map((t) => t.id).sort()).toEqual(all.filter((t) => t.managed === false).map((t) => t.id).sort());
    expect(managed.map((t) => t.id).sort()).toEqual(all.filter((t) => t.managed === true).map((t) => t.id).sort());
    expect(managed.map((t) => t.id)).toEqual([managedOne.id]);
    // A revoked token holds no privilege: in neither list, and shown as neither.
    expect(all.find((t) => t.id === revoked.id)).toMatchObject({ state: 'revoked', managed: null, managedReasons: [] });
    expect([...managed, ...unmanaged].map((t) => t.id)).not.toContain(revoked.id);
    expect(unmanaged.length).toBe(6);
    expect(unmanaged.find((t) => t.providerId === plainProvider)?.managedReasons.map((r) => r.code)).toEqual(['no_revocation_path']);
  });

  it('pages through the inventory with an opaque cursor, without repeats or gaps', async () => {
    for (let i = 0; i < 7; i++) await register({ tenantId: tenantB, owner: `pager-${i}` });
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await h.custody.tokens.list(h.admin, { tenantId: tenantB, limit: 3, afterId: cursor === undefined ? undefined : (await import('../shared/cursor.ts')).decodeCursor('token', cursor) });
      seen.push(...page.items.map((t) => t.id));
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    const all = (await h.custody.tokens.list(h.admin, { tenantId: tenantB, limit: 1000 })).items.map((t) => t.id);
    expect(seen).toEqual(all);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('filters by owner, state, dormancy and free text', async () => {
    const t = await register({ owner: 'needle-owner', purpose: 'Quarterly Export' });
    // A suspended and a dormant token of its own, so the filters below have something to find.
    const suspended = await register();
    await h.custody.tokens.transition(h.admin, suspended.id, 'suspend', 'test');
    const dormantToken = await register({ issuedAt: '2026-01-01T00:00:00Z' });
    expect((await h.custody.tokens.list(h.admin, { owner: 'needle-owner', limit: 10 })).items.map((x) => x.id)).toEqual([t.id]);
    expect((await h.custody.tokens.list(h.admin, { q: 'quarterly exp', limit: 10 })).items.map((x) => x.id)).toEqual([t.id]);
    expect((await h.custody.tokens.list(h.admin, { q: '%', limit: 10 })).items).toEqual([]);
    const inState = (await h.custody.tokens.list(h.admin, { state: 'suspended', limit: 1000 })).items;
    expect(inState.map((x) => x.id)).toContain(suspended.id);
    expect([...new Set(inState.map((x) => x.state))]).toEqual(['suspended']);
    const dormant = (await h.custody.tokens.list(h.admin, { dormantDays: 100, limit: 1000 })).items;
    expect(dormant.map((x) => x.id)).toContain(dormantToken.id);
    expect(dormant.map((x) => x.id)).not.toContain(t.id);
    expect(dormant.every((x) => (x.lastUsedAt ?? x.issuedAt) < '2026-08-20')).toBe(true);
  });

  it('records owner, purpose, review and workload changes in the ledger, one entry each', async () => {
    const t = await register({ workloads: ['a', 'b'] });
    const patched = await h.custody.tokens.patch(h.admin, t.id, { owner: 'team-b', purpose: 'new purpose', workloads: ['b', 'c'], reviewDueAt: '2027-02-01T00:00:00Z' });
    expect(patched).toMatchObject({ owner: 'team-b', purpose: 'new purpose', workloads: ['b', 'c'], reviewDueAt: '2027-02-01T00:00:00.000Z' });
    const entries = await h.custody.ledger.list({ subjectId: t.id, order: 'asc', limit: 10 });
    expect(entries.map((e) => e.action)).toEqual(['token.registered', 'token.owner_changed', 'token.purpose_changed', 'token.review_due_changed', 'token.workloads_changed']);
    expect(entries[4]!.data).toEqual({ added: ['c'], removed: ['a'] });
  });

  it('moves a review date when the policies must be read again (a stale snapshot is reloaded outside the unit of work, or SQLite waits on itself)', async () => {
    const t = await register();
    // The policy snapshot is reused for 2 s of wall time; past that, the next read goes to the database.
    const realNow = Date.now.bind(Date);
    const later = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 10_000);
    try {
      const patch = h.custody.tokens.patch(h.admin, t.id, { reviewDueAt: '2027-01-15T00:00:00Z' });
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('the patch did not finish within 5 s: it waits on its own connection')), 5_000);
      });
      await expect(Promise.race([patch, stuck])).resolves.toMatchObject({ reviewDueAt: '2027-01-15T00:00:00.000Z' });
      clearTimeout(timer);
    } finally {
      later.mockRestore();
    }
  });

  it('bulk-revokes only the live tokens of the filter, and refuses an empty filter', async () => {
    const tenantC = (await h.custody.tenants.create(h.admin, { name: 'initech' })).id;
    // A live token outside the filter, of its own: the bulk revoke must leave it alone.
    const bystander = await register();
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await register({ tenantId: tenantC })).id);
    await h.custody.tokens.transition(h.admin, ids[0]!, 'revoke', 'already');
    await expect(h.custody.tokens.bulkRevoke(h.admin, { reason: 'x' })).rejects.toBeInstanceOf(CustodyError);
    const progress: number[] = [];
    const result = await h.custody.tokens.bulkRevoke(h.admin, { tenantId: tenantC, reason: 'incident 42' }, (n) => progress.push(n));
    expect(result).toMatchObject({ revoked: 4 });
    expect(progress.at(-1)).toBe(4);
    const states = (await h.custody.tokens.list(h.admin, { tenantId: tenantC, limit: 10 })).items.map((t) => t.state);
    expect(states).toEqual(['revoked', 'revoked', 'revoked', 'revoked', 'revoked']);
    expect((await h.custody.tokens.get(h.admin, bystander.id)).state).toBe('active');
  });

  it('expires live tokens whose refresh token (or, without one, access token) has expired', async () => {
    const refreshGone = await register({ refreshToken: new Secret('r'), refreshExpiresAt: '2026-11-28T13:00:00Z', accessExpiresAt: '2026-11-28T12:30:00Z' });
    const accessOnly = await register({ accessExpiresAt: '2026-11-28T12:30:00Z' });
    const stillRefreshable = await register({ refreshToken: new Secret('r2'), accessExpiresAt: '2026-11-28T12:30:00Z' });
    expect(await h.custody.tokens.expireDue()).toBe(0);
    clock.advance(2 * 3600_000);
    expect(await h.custody.tokens.expireDue()).toBeGreaterThanOrEqual(2);
    expect((await h.custody.tokens.get(h.admin, refreshGone.id)).state).toBe('expired');
    expect((await h.custody.tokens.get(h.admin, accessOnly.id)).state).toBe('expired');
    expect((await h.custody.tokens.get(h.admin, stillRefreshable.id)).state).toBe('active');
    const entry = (await h.custody.ledger.list({ subjectId: accessOnly.id, action: 'token.expired', order: 'asc', limit: 1 }))[0];
    expect(entry?.actor).toBe('system:expiry-sweep');
  });

  it('traces a leaked credential string to its record through the keyed fingerprint', async () => {
    const t = await register({ accessToken: new Secret('leaked-access-token-123') });
    expect((await h.custody.tokens.findByCredential(h.admin, 'leaked-access-token-123'))?.id).toBe(t.id);
    expect(await h.custody.tokens.findByCredential(h.admin, 'not-a-token-we-hold')).toBeNull();
  });
});
