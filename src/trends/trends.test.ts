import { afterAll, beforeAll, expect, it } from 'vitest';
import { fixedClock } from '../shared/clock.ts';
import { Secret } from '../shared/secret.ts';
import type { RegisterTokenInput } from '../tokens/token.types.ts';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { bearer, keyFor, startHarness, type Harness } from '../../test/support/harness.ts';
import type { TrendPoint } from './trend.types.ts';

/**
 * Trends over stepped days (both databases, fixed clock): a snapshot follows each sweep and the
 * day's newest figures stand; each day's figures equal counts over the inventory and the findings
 * at that moment, per tenant and overall; a day without a snapshot has no point and a tenant with
 * nothing that day reads zeros; a tenant administrator reads only its own tenant; old snapshots
 * are pruned.
 */
const DAY0 = new Date('2026-11-01T09:00:00.000Z');
const DAY = 86_400_000;
const dayOf = (d: Date) => d.toISOString().slice(0, 10);
const onDay = (n: number) => new Date(DAY0.getTime() + n * DAY);

describeEachDatabase('trends', (kind) => {
  const clock = fixedClock(DAY0);
  let h: Harness;
  let A: string;
  let B: string;
  let providerId: string;
  let tenantKey: string;
  let auditorKey: string;
  const tokensOf: Record<'A' | 'B', string[]> = { A: [], B: [] };

  const register = async (tenant: 'A' | 'B', over: Partial<RegisterTokenInput> = {}) => {
    const t = await h.custody.tokens.register(h.admin, {
      tenantId: tenant === 'A' ? A : B,
      providerId,
      owner: 'alice',
      approver: { subject: 'approver' },
      purpose: 'sync',
      scopes: ['read'],
      accessToken: new Secret(`at-${Math.random()}`),
      issuedAt: clock.now().toISOString(),
      accessExpiresAt: new Date(clock.now().getTime() + 30 * 60_000).toISOString(),
      ...over,
    });
    tokensOf[tenant].push(t.id);
    return t.id;
  };

  /** The figures counted over the inventory and the findings themselves, now (what a snapshot must equal). */
  const counted = async (tenantId?: string): Promise<Omit<TrendPoint, 'day'>> => {
    const tokens = (await h.custody.tokens.list(h.admin, { ...(tenantId ? { tenantId } : {}), limit: 1000 })).items.filter((t) => t.state === 'active' || t.state === 'suspended');
    const findings: Record<string, number> = {};
    for (const f of (await h.custody.findingQueries.list(h.admin, { ...(tenantId ? { tenantId } : {}), limit: 1000 })).items) findings[f.type] = (findings[f.type] ?? 0) + 1;
    const managed = tokens.filter((t) => t.managed).length;
    return { tokens: tokens.length, managed, managedShare: tokens.length === 0 ? null : managed / tokens.length, findings };
  };
  const series = (tenantId: string | null, from: string, to: string) => h.custody.trends.series({ tenantId }, from, to);

  beforeAll(async () => {
    h = await startHarness(kind, { clock });
    A = (await h.custody.tenants.create(h.admin, { name: 'acme' })).id;
    B = (await h.custody.tenants.create(h.admin, { name: 'globex' })).id;
    providerId = (
      await h.custody.providers.create(h.admin, { name: 'p', tokenEndpoint: 'https://issuer.example.com/token', revocationEndpoint: 'https://issuer.example.com/revoke', clientId: 'c', apiBaseUrls: ['https://api.example.com'] })
    ).id;
    await h.custody.storage.db.updateTable('providers').set({ revocation_verified_at: DAY0.toISOString() }).where('id', '=', providerId).execute();
    await h.custody.directory.createOwner(h.admin, { name: 'alice', kind: 'person' });
    tenantKey = await keyFor(h, 'tenant_admin', A);
    auditorKey = await keyFor(h, 'auditor');
    // Tenant A: two managed tokens, two without a purpose (unmanaged); tenant B: one managed, one without an owner in the directory.
    await register('A');
    await register('A');
    await register('A', { purpose: undefined });
    await register('A', { purpose: undefined });
    await register('B');
    await register('B', { owner: 'nobody' });
    await h.custody.findings.settled();
  });
  afterAll(() => h.close());

  it('takes a snapshot after each sweep whose figures equal counts over the inventory and findings, per tenant and overall', async () => {
    await h.custody.findings.sweep();
    const day = dayOf(DAY0);
    const [overall] = await series(null, day, day);
    expect(overall).toEqual({ day, ...(await counted()) });
    expect(overall!.tokens).toBe(6);
    expect(overall!.managed).toBe(4);
    const [a] = await series(A, day, day);
    expect(a).toEqual({ day, ...(await counted(A)) });
    expect(a).toMatchObject({ tokens: 4, managed: 2, managedShare: 0.5, findings: { no_purpose: 2, unmanaged: 2 } });
    const [b] = await series(B, day, day);
    expect(b).toMatchObject({ tokens: 2, managed: 2, managedShare: 1, findings: { no_owner: 1 } });
  });

  it('keeps the newest figures of a day, and shows a tenant with nothing left that day as zeros', async () => {
    const day = dayOf(DAY0);
    // Tenant B's tokens are revoked later the same day: the day's newest snapshot replaces its figures.
    for (const id of tokensOf.B) await h.custody.tokens.transition(h.admin, id, 'revoke', 'customer left');
    await h.custody.findings.settled();
    const taken = await h.custody.trends.snapshot();
    expect(taken).toMatchObject({ day, scopes: 2 });
    expect(await series(B, day, day)).toEqual([{ day, tokens: 0, managed: 0, managedShare: null, findings: {} }]);
    expect((await series(null, day, day))[0]).toMatchObject({ tokens: 4, managed: 2 });
  });

  it('adds a point per day with a snapshot, none for a day without, and shows the trend as things are fixed', async () => {
    // Day 1: one of A's tokens gets its purpose (the day's snapshot: by the daily timer's operation).
    clock.set(onDay(1));
    await h.custody.tokens.patch(h.admin, tokensOf.A[2]!, { purpose: 'sync contacts' });
    await h.custody.findings.settled();
    await h.custody.trends.snapshot();
    // Day 2: the server took no snapshot. Day 3: the other token is fixed, and a snapshot taken.
    clock.set(onDay(3));
    await h.custody.tokens.patch(h.admin, tokensOf.A[3]!, { purpose: 'sync invoices' });
    await h.custody.findings.settled();
    await h.custody.trends.snapshot();
    const a = await series(A, dayOf(DAY0), dayOf(onDay(3)));
    expect(a.map((p) => [p.day, p.tokens, p.managed, p.managedShare, p.findings.no_purpose ?? 0])).toEqual([
      [dayOf(DAY0), 4, 2, 0.5, 2],
      [dayOf(onDay(1)), 4, 3, 0.75, 1],
      [dayOf(onDay(3)), 4, 4, 1, 0],
    ]);
    expect((await series(null, dayOf(onDay(3)), dayOf(onDay(3))))[0]).toEqual({ day: dayOf(onDay(3)), ...(await counted()) });
  });

  it('answers GET /v1/reports/trends: the platform for platform roles, its own tenant for a tenant administrator, another tenant as missing', async () => {
    const call = (key: string, q = '') => h.app.inject({ method: 'GET', url: `/v1/reports/trends${q}`, headers: bearer(key) });
    const overall = await call(auditorKey);
    expect(overall.statusCode).toBe(200);
    // The default window: the 30 days up to today.
    expect(overall.json()).toMatchObject({ tenantId: null, from: dayOf(new Date(onDay(3).getTime() - 29 * DAY)), to: dayOf(onDay(3)), days: 30 });
    expect(overall.json().points.map((p: TrendPoint) => p.day)).toEqual([dayOf(DAY0), dayOf(onDay(1)), dayOf(onDay(3))]);
    const mine = await call(tenantKey);
    expect(mine.json()).toMatchObject({ tenantId: A, points: await series(A, dayOf(DAY0), dayOf(onDay(3))) });
    const theirs = await call(tenantKey, `?tenantId=${B}`);
    expect([theirs.statusCode, theirs.json().error.code]).toEqual([404, 'tenant_not_found']);
    const narrow = await call(auditorKey, `?tenantId=${A}&from=${dayOf(onDay(1))}&to=${dayOf(onDay(2))}`);
    expect(narrow.json().points).toEqual([expect.objectContaining({ day: dayOf(onDay(1)), managed: 3 })]);
  });

  it('refuses a window that is backwards, too long or not a calendar day, with trend_window_invalid', async () => {
    const call = (q: string) => h.app.inject({ method: 'GET', url: `/v1/reports/trends?${q}`, headers: bearer(auditorKey) });
    for (const [q, message] of [
      ['from=2026-11-05&to=2026-11-01', /from \(2026-11-05\) is after to \(2026-11-01\)/],
      ['from=2025-01-01&to=2026-11-01', /spans 670 days; ask for at most 366/],
      ['from=2026-02-30', /2026-02-30\) is not a calendar day/],
    ] as const) {
      const r = await call(q);
      expect([r.statusCode, r.json().error.code], q).toEqual([400, 'trend_window_invalid']);
      expect(r.json().error.message).toMatch(message);
    }
    expect((await call('from=yesterday')).json().error.code).toBe('validation_failed');
  });

  it('keeps two years of snapshots: older ones are deleted as new ones are taken', async () => {
    const old = new Date(onDay(3).getTime() - 731 * DAY);
    clock.set(old);
    await h.custody.trends.snapshot();
    expect(await series(null, dayOf(old), dayOf(old))).toHaveLength(1);
    clock.set(onDay(3));
    // The old day's two rows: the platform's and tenant A's.
    expect((await h.custody.trends.snapshot()).pruned).toBe(2);
    expect(await series(null, dayOf(old), dayOf(old))).toEqual([]);
    expect((await series(null, dayOf(DAY0), dayOf(onDay(3)))).length).toBe(3);
  });
});
