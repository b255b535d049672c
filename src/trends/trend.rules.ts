import { CustodyError } from '../shared/errors.ts';
import type { GovernanceCounts, TrendPoint } from './trend.types.ts';

/**
 * Trends as plain functions (issue 16): the UTC day, the window a series is asked for, the rows a
 * snapshot writes from the governance counts, and a series' points from stored rows.
 */

const DAY_MS = 86_400_000;
/** A series spans at most this many days; without `from`, the last DEFAULT_DAYS. */
export const MAX_TREND_DAYS = 366;
export const DEFAULT_TREND_DAYS = 30;
/** Snapshots are kept this long (two years), so a year can be compared with the one before. */
export const TREND_RETENTION_DAYS = 730;
/** The platform-wide snapshot's scope key (a tenant's is its id). */
export const OVERALL_SCOPE = '*';

export const utcDay = (at: Date): string => at.toISOString().slice(0, 10);
export const addDays = (day: string, n: number): string => utcDay(new Date(Date.parse(`${day}T00:00:00.000Z`) + n * DAY_MS));

function dayMs(day: string, name: string): number {
  const ms = Date.parse(`${day}T00:00:00.000Z`);
  // 2026-02-30 parses on some engines and not others; a day must be itself after the round trip.
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || Number.isNaN(ms) || utcDay(new Date(ms)) !== day) throw new CustodyError('trend_window_invalid', `${name} (${day}) is not a calendar day (YYYY-MM-DD).`);
  return ms;
}

/** Whole UTC days, both ends included: `to` defaults to today, `from` to 29 days before `to`. */
export function trendWindow(now: Date, q: { from?: string; to?: string }): { from: string; to: string; days: number } {
  const to = q.to ?? utcDay(now);
  const toMs = dayMs(to, 'to');
  const fromMs = q.from === undefined ? toMs - (DEFAULT_TREND_DAYS - 1) * DAY_MS : dayMs(q.from, 'from');
  const days = Math.round((toMs - fromMs) / DAY_MS) + 1;
  if (days < 1) throw new CustodyError('trend_window_invalid', `from (${q.from}) is after to (${to}).`);
  if (days > MAX_TREND_DAYS) throw new CustodyError('trend_window_invalid', `The window spans ${days} days; ask for at most ${MAX_TREND_DAYS} at a time.`);
  return { from: utcDay(new Date(fromMs)), to, days };
}

/** A snapshot's figures for one scope. */
export interface SnapshotFigures {
  /** A tenant id, or OVERALL_SCOPE. */
  scope: string;
  tenantId: string | null;
  tokens: number;
  managed: number;
  findings: Record<string, number>;
}

/**
 * The figures a snapshot writes: the platform's (every token and every live finding, platform-wide
 * workload findings included) and each tenant's that has live tokens or live findings. A tenant
 * with neither has no row: its series reads zeros for that day (seriesPoints).
 */
export function snapshotFigures(counts: GovernanceCounts): SnapshotFigures[] {
  const overall: SnapshotFigures = { scope: OVERALL_SCOPE, tenantId: null, tokens: 0, managed: 0, findings: {} };
  const tenants = new Map<string, SnapshotFigures>();
  const tenant = (id: string) => {
    let f = tenants.get(id);
    if (!f) tenants.set(id, (f = { scope: id, tenantId: id, tokens: 0, managed: 0, findings: {} }));
    return f;
  };
  for (const t of counts.tokens) {
    const f = tenant(t.tenantId);
    f.tokens += t.live;
    f.managed += t.live - t.unmanaged;
    overall.tokens += t.live;
    overall.managed += t.live - t.unmanaged;
  }
  for (const c of counts.findings) {
    if (c.n <= 0) continue;
    if (c.tenantId !== null) {
      const f = tenant(c.tenantId);
      f.findings[c.type] = (f.findings[c.type] ?? 0) + c.n;
    }
    overall.findings[c.type] = (overall.findings[c.type] ?? 0) + c.n;
  }
  return [overall, ...[...tenants.values()].sort((a, b) => (a.scope < b.scope ? -1 : 1))];
}

/** What a stored row holds, as read back. */
export interface StoredFigures {
  day: string;
  tokens: number | null;
  managed: number | null;
  findings: string | null;
}

/**
 * A series' points: one per day that has a platform snapshot (a day without one — the server was
 * not running — has no point). A tenant without a row on such a day had no live tokens and no
 * live findings then: its point is zeros, with no managed share.
 */
export function seriesPoints(rows: readonly StoredFigures[]): TrendPoint[] {
  return rows.map((r) => {
    const tokens = Number(r.tokens ?? 0);
    const managed = Number(r.managed ?? 0);
    const findings = r.findings ? (JSON.parse(r.findings) as Record<string, number>) : {};
    return { day: r.day, tokens, managed, managedShare: tokens === 0 ? null : managed / tokens, findings };
  });
}

/** Findings by type in a stable order (by type), so a stored snapshot reads the same however it was counted. */
export function findingsJson(findings: Record<string, number>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(findings).sort(([a], [b]) => (a < b ? -1 : 1))));
}
