import type { Principal } from '../auth/roles.ts';
import type { ExceptionService } from '../governance/exception.service.ts';
import type { FindingQueries } from '../governance/finding.queries.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { ProviderService } from '../providers/provider.service.ts';
import type { Clock } from '../shared/clock.ts';
import { CustodyError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { TenantService } from '../tenants/tenant.service.ts';
import type { TokenService } from '../tokens/token.service.ts';
import type { ComplianceReport, KillTimes, SignedReport } from './report.contract.ts';
import { tableCsv } from './report.csv.ts';
import { reportHtml } from './report.html.ts';
import { durationBuckets, durationStats, isReportTable, parsePeriod, periodDays, reportTable, shareOf, tallyFindings } from './report.rules.ts';
import type { ReportReads } from './report.reads.ts';
import { signReport, type ReportSigner } from './report.signature.ts';
import { REPORT_LIMITS, REPORT_TABLES, type ReportFormat, type ReviewStatsSource, type TrendSeriesSource } from './report.types.ts';

export interface ReportServiceDeps {
  clock: Clock;
  logger?: Logger;
  /** Who produced the report: this instance's public URL and version. */
  instance: { publicUrl: string; version: string };
  /** The ledger's signing key (vault.ledgerSigner): reports are signed with the key that signs checkpoints. */
  signer: ReportSigner;
  tenants: Pick<TenantService, 'get' | 'list'>;
  providers: Pick<ProviderService, 'list'>;
  tokens: Pick<TokenService, 'reportQueries'>;
  findings: Pick<FindingQueries, 'tokensWithFinding'>;
  /** When the newest finished governance sweep started (findings.lastSweepStart). */
  lastSweepStart: () => Promise<string | null>;
  exceptions: Pick<ExceptionService, 'activeRows' | 'list'>;
  ledger: Pick<LedgerService, 'checkpointNow' | 'latestCheckpoint'>;
  /** Access review campaigns of the period (src/reviews), when the server has them. */
  reviewStats?: ReviewStatsSource;
  /** The daily managed-share snapshots (src/trends), when the server has them. */
  trendSeries?: TrendSeriesSource;
  /** The heavy counts: on reading threads of their own on a SQLite file, else on the serving storage (report.reads.ts). */
  reads: ReportReads;
}

export interface ReportQuery {
  tenantId?: string | undefined;
  /** 'omit': leave the connections out (the report says so); the live counts per tenant are then counted on their own. */
  connections?: 'include' | 'omit' | undefined;
  from?: string | undefined;
  to?: string | undefined;
}

export interface RenderedReport {
  contentType: string;
  body: string;
  /** A file name for the download: custody-compliance-{scope}-{to day}[-{table}].{ext} */
  filename: string;
}

/** The findings that mean a token has no accountable owner on the platform's side. */
const OWNERLESS = ['no_owner', 'owner_orphaned'] as const;

/**
 * The compliance report (issue 16): every figure counted over the inventory and the findings at
 * the moment it is generated (kill times and review campaigns over its period), signed with the
 * ledger's key and tied to the ledger head by the newest signed checkpoint. Each figure comes from
 * the capability that owns it (tokens, findings, exceptions, ledger, reviews, trends); this
 * service only puts them together.
 */
/** Reports (and kill-time counts) computing at once for one scope (a tenant, or every tenant). */
const MAX_COMPUTING_PER_SCOPE = 4;
/** How long a kill-times answer is reused for the same scope and period (a default period ends "now"). */
const KILL_TIMES_REUSE_MS = 10_000;
const KILL_TIMES_KEPT = 500;

export function createReportService(deps: ReportServiceDeps) {
  const { clock } = deps;
  const { reads } = deps;

  /** One tenant (a tenant administrator's own, or the one named), or null for every tenant. */
  async function scopeOf(principal: Principal, tenantId: string | undefined): Promise<{ id: string; name: string } | null> {
    // A tenant administrator naming another tenant gets exactly what a missing tenant gets.
    const id = tenantId ?? principal.tenantId ?? undefined;
    if (id === undefined) return null;
    const t = await deps.tenants.get(principal, id);
    return { id: t.id, name: t.name };
  }

  /** Tokens lacking an owner (findings), approver or purpose (the record): how many lack an owner, and the first of them all. */
  async function lacking(tenantId: string | undefined, anyWithoutApproverOrPurpose: boolean) {
    const limit = REPORT_LIMITS.lackingTokens;
    // One more than shown tells whether the list was cut.
    const ownerless = await deps.findings.tokensWithFinding(tenantId, OWNERLESS, limit + 1);
    const rows = ownerless.count > 0 || anyWithoutApproverOrPurpose ? await deps.tokens.reportQueries.lackingAccountability(tenantId, limit + 1, ownerless.tokens) : [];
    const noOwner = new Set(ownerless.tokens.map((t) => t.id));
    const tokens = rows.slice(0, limit).map((t) => ({
      tokenId: t.id,
      tenantId: t.tenantId,
      providerId: t.providerId,
      owner: t.owner,
      lacking: [...(noOwner.has(t.id) ? ['owner' as const] : []), ...(t.hasApprover ? [] : ['approver' as const]), ...(t.hasPurpose ? [] : ['purpose' as const])],
    }));
    return { ownerlessCount: ownerless.count, tokens, truncated: rows.length > limit };
  }

  // Reports (and kill times) computing at once per scope (a tenant, or every tenant): past the
  // bound a caller is told to retry, so one tenant asking again and again holds at most this many
  // of the reading threads' places, never all of them.
  const computing = new Map<string, number>();
  async function bounded<T>(scope: string, work: () => Promise<T>): Promise<T> {
    const n = computing.get(scope) ?? 0;
    if (n >= MAX_COMPUTING_PER_SCOPE) {
      throw new CustodyError('report_busy', `${MAX_COMPUTING_PER_SCOPE} reports for ${scope === '*' ? 'every tenant' : 'this tenant'} are being computed already; retry when one has answered.`);
    }
    computing.set(scope, n + 1);
    try {
      return await work();
    } finally {
      const left = (computing.get(scope) ?? 1) - 1;
      if (left <= 0) computing.delete(scope);
      else computing.set(scope, left);
    }
  }

  // Kill times are a dashboard's: the same scope and period asked again within KILL_TIMES_REUSE_MS
  // gets the same answer, computed once for every caller meanwhile (at most KILL_TIMES_KEPT kept).
  const killTimesKept = new Map<string, { at: number; value: Promise<KillTimes> }>();

  async function killTimesFor(tenant: { id: string } | null, period: { from: Date; to: Date }): Promise<KillTimes> {
    const kill = await reads.revocationTimes(tenant?.id, period.from.toISOString(), period.to.toISOString());
    return {
      scope: { tenantId: tenant?.id ?? null },
      period: { from: period.from.toISOString(), to: period.to.toISOString() },
      revocations: kill.revocations,
      locallyEffective: { ...durationStats(kill.locallyEffective), buckets: durationBuckets(kill.locallyEffective) },
      upstreamVerified: { ...durationStats(kill.upstreamVerified), buckets: durationBuckets(kill.upstreamVerified) },
      upstreamOutcomes: kill.outcomes,
    };
  }

  async function generate(principal: Principal, q: ReportQuery): Promise<SignedReport> {
    const tenant = await scopeOf(principal, q.tenantId);
    return bounded(tenant?.id ?? '*', () => generateFor(principal, q, tenant));
  }

  async function generateFor(principal: Principal, q: ReportQuery, tenant: { id: string; name: string } | null): Promise<SignedReport> {
    const now = clock.now();
    const period = parsePeriod(q, now);
    const tid = tenant?.id;
    // The heavy reads start at once, the heaviest first so it has a reading thread to itself
    // (report.reads.ts); the checkpoint below is signed meanwhile. Each is awaited below (a failure
    // before then is not an unhandled rejection: the report fails with the first error).
    const omitConnections = q.connections === 'omit';
    const connectionsRead = omitConnections ? Promise.resolve([]) : reads.connections(tid);
    const liveRead = omitConnections ? reads.liveCounts(tid) : Promise.resolve(null);
    const countsRead = reads.findingCounts(tid);
    const lackingRead = reads.lackingCounts(tid);
    const killRead = reads.revocationTimes(tid, period.from.toISOString(), period.to.toISOString());
    for (const started of [connectionsRead, liveRead, countsRead, lackingRead, killRead]) started.catch(() => undefined);
    // Tie the report to the current head: sign a checkpoint if the head moved since the last one
    // (as a serving instance does within a second of any append), logged like every checkpoint.
    const signedNow = await deps.ledger.checkpointNow();
    if (signedNow) deps.logger?.info({ checkpoint: signedNow }, 'ledger checkpoint signed');
    const { fromDay, toDay } = periodDays(period.from, period.to);
    const [lackingCounts, counts, connections, kill, activeExceptions, exceptionItems, providers, tenantList, trend, campaigns, checkpoint, sweptAt] = await Promise.all([
      lackingRead,
      countsRead,
      connectionsRead,
      killRead,
      deps.exceptions.activeRows(),
      deps.exceptions.list(principal, { tenantId: tid, status: 'active' }),
      deps.providers.list(),
      deps.tenants.list(principal),
      deps.trendSeries ? deps.trendSeries({ tenantId: tid ?? null }, fromDay, toDay) : Promise.resolve(null),
      deps.reviewStats ? deps.reviewStats({ tenantId: tid ?? null }, period.from, period.to) : Promise.resolve(null),
      deps.ledger.latestCheckpoint(),
      deps.lastSweepStart(),
    ]);

    // Live tokens per tenant from the connections (their sum), and what they lack from the partial indexes.
    const liveOf = new Map<string, number>(await liveRead);
    if (!omitConnections) for (const c of connections) liveOf.set(c.tenantId, (liveOf.get(c.tenantId) ?? 0) + c.live);
    const noApproverOf = new Map(lackingCounts.noApprover);
    const noPurposeOf = new Map(lackingCounts.noPurpose);
    const accountability = [...liveOf]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([tenantId, live]) => ({ tenantId, live, noApprover: noApproverOf.get(tenantId) ?? 0, noPurpose: noPurposeOf.get(tenantId) ?? 0 }));
    const ownerless = await lacking(tid, accountability.some((a) => a.noApprover + a.noPurpose > 0));
    const tenantName = new Map(tenantList.map((t) => [t.id, t.name]));
    const providerName = new Map(providers.map((p) => [p.id, p.name]));
    // The practical test and the review dates as governance judged them: the live `unmanaged` and
    // `review_overdue` findings of each tenant (the findings below count the same rows).
    const judged = (type: 'unmanaged' | 'review_overdue') => {
      const out = new Map<string, number>();
      for (const c of counts) if (c.type === type && c.tenantId) out.set(c.tenantId, (out.get(c.tenantId) ?? 0) + c.n);
      return out;
    };
    const unmanagedOf = judged('unmanaged');
    const overdueOf = judged('review_overdue');
    const perTenant = accountability.map((a) => ({ ...a, unmanaged: Math.min(a.live, unmanagedOf.get(a.tenantId) ?? 0), reviewOverdue: Math.min(a.live, overdueOf.get(a.tenantId) ?? 0) }));
    const sum = (pick: (a: (typeof perTenant)[number]) => number) => perTenant.reduce((s, a) => s + pick(a), 0);
    const live = sum((a) => a.live);
    const unmanaged = sum((a) => a.unmanaged);
    const reviewOverdue = sum((a) => a.reviewOverdue);
    const inForce = activeExceptions.filter((e) => tid === undefined || e.tenantId === tid);
    const byFindingType = new Map<string, number>();
    for (const e of inForce) byFindingType.set(e.findingType, (byFindingType.get(e.findingType) ?? 0) + 1);

    const report: ComplianceReport = {
      kind: 'custody.compliance-report',
      version: 1,
      generatedAt: now.toISOString(),
      generatedBy: principal.actor,
      custody: { version: deps.instance.version, publicUrl: deps.instance.publicUrl },
      scope: { tenantId: tenant?.id ?? null, tenantName: tenant?.name ?? null, tenants: tenant ? 1 : tenantList.length },
      period: { from: period.from.toISOString(), to: period.to.toISOString() },
      managedShare: {
        live,
        managed: live - unmanaged,
        unmanaged,
        share: shareOf(live - unmanaged, live),
        byTenant: perTenant.slice(0, REPORT_LIMITS.tenants).map((a) => ({ tenantId: a.tenantId, tenantName: tenantName.get(a.tenantId) ?? null, live: a.live, managed: a.live - a.unmanaged, unmanaged: a.unmanaged, share: shareOf(a.live - a.unmanaged, a.live) })),
        byTenantTruncated: accountability.length > REPORT_LIMITS.tenants,
        trend: trend
          ? { points: trend.map((p) => ({ day: p.day, live: p.tokens, managed: p.managed, share: shareOf(p.managed, p.tokens) })), note: trend.length === 0 ? 'No daily snapshot was taken in the period.' : null }
          : { points: [], note: 'This server keeps no daily snapshots of the managed share, so there is no trend to show.' },
      },
      findings: { ...tallyFindings(counts), sweptAt },
      accountability: {
        live,
        lackingOwner: ownerless.ownerlessCount,
        lackingApprover: sum((a) => a.noApprover),
        lackingPurpose: sum((a) => a.noPurpose),
        tokens: ownerless.tokens,
        listLimit: REPORT_LIMITS.lackingTokens,
        truncated: ownerless.truncated,
      },
      exceptions: {
        inForce: inForce.length,
        byFindingType: [...byFindingType].sort(([a], [b]) => (a < b ? -1 : 1)).map(([findingType, count]) => ({ findingType, count })),
        items: exceptionItems.slice(0, REPORT_LIMITS.exceptions).map((e) => ({ id: e.id, tenantId: e.tenantId, tokenId: e.tokenId, findingType: e.findingType, approvedBy: e.approvedBy, reason: e.reason, expiresAt: e.expiresAt })),
        truncated: inForce.length > Math.min(exceptionItems.length, REPORT_LIMITS.exceptions),
      },
      reviews: {
        live,
        reviewCurrent: live - reviewOverdue,
        reviewOverdue,
        coverage: shareOf(live - reviewOverdue, live),
        campaigns: campaigns ? { campaigns: campaigns.campaigns, items: campaigns.items, decided: campaigns.decided, kept: campaigns.kept, revoked: campaigns.revoked, reassigned: campaigns.reassigned, escalated: campaigns.escalated, open: campaigns.open } : null,
        note: campaigns ? null : 'This server runs no access review campaigns, so only the review dates of the tokens are counted.',
      },
      killTime: {
        revocations: kill.revocations,
        locallyEffective: durationStats(kill.locallyEffective),
        upstreamVerified: durationStats(kill.upstreamVerified),
        upstreamOutcomes: kill.outcomes,
      },
      connections: {
        ...(omitConnections ? { omitted: true as const } : {}),
        pairs: connections.length,
        items: connections.slice(0, REPORT_LIMITS.connections).map((c) => ({
          tenantId: c.tenantId,
          tenantName: tenantName.get(c.tenantId) ?? null,
          providerId: c.providerId,
          providerName: providerName.get(c.providerId) ?? null,
          liveTokens: c.live,
          scopes: Object.keys(c.scopes)
            .sort()
            .map((scope) => ({ scope, tokens: c.scopes[scope]! })),
        })),
        truncated: connections.length > REPORT_LIMITS.connections,
      },
      ledger: { checkpoint: checkpoint ?? null },
    };
    return signReport(report, deps.signer);
  }

  return {
    generate,

    /** The kill times of the period alone (the overview's distribution): the same figures as the report's `killTime`, with buckets. */
    async killTimes(principal: Principal, q: { tenantId?: string | undefined; from?: string | undefined; to?: string | undefined }): Promise<KillTimes> {
      const now = clock.now();
      const period = parsePeriod(q, now);
      const tenant = await scopeOf(principal, q.tenantId);
      const key = `${tenant?.id ?? '*'}|${q.from ?? ''}|${q.to ?? ''}`;
      const kept = killTimesKept.get(key);
      const age = kept ? now.getTime() - kept.at : -1;
      if (kept && age >= 0 && age < KILL_TIMES_REUSE_MS) return kept.value;
      const value = bounded(tenant?.id ?? '*', () => killTimesFor(tenant, period));
      killTimesKept.delete(key);
      killTimesKept.set(key, { at: now.getTime(), value });
      while (killTimesKept.size > KILL_TIMES_KEPT) killTimesKept.delete(killTimesKept.keys().next().value!);
      // A failure is not kept.
      value.catch(() => {
        if (killTimesKept.get(key)?.value === value) killTimesKept.delete(key);
      });
      return value;
    },

    /** The report in one format: signed JSON, one CSV table, or the HTML page. */
    async render(principal: Principal, q: ReportQuery & { format?: ReportFormat | undefined; table?: string | undefined }): Promise<RenderedReport> {
      const format = q.format ?? 'json';
      // A bad table is refused before any counting; a table with another format is not silently ignored.
      if (format !== 'csv' && q.table !== undefined) {
        throw new CustodyError('report_table_invalid', `table= picks one CSV table; the ${format} report holds them all: add format=csv, or leave table out.`, [{ path: 'query/table', message: 'only with format=csv' }]);
      }
      if (format === 'csv' && (q.table === undefined || !isReportTable(q.table))) {
        const what = q.table === undefined ? 'CSV gives one table per request: add table=' : `There is no table "${q.table}": use table=`;
        throw new CustodyError('report_table_invalid', `${what}one of ${REPORT_TABLES.join(', ')}.`, [{ path: 'query/table', message: `must be one of ${REPORT_TABLES.join(', ')}` }]);
      }
      const signed = await generate(principal, q);
      const base = `custody-compliance-${signed.report.scope.tenantId ?? 'all-tenants'}-${signed.report.period.to.slice(0, 10)}`;
      if (format === 'csv') {
        const table = q.table as (typeof REPORT_TABLES)[number];
        return { contentType: 'text/csv; charset=utf-8; header=present', body: tableCsv(reportTable(signed.report, table)), filename: `${base}-${table}.csv` };
      }
      if (format === 'html') return { contentType: 'text/html; charset=utf-8', body: reportHtml(signed.report, signed.signature), filename: `${base}.html` };
      return { contentType: 'application/json; charset=utf-8', body: JSON.stringify(signed), filename: `${base}.json` };
    },
  };
}

export type ReportService = ReturnType<typeof createReportService>;
