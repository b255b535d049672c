/** The compliance report's value sets and what it is given by other capabilities (typed here, structurally). */

export const REPORT_FORMATS = ['json', 'csv', 'html'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** The tables of the report, as CSV gives them (one per request) and the HTML page shows them. */
export const REPORT_TABLES = [
  'summary',
  'managed_share',
  'trend',
  'findings_by_type',
  'findings_by_owasp_nhi',
  'findings_by_nist_csf',
  'findings_by_nist_ai_rmf',
  'lacking_accountability',
  'exceptions',
  'kill_time',
  'connections',
] as const;
export type ReportTable = (typeof REPORT_TABLES)[number];

/** Who the report is about: one tenant, or (null) every tenant. */
export interface ReportScope {
  tenantId: string | null;
}

/**
 * Access review campaigns created in [from, to) (src/reviews `stats`), injected by the composition
 * root. Declared here by shape so this folder imports nothing of the reviews capability.
 */
export interface ReviewStatsLike {
  campaigns: number;
  items: number;
  decided: number;
  kept: number;
  revoked: number;
  reassigned: number;
  escalated: number;
  open: number;
}
export type ReviewStatsSource = (scope: ReportScope, from: Date, to: Date) => Promise<ReviewStatsLike>;

/** One day of the daily snapshots (src/trends `series`), by shape. */
export interface TrendPointLike {
  day: string;
  tokens: number;
  managed: number;
  managedShare: number | null;
}
/** Days are UTC `YYYY-MM-DD`, both ends included. */
export type TrendSeriesSource = (scope: ReportScope, fromDay: string, toDay: string) => Promise<TrendPointLike[]>;

/** The longest period a report covers, in days. */
export const MAX_PERIOD_DAYS = 366;
/** The period when none is given: the last 30 days. */
export const DEFAULT_PERIOD_DAYS = 30;
/** How many rows the bounded lists of the report hold at most. */
export const REPORT_LIMITS = { lackingTokens: 100, exceptions: 200, connections: 10_000, tenants: 10_000 } as const;
