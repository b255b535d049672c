import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { bearer, keyFor, seed, startHarness, type Harness, type Seeded } from '../../test/support/harness.ts';
import { usageEvent } from '../../test/support/usage.ts';
import { createUsageStores, packEvents, writeUsageBatch } from '../gateway/usage-writer.ts';
import { fixedClock } from '../shared/clock.ts';

/**
 * Usage you can read (issue 15, item 2), both databases, fixed clock: usage events written through
 * the gateway's usage writer come back by UTC day, workload, scope, outcome and error code over a
 * window of whole days (default the last 30); the summary adds them up across a tenant's or the
 * platform's tokens with the top tokens; bad windows are 400 usage_window_invalid; another
 * tenant's token is 404 and a workload may not read usage.
 */
const NOW = new Date('2026-12-01T09:00:00.000Z');
const at = (iso: string) => Date.parse(iso);

describeEachDatabase('usage', (kind) => {
  let h: Harness;
  let s: Seeded;
  let auditor: string;
  let tenantAdminA: string;

  beforeAll(async () => {
    h = await startHarness(kind, { clock: fixedClock(NOW) });
    s = await seed(h);
    [auditor, tenantAdminA] = await Promise.all([keyFor(h, 'auditor'), keyFor(h, 'tenant_admin', s.tenantA)]);
    const a = (iso: string, i: number, over: Parameters<typeof usageEvent>[2] = {}) => usageEvent(s.tokenA, i, { atMs: at(iso), tenantId: s.tenantA, ...over });
    await writeUsageBatch(
      h.custody.storage.db,
      createUsageStores(),
      packEvents([
        // Outside the default window (before 2026-11-02).
        a('2026-10-15T12:00:00.000Z', 0),
        // 2026-11-28: three forwarded by billing-sync, one by reporting with another scope.
        a('2026-11-28T00:00:00.000Z', 1),
        a('2026-11-28T10:00:00.000Z', 2),
        a('2026-11-28T23:59:59.999Z', 3),
        a('2026-11-28T11:00:00.000Z', 4, { workload: 'reporting', scope: 'reports.read' }),
        // 2026-11-30: one denied (scope), one failed (upstream).
        a('2026-11-30T08:00:00.000Z', 5, { outcome: 'denied', errorCode: 'scope_not_granted', status: 403, scope: null, unmapped: true }),
        a('2026-11-30T09:00:00.000Z', 6, { outcome: 'failed', errorCode: 'upstream_unavailable', status: 502 }),
        // Today.
        a('2026-12-01T08:59:00.000Z', 7),
        // Tenant B's token: two calls.
        usageEvent(s.tokenB, 8, { atMs: at('2026-11-29T10:00:00.000Z'), tenantId: s.tenantB }),
        usageEvent(s.tokenB, 9, { atMs: at('2026-11-29T10:00:01.000Z'), tenantId: s.tenantB }),
      ]),
    );
  });
  afterAll(async () => {
    await h?.close();
  });

  const get = (url: string, key = auditor) => h.app.inject({ method: 'GET', url, headers: bearer(key) });

  it("counts a token's calls by day, workload, scope, outcome and error code over the last 30 UTC days", async () => {
    const r = await get(`/v1/tokens/${s.tokenA}/usage`);
    expect(r.statusCode).toBe(200);
    const u = r.json();
    expect(u).toMatchObject({ tokenId: s.tokenA, tenantId: s.tenantA, window: { from: '2026-11-02', to: '2026-12-01', days: 30 } });
    expect(u.totals).toEqual({ calls: 7, forwarded: 5, denied: 1, failed: 1 });
    expect(u.byDay).toHaveLength(30);
    expect(u.byDay[0]).toEqual({ day: '2026-11-02', calls: 0, forwarded: 0, denied: 0, failed: 0 });
    const day = (d: string) => u.byDay.find((x: { day: string }) => x.day === d);
    expect(day('2026-11-28')).toEqual({ day: '2026-11-28', calls: 4, forwarded: 4, denied: 0, failed: 0 });
    expect(day('2026-11-30')).toEqual({ day: '2026-11-30', calls: 2, forwarded: 0, denied: 1, failed: 1 });
    expect(day('2026-12-01')).toMatchObject({ calls: 1 });
    expect(u.byWorkload).toEqual([
      { workload: 'billing-sync', calls: 6, forwarded: 4, denied: 1, failed: 1 },
      { workload: 'reporting', calls: 1, forwarded: 1, denied: 0, failed: 0 },
    ]);
    expect(u.byScope).toEqual([
      { scope: 'invoices.read', calls: 5, forwarded: 4, denied: 0, failed: 1 },
      { scope: 'reports.read', calls: 1, forwarded: 1, denied: 0, failed: 0 },
      { scope: null, calls: 1, forwarded: 0, denied: 1, failed: 0 },
    ]);
    expect(u.byOutcome).toEqual([
      { outcome: 'forwarded', calls: 5 },
      { outcome: 'denied', calls: 1 },
      { outcome: 'failed', calls: 1 },
    ]);
    expect(u.byErrorCode).toEqual([
      { errorCode: 'scope_not_granted', calls: 1 },
      { errorCode: 'upstream_unavailable', calls: 1 },
    ]);
  });

  it('takes a window of whole UTC days, both ends included', async () => {
    const oct = (await get(`/v1/tokens/${s.tokenA}/usage?from=2026-10-01&to=2026-10-31`)).json();
    expect(oct.window).toEqual({ from: '2026-10-01', to: '2026-10-31', days: 31 });
    expect(oct.totals.calls).toBe(1);
    const oneDay = (await get(`/v1/tokens/${s.tokenA}/usage?from=2026-11-28&to=2026-11-28`)).json();
    expect(oneDay.totals.calls).toBe(4);
    expect(oneDay.byDay).toHaveLength(1);
    // `from` alone runs to today.
    expect((await get(`/v1/tokens/${s.tokenA}/usage?from=2026-11-30`)).json().window).toEqual({ from: '2026-11-30', to: '2026-12-01', days: 2 });
  });

  it('refuses a window that is backwards, longer than 366 days or not a calendar day, with 400 usage_window_invalid', async () => {
    for (const q of ['from=2026-11-30&to=2026-11-01', 'from=2025-01-01&to=2026-11-30', 'from=2026-02-30&to=2026-03-01']) {
      const r = await get(`/v1/tokens/${s.tokenA}/usage?${q}`);
      expect(r.statusCode, q).toBe(400);
      expect(r.json().error.code, q).toBe('usage_window_invalid');
    }
    expect((await get(`/v1/tokens/${s.tokenA}/usage?from=yesterday`)).json().error.code).toBe('validation_failed');
    expect((await get(`/v1/tokens/${s.tokenA}/usage?from=2025-12-01&to=2026-12-01`)).statusCode).toBe(200);
  });

  it("answers 404 for another tenant's token and 403 to a workload", async () => {
    expect((await get(`/v1/tokens/${s.tokenA}/usage`, tenantAdminA)).statusCode).toBe(200);
    const other = await get(`/v1/tokens/${s.tokenB}/usage`, tenantAdminA);
    expect(other.statusCode).toBe(404);
    expect(other.json().error.code).toBe('token_not_found');
    expect((await get(`/v1/tokens/${s.tokenA}/usage`, await keyFor(h, 'workload', s.tenantA, 'billing-sync'))).statusCode).toBe(403);
  });

  it('sums usage across tokens: per tenant and top tokens for platform roles, their own tenant for a tenant administrator', async () => {
    const all = (await get('/v1/usage/summary')).json();
    expect(all).toMatchObject({ tenantId: null, tokens: 2, totals: { calls: 9, forwarded: 7, denied: 1, failed: 1 } });
    expect(all.byTenant).toEqual([
      { tenantId: s.tenantA, calls: 7, forwarded: 5, denied: 1, failed: 1 },
      { tenantId: s.tenantB, calls: 2, forwarded: 2, denied: 0, failed: 0 },
    ]);
    expect(all.topTokens.map((t: { tokenId: string; calls: number }) => [t.tokenId, t.calls])).toEqual([
      [s.tokenA, 7],
      [s.tokenB, 2],
    ]);
    expect((await get('/v1/usage/summary?top=1')).json().topTokens).toHaveLength(1);

    const mine = (await get('/v1/usage/summary', tenantAdminA)).json();
    expect(mine).toMatchObject({ tenantId: s.tenantA, tokens: 1, totals: { calls: 7 }, byTenant: [] });
    expect(mine.topTokens.map((t: { tokenId: string }) => t.tokenId)).toEqual([s.tokenA]);
    expect((await get(`/v1/usage/summary?tenantId=${s.tenantB}`)).json().totals.calls).toBe(2);
    const other = await get(`/v1/usage/summary?tenantId=${s.tenantB}`, tenantAdminA);
    expect(other.statusCode).toBe(404);
    expect(other.json().error.code).toBe('tenant_not_found');
  });
});
