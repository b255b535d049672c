import type { Principal } from '../auth/roles.ts';
import type { UsageOutcome } from '../gateway/gateway.types.ts';
import type { ShapeFacts, UsageCounts } from '../gateway/usage-counts.ts';
import type { Clock } from '../shared/clock.ts';
import { CustodyError } from '../shared/errors.ts';
import type { Storage } from '../storage/database.ts';
import type { TenantService } from '../tenants/tenant.service.ts';
import { tokenIdsPage } from '../tokens/token-ids.ts';
import type { TokenService } from '../tokens/token.service.ts';
import type { TokenUsage, UsageSummary } from './usage.contract.ts';

const DAY_MS = 86_400_000;
const DEFAULT_DAYS = 30;
const MAX_DAYS = 366;
/** Lists by workload, scope and error code keep the largest this many (a chart has no use for more). */
const MAX_ROWS = 100;
/** Token ids per query of a summary: one index probe each, bound as one parameter (dialect.anyOf). */
const TOKEN_PAGE = 500;
const SUMMARY_REUSE_MS = 10_000;
const SUMMARY_CACHE_SIZE = 1_000;

interface Counts {
  calls: number;
  forwarded: number;
  denied: number;
  failed: number;
}
const zero = (): Counts => ({ calls: 0, forwarded: 0, denied: 0, failed: 0 });
function add(c: Counts, outcome: UsageOutcome, n: number): void {
  c.calls += n;
  c[outcome] += n;
}

export interface UsageWindow {
  from: string;
  to: string;
  days: number;
  /** The first instant counted and the first one after the window (ISO, as events store `at`). */
  fromIso: string;
  untilIso: string;
}

/** Whole UTC days, both ends included: `to` defaults to today, `from` to 29 days before it. */
export function usageWindow(now: Date, q: { from?: string; to?: string }): UsageWindow {
  const dayMs = (d: string): number => {
    const ms = Date.parse(`${d}T00:00:00.000Z`);
    // 2026-02-30 parses on some engines and not others; a day must be itself after the round trip.
    if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== d) throw new CustodyError('usage_window_invalid', `${d} is not a calendar day (YYYY-MM-DD).`);
    return ms;
  };
  const to = q.to ?? now.toISOString().slice(0, 10);
  const toMs = dayMs(to);
  const fromMs = q.from ? dayMs(q.from) : toMs - (DEFAULT_DAYS - 1) * DAY_MS;
  const days = Math.round((toMs - fromMs) / DAY_MS) + 1;
  if (days < 1) throw new CustodyError('usage_window_invalid', `from (${q.from}) is after to (${to}).`);
  if (days > MAX_DAYS) throw new CustodyError('usage_window_invalid', `The window spans ${days} days; ask for at most ${MAX_DAYS} at a time.`);
  const from = new Date(fromMs).toISOString().slice(0, 10);
  return { from, to, days, fromIso: new Date(fromMs).toISOString(), untilIso: new Date(toMs + DAY_MS).toISOString() };
}

/** Ties in a ranking go by name (null last), so an answer does not depend on the database's row order. */
function byKey(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}

/** Sums counted rows (day, shape, n) into the aggregates every usage answer has. */
class UsageAggregate {
  readonly totals = zero();
  private readonly days = new Map<string, Counts>();
  private readonly workloads = new Map<string | null, Counts>();
  private readonly scopes = new Map<string | null, Counts>();
  private readonly errors = new Map<string, number>();

  add(day: string, s: ShapeFacts, n: number): void {
    add(this.totals, s.outcome, n);
    for (const [map, key] of [
      [this.days, day],
      [this.workloads, s.workload],
      [this.scopes, s.scope],
    ] as const) {
      let c = (map as Map<string | null, Counts>).get(key);
      if (!c) (map as Map<string | null, Counts>).set(key, (c = zero()));
      add(c, s.outcome, n);
    }
    if (s.error_code !== null) this.errors.set(s.error_code, (this.errors.get(s.error_code) ?? 0) + n);
  }

  result(w: UsageWindow) {
    const largest = <K extends string | null>(m: Map<K, Counts>) => [...m].sort((a, b) => b[1].calls - a[1].calls || byKey(a[0], b[0])).slice(0, MAX_ROWS);
    const byDay = Array.from({ length: w.days }, (_, i) => {
      const day = new Date(Date.parse(w.fromIso) + i * DAY_MS).toISOString().slice(0, 10);
      return { day, ...(this.days.get(day) ?? zero()) };
    });
    return {
      window: { from: w.from, to: w.to, days: w.days },
      totals: { ...this.totals },
      byDay,
      byWorkload: largest(this.workloads).map(([workload, c]) => ({ workload, ...c })),
      byScope: largest(this.scopes).map(([scope, c]) => ({ scope, ...c })),
      byOutcome: (['forwarded', 'denied', 'failed'] as const).map((outcome) => ({ outcome, calls: this.totals[outcome] })),
      byErrorCode: [...this.errors]
        .sort((a, b) => b[1] - a[1] || byKey(a[0], b[0]))
        .slice(0, MAX_ROWS)
        .map(([errorCode, calls]) => ({ errorCode, calls })),
    };
  }
}

/**
 * Reading gateway usage (issue 15): a token's calls over a window, and the same across a tenant's
 * or the platform's tokens. The gateway owns the events and counts them (gateway/usage-counts.ts);
 * the tokens capability pages token ids (tokens/token-ids.ts); this sums and shapes the answer.
 *
 * Invariants of speed: every read is a range of the (token_id, at, shape_id) index (015), which
 * covers it, so no event row is read, only index entries; the window is bounded (366 days); the
 * counting is a GROUP BY (day, shape) in SQL, and the call shapes (what a call was: workload,
 * scope, outcome, error code) are read once per distinct shape, then summed here. A summary walks
 * its tokens a page at a time (one index probe each) and is reused for 10 s or ten times as long as
 * it took, so polling it cannot keep the database counting.
 */
export function createUsageQueries(deps: { storage: Storage; clock: Clock; tokens: TokenService; tenants: TenantService; counts: UsageCounts }) {
  const { storage, clock, counts } = deps;

  async function tokenUsage(principal: Principal, tokenId: string, q: { from?: string; to?: string }): Promise<TokenUsage> {
    const w = usageWindow(clock.now(), q);
    const token = await deps.tokens.get(principal, tokenId);
    const rows = await counts.byTokenDayShape([tokenId], w.fromIso, w.untilIso);
    const shapes = new Map<number, ShapeFacts>();
    await counts.shapeFacts(rows.map((r) => r.shapeId), shapes);
    const agg = new UsageAggregate();
    for (const r of rows) {
      const s = shapes.get(r.shapeId);
      if (s) agg.add(r.day, s, r.n);
    }
    return { tokenId, tenantId: token.tenantId, ...agg.result(w) };
  }

  async function computeSummary(tenantId: string | null, w: UsageWindow, top: number, perTenant: boolean): Promise<UsageSummary> {
    const agg = new UsageAggregate();
    const shapes = new Map<number, ShapeFacts>();
    const tokens = new Map<string, { tenantId: string; c: Counts }>();
    const tenants = new Map<string, Counts>();
    let afterId = '';
    for (;;) {
      const ids = await tokenIdsPage(storage.db, { tenantId, afterId, limit: TOKEN_PAGE });
      if (ids.length === 0) break;
      afterId = ids[ids.length - 1]!.id;
      const tenantOf = new Map(ids.map((t) => [t.id, t.tenantId]));
      const rows = await counts.byTokenDayShape(
        ids.map((t) => t.id),
        w.fromIso,
        w.untilIso,
      );
      await counts.shapeFacts(rows.map((r) => r.shapeId), shapes);
      for (const r of rows) {
        const s = shapes.get(r.shapeId);
        if (!s) continue;
        agg.add(r.day, s, r.n);
        const owner = tenantOf.get(r.tokenId)!;
        let t = tokens.get(r.tokenId);
        if (!t) tokens.set(r.tokenId, (t = { tenantId: owner, c: zero() }));
        add(t.c, s.outcome, r.n);
        if (perTenant) {
          let c = tenants.get(owner);
          if (!c) tenants.set(owner, (c = zero()));
          add(c, s.outcome, r.n);
        }
      }
      if (ids.length < TOKEN_PAGE) break;
    }
    return {
      tenantId,
      ...agg.result(w),
      tokens: tokens.size,
      byTenant: [...tenants].sort((a, b) => b[1].calls - a[1].calls || byKey(a[0], b[0])).map(([id, c]) => ({ tenantId: id, ...c })),
      topTokens: [...tokens]
        .sort((a, b) => b[1].c.calls - a[1].c.calls || byKey(a[0], b[0]))
        .slice(0, top)
        .map(([tokenId, t]) => ({ tokenId, tenantId: t.tenantId, ...t.c })),
      at: clock.now().toISOString(),
    };
  }

  // A summary is reused for 10 s, or ten times as long as it took to count (a platform of a million
  // tokens takes seconds): polling one keeps the database counting at most a tenth of the time.
  const summaries = new Map<string, { at: number; reuseMs: number; value: Promise<UsageSummary> }>();

  return {
    tokenUsage,

    async summary(principal: Principal, q: { tenantId?: string; from?: string; to?: string; top?: number }): Promise<UsageSummary> {
      const w = usageWindow(clock.now(), q);
      if (q.tenantId) await deps.tenants.findVisible(storage.db, principal, q.tenantId);
      const tenantId = principal.tenantId ?? q.tenantId ?? null;
      const top = q.top ?? 10;
      const key = `${tenantId ?? '*'}|${w.from}|${w.to}|${top}`;
      const hit = summaries.get(key);
      if (hit && Date.now() - hit.at <= hit.reuseMs) return hit.value;
      const started = Date.now();
      const entry = { at: started, reuseMs: SUMMARY_REUSE_MS, value: computeSummary(tenantId, w, top, tenantId === null) };
      void entry.value.then(() => (entry.reuseMs = Math.max(SUMMARY_REUSE_MS, 10 * (Date.now() - started))), () => {});
      summaries.delete(key);
      if (summaries.size >= SUMMARY_CACHE_SIZE) summaries.delete(summaries.keys().next().value!);
      summaries.set(key, entry);
      entry.value.catch(() => {
        if (summaries.get(key) === entry) summaries.delete(key);
      });
      return entry.value;
    },
  };
}

export type UsageQueries = ReturnType<typeof createUsageQueries>;
