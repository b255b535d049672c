/**
 * One day of the governance figures (issue 16), for a tenant or the whole platform: live tokens,
 * how many of them are managed (DESIGN §4), the managed share, and live findings by type. The
 * compliance report reads a series of these (typed structurally on its side).
 */
export interface TrendPoint {
  /** The UTC day, YYYY-MM-DD. */
  day: string;
  /** Live (active or suspended) tokens. */
  tokens: number;
  /** Of those, how many pass the practical test. */
  managed: number;
  /** managed / tokens; null when there are no live tokens. */
  managedShare: number | null;
  /** Live findings (open, acknowledged or excepted) by type; types with none are left out. */
  findings: Record<string, number>;
}

/** Whose figures: a tenant's, or (null) the whole platform's. */
export interface TrendScope {
  tenantId: string | null;
}

/**
 * What a snapshot counts, as the findings summary counts it (injected by the composition root:
 * the findings' live counts and the tokens' managed counts, the summary's own two queries).
 */
export interface GovernanceCounts {
  /** Live findings by tenant (null: platform-wide workload findings) and type. */
  findings: readonly { tenantId: string | null; type: string; n: number }[];
  /** Live tokens by tenant, and how many of them are unmanaged. */
  tokens: readonly { tenantId: string; live: number; unmanaged: number }[];
}
