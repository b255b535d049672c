import { DEFAULT_SEVERITY, FINDING_MAPPINGS, NIST_AI_RMF, NIST_CSF_2, OWASP_NHI_2025 } from '../governance/finding.mappings.ts';
import { FINDING_TYPES, type FindingType } from '../governance/finding.types.ts';
import { CustodyError } from '../shared/errors.ts';
import type { ComplianceReport } from './report.contract.ts';
import { DEFAULT_PERIOD_DAYS, MAX_PERIOD_DAYS, REPORT_TABLES, type ReportTable } from './report.types.ts';

/** The compliance report's rules, as plain functions: the period, percentiles, the framework tallies, the tables. */

const DAY_MS = 86_400_000;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/** JavaScript's parser rolls 2026-02-30 over to March and takes hour 24: the calendar is checked first. */
function onCalendar(value: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt](\d{2}):(\d{2}))?/.exec(value);
  if (!m) return false;
  const [year, month, day, hour, minute] = m.slice(1).map((x) => (x === undefined ? 0 : Number(x))) as [number, number, number, number, number];
  return month >= 1 && month <= 12 && day >= 1 && day <= new Date(Date.UTC(year, month, 0)).getUTCDate() && hour <= 23 && minute <= 59;
}

function instant(value: string, name: 'from' | 'to'): Date {
  // A date alone is a UTC day: `from` starts at its midnight, `to` takes in the whole day.
  const d = DATE_ONLY.test(value) ? new Date(`${value}T00:00:00.000Z`) : new Date(value);
  if (!onCalendar(value) || Number.isNaN(d.getTime())) throw new CustodyError('report_period_invalid', `${name} "${value}" is not a date (YYYY-MM-DD) or an ISO 8601 timestamp.`, [{ path: `query/${name}`, message: 'must be a valid date or timestamp' }]);
  return name === 'to' && DATE_ONLY.test(value) ? new Date(d.getTime() + DAY_MS) : d;
}

/** The first and last instant with a four-digit year: 0001-01-01 and 9999-12-31T23:59:59.999Z. */
const YEAR_BOUNDS_MS = [Date.parse('0001-01-01T00:00:00.000Z'), Date.parse('9999-12-31T23:59:59.999Z')] as const;

/** The report's period [from, to): defaults to the last 30 days, at most 366 days, from before to. */
export function parsePeriod(q: { from?: string | undefined; to?: string | undefined }, now: Date): { from: Date; to: Date } {
  const to = q.to === undefined ? now : instant(q.to, 'to');
  const from = q.from === undefined ? new Date(to.getTime() - DEFAULT_PERIOD_DAYS * DAY_MS) : instant(q.from, 'from');
  // Within the years a timestamp has four digits for (the answer's own period must be a valid timestamp).
  for (const [name, d] of [['from', from], ['to', to]] as const) {
    if (d.getTime() < YEAR_BOUNDS_MS[0] || d.getTime() > YEAR_BOUNDS_MS[1]) {
      throw new CustodyError('report_period_invalid', `${name} is outside the years 0001 to 9999.`, [{ path: `query/${name}`, message: name === 'to' ? 'must be in the years 0001 to 9999 (a date takes in its whole day: at most 9999-12-30)' : 'must be in the years 0001 to 9999' }]);
    }
  }
  if (from.getTime() >= to.getTime()) {
    throw new CustodyError('report_period_invalid', `The period is empty: from (${from.toISOString()}) must be before to (${to.toISOString()}).`, [{ path: 'query/from', message: 'must be before to' }]);
  }
  if (to.getTime() - from.getTime() > MAX_PERIOD_DAYS * DAY_MS) {
    throw new CustodyError('report_period_invalid', `The period spans ${Math.ceil((to.getTime() - from.getTime()) / DAY_MS)} days; at most ${MAX_PERIOD_DAYS} can be asked for at once. Ask for several shorter periods.`, [{ path: 'query/from', message: `at most ${MAX_PERIOD_DAYS} days before to` }]);
  }
  return { from, to };
}

/** The UTC day (YYYY-MM-DD) of an instant. */
export const dayOf = (d: Date): string => d.toISOString().slice(0, 10);

/** The days a trend over [from, to) covers, both ends included (the day of the last instant before `to`). */
export function periodDays(from: Date, to: Date): { fromDay: string; toDay: string } {
  return { fromDay: dayOf(from), toDay: dayOf(new Date(to.getTime() - 1)) };
}

/** managed ÷ live, rounded to 4 decimals; null when nothing is live. */
export function shareOf(managed: number, live: number): number | null {
  return live === 0 ? null : Math.round((managed / live) * 10_000) / 10_000;
}

/**
 * Count, median, 99th percentile and maximum of durations given as (value, how many) pairs in
 * ascending order. Nearest rank: the p-th percentile is the smallest value at or above which lie
 * p% of the measurements (rank ⌈p/100 · n⌉).
 */
export function durationStats(counts: readonly { ms: number; n: number }[]): { count: number; p50Ms: number | null; p99Ms: number | null; maxMs: number | null } {
  const count = counts.reduce((s, c) => s + c.n, 0);
  if (count === 0) return { count, p50Ms: null, p99Ms: null, maxMs: null };
  const at = (p: number) => {
    const rank = Math.max(1, Math.ceil((p / 100) * count));
    let seen = 0;
    for (const c of counts) {
      seen += c.n;
      if (seen >= rank) return c.ms;
    }
    return counts[counts.length - 1]!.ms;
  };
  return { count, p50Ms: at(50), p99Ms: at(99), maxMs: counts[counts.length - 1]!.ms };
}

/** The upper bounds (ms, exclusive) of the kill-time distribution's buckets; the last bucket is open. */
export const KILL_TIME_BUCKETS_MS = [10, 50, 100, 500, 1_000, 5_000, 60_000, 3_600_000] as const;

/**
 * Durations given as (value, how many) pairs counted into the kill-time buckets: one row per
 * bucket, every bucket listed (0 when empty), `underMs` null for the last (open) one.
 */
export function durationBuckets(counts: readonly { ms: number; n: number }[]): { underMs: number | null; count: number }[] {
  const out: { underMs: number | null; count: number }[] = [...KILL_TIME_BUCKETS_MS.map((underMs) => ({ underMs, count: 0 })), { underMs: null, count: 0 }];
  for (const c of counts) {
    const i = KILL_TIME_BUCKETS_MS.findIndex((b) => c.ms < b);
    out[i === -1 ? KILL_TIME_BUCKETS_MS.length : i]!.count += c.n;
  }
  return out;
}

/** The NIST AI RMF category of a subcategory: `GOVERN 1.6` → `GOVERN 1`. */
export const aiRmfCategory = (subcategory: string): string => subcategory.replace(/\.\d+$/, '');

/**
 * Live findings counted by the frameworks of the one mapping table (finding.mappings.ts): a
 * finding counts once for each OWASP item, CSF subcategory and AI RMF subcategory its type maps
 * to, and once per AI RMF category however many of that category's subcategories it maps to.
 * Every item of each table is listed, those with no finding at 0.
 */
export function tallyFindings(counts: readonly { type: FindingType; status: string; n: number }[]): Omit<ComplianceReport['findings'], 'sweptAt'> {
  const byType = new Map<FindingType, number>();
  const bySeverity: Record<string, number> = { critical: 0, high: 0, medium: 0, low: 0 };
  const byStatus: Record<string, number> = { open: 0, acknowledged: 0, excepted: 0 };
  let total = 0;
  for (const c of counts) {
    total += c.n;
    byType.set(c.type, (byType.get(c.type) ?? 0) + c.n);
    bySeverity[DEFAULT_SEVERITY[c.type]] = (bySeverity[DEFAULT_SEVERITY[c.type]] ?? 0) + c.n;
    byStatus[c.status] = (byStatus[c.status] ?? 0) + c.n;
  }
  const tally = (ids: readonly string[], mapped: (t: FindingType) => readonly string[]) => {
    const out = new Map<string, number>(ids.map((id) => [id, 0]));
    for (const [type, n] of byType) for (const id of new Set(mapped(type))) out.set(id, (out.get(id) ?? 0) + n);
    return out;
  };
  const refs = (names: Record<string, string>, counted: Map<string, number>) => [...counted].map(([id, count]) => ({ id, name: names[id] ?? id, count }));
  const aiSubs = Object.keys(NIST_AI_RMF);
  const categories = [...new Set(aiSubs.map(aiRmfCategory))];
  return {
    total,
    bySeverity,
    byStatus,
    byType: FINDING_TYPES.map((type) => ({ type, severity: DEFAULT_SEVERITY[type], count: byType.get(type) ?? 0 })),
    owaspNhi: refs(OWASP_NHI_2025, tally(Object.keys(OWASP_NHI_2025), (t) => FINDING_MAPPINGS[t].owaspNhi)),
    nistCsf: refs(NIST_CSF_2, tally(Object.keys(NIST_CSF_2), (t) => FINDING_MAPPINGS[t].nistCsf)),
    nistAiRmf: {
      categories: [...tally(categories, (t) => FINDING_MAPPINGS[t].nistAiRmf.map(aiRmfCategory))].map(([id, count]) => ({ id, count })),
      subcategories: refs(NIST_AI_RMF, tally(aiSubs, (t) => FINDING_MAPPINGS[t].nistAiRmf)),
    },
  };
}

export type Cell = string | number | boolean | null;
export interface ReportTableData {
  name: ReportTable;
  title: string;
  columns: string[];
  rows: Cell[][];
}

/** Whether `name` is one of the report's tables (for CSV's `table=`). */
export function isReportTable(name: string): name is ReportTable {
  return (REPORT_TABLES as readonly string[]).includes(name);
}

/** A share as a percentage with one decimal, as text ("0.0", "88.2"): the same in CSV and HTML. */
const pct = (share: number | null) => (share === null ? null : (Math.round(share * 1000) / 10).toFixed(1));

/** One table of the report, as rows of plain cells: what a CSV file holds and the HTML page shows. */
export function reportTable(r: ComplianceReport, name: ReportTable): ReportTableData {
  switch (name) {
    case 'summary': {
      const k = r.killTime;
      const rows: Cell[][] = [
        ['report', 'scope', r.scope.tenantId ? `${r.scope.tenantName ?? r.scope.tenantId} (${r.scope.tenantId})` : `every tenant (${r.scope.tenants})`],
        ['report', 'period from', r.period.from],
        ['report', 'period to (exclusive)', r.period.to],
        ['report', 'generated at', r.generatedAt],
        ['report', 'generated by', r.generatedBy],
        ['report', 'custody', `${r.custody.publicUrl} (version ${r.custody.version})`],
        ['managed share', 'live tokens', r.managedShare.live],
        ['managed share', 'managed', r.managedShare.managed],
        ['managed share', 'unmanaged', r.managedShare.unmanaged],
        ['managed share', 'share (%)', pct(r.managedShare.share)],
        ['findings', 'live findings', r.findings.total],
        ...Object.entries(r.findings.bySeverity).map(([s, n]): Cell[] => ['findings', `severity ${s}`, n]),
        ...Object.entries(r.findings.byStatus).map(([s, n]): Cell[] => ['findings', `status ${s}`, n]),
        ['accountability', 'lacking an owner', r.accountability.lackingOwner],
        ['accountability', 'lacking an approver', r.accountability.lackingApprover],
        ['accountability', 'lacking a purpose', r.accountability.lackingPurpose],
        ['exceptions', 'in force', r.exceptions.inForce],
        ['reviews', 'review current', r.reviews.reviewCurrent],
        ['reviews', 'review overdue', r.reviews.reviewOverdue],
        ['reviews', 'coverage (%)', pct(r.reviews.coverage)],
        ...(r.reviews.campaigns
          ? Object.entries(r.reviews.campaigns).map(([key, n]): Cell[] => ['reviews', `campaigns in period: ${key}`, n])
          : [['reviews', 'campaigns in period', r.reviews.note] as Cell[]]),
        ['kill time', 'revocations in period', k.revocations],
        ['kill time', 'locally effective p50 (ms)', k.locallyEffective.p50Ms],
        ['kill time', 'locally effective p99 (ms)', k.locallyEffective.p99Ms],
        ['kill time', 'upstream verified', k.upstreamVerified.count],
        ['kill time', 'upstream verified p50 (ms)', k.upstreamVerified.p50Ms],
        ['kill time', 'upstream verified p99 (ms)', k.upstreamVerified.p99Ms],
        ['connections', 'tenant × provider pairs', r.connections.omitted ? null : r.connections.pairs],
        ['ledger', 'checkpoint seq', r.ledger.checkpoint?.seq ?? null],
        ['ledger', 'checkpoint hash', r.ledger.checkpoint?.hash ?? null],
        ['ledger', 'checkpoint signed at', r.ledger.checkpoint?.at ?? null],
        ['ledger', 'signing key', r.ledger.checkpoint?.keyId ?? null],
      ];
      return { name, title: 'Summary', columns: ['section', 'measure', 'value'], rows };
    }
    case 'managed_share':
      return {
        name,
        title: 'Managed share by tenant',
        columns: ['tenant_id', 'tenant_name', 'live', 'managed', 'unmanaged', 'share_percent'],
        rows: r.managedShare.byTenant.map((t) => [t.tenantId, t.tenantName, t.live, t.managed, t.unmanaged, pct(t.share)]),
      };
    case 'trend':
      return { name, title: 'Managed share, day by day', columns: ['day', 'live', 'managed', 'share_percent'], rows: r.managedShare.trend.points.map((p) => [p.day, p.live, p.managed, pct(p.share)]) };
    case 'findings_by_type':
      return { name, title: 'Live findings by type', columns: ['type', 'severity', 'count'], rows: r.findings.byType.map((f) => [f.type, f.severity, f.count]) };
    case 'findings_by_owasp_nhi':
      return { name, title: 'Live findings by OWASP NHI Top 10 (2025) item', columns: ['id', 'risk', 'count'], rows: r.findings.owaspNhi.map((x) => [x.id, x.name, x.count]) };
    case 'findings_by_nist_csf':
      return { name, title: 'Live findings by NIST CSF 2.0 subcategory', columns: ['id', 'outcome', 'count'], rows: r.findings.nistCsf.map((x) => [x.id, x.name, x.count]) };
    case 'findings_by_nist_ai_rmf':
      return {
        name,
        title: 'Live findings by NIST AI RMF 1.0 category and subcategory',
        columns: ['level', 'id', 'outcome', 'count'],
        rows: [...r.findings.nistAiRmf.categories.map((c): Cell[] => ['category', c.id, null, c.count]), ...r.findings.nistAiRmf.subcategories.map((s): Cell[] => ['subcategory', s.id, s.name, s.count])],
      };
    case 'lacking_accountability':
      return {
        name,
        title: `Live tokens lacking an owner, approver or purpose (first ${r.accountability.listLimit} by id)`,
        columns: ['token_id', 'tenant_id', 'provider_id', 'owner', 'lacking'],
        rows: r.accountability.tokens.map((t) => [t.tokenId, t.tenantId, t.providerId, t.owner, t.lacking.join(' ')]),
      };
    case 'exceptions':
      return {
        name,
        title: 'Exceptions in force',
        columns: ['id', 'tenant_id', 'token_id', 'finding_type', 'approved_by', 'reason', 'expires_at'],
        rows: r.exceptions.items.map((e) => [e.id, e.tenantId, e.tokenId, e.findingType, e.approvedBy, e.reason, e.expiresAt]),
      };
    case 'kill_time': {
      const k = r.killTime;
      const stat = (what: string, s: typeof k.locallyEffective): Cell[] => [what, s.count, s.p50Ms, s.p99Ms, s.maxMs];
      return {
        name,
        title: 'Kill time of the revocations requested in the period',
        columns: ['measure', 'count', 'p50_ms', 'p99_ms', 'max_ms'],
        rows: [
          stat('requested → locally effective', k.locallyEffective),
          stat('requested → verified upstream', k.upstreamVerified),
          ...Object.entries(k.upstreamOutcomes).map(([outcome, n]): Cell[] => [`upstream outcome: ${outcome}`, n, null, null, null]),
        ],
      };
    }
    case 'connections':
      return {
        name,
        title: 'Providers connected to each tenant, with the scopes granted',
        columns: ['tenant_id', 'tenant_name', 'provider_id', 'provider_name', 'live_tokens', 'scopes'],
        rows: r.connections.items.map((c) => [c.tenantId, c.tenantName, c.providerId, c.providerName, c.liveTokens, c.scopes.map((s) => `${s.scope}(${s.tokens})`).join(' ')]),
      };
  }
}
