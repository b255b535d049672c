import type { Principal } from '../auth/roles.ts';
import type { Clock } from '../shared/clock.ts';
import type { Logger } from '../shared/logger.ts';
import type { Storage } from '../storage/database.ts';
import type { TenantService } from '../tenants/tenant.service.ts';
import { createTrendRepo } from './trend.repo.ts';
import { addDays, findingsJson, OVERALL_SCOPE, seriesPoints, snapshotFigures, TREND_RETENTION_DAYS, trendWindow, utcDay } from './trend.rules.ts';
import type { GovernanceCounts, TrendPoint, TrendScope } from './trend.types.ts';

/** How often the daily timer looks whether today has a snapshot yet (one is taken when it has not). */
const DAILY_CHECK_MS = 60 * 60_000;

export interface TrendSnapshotResult {
  day: string;
  /** Rows written: the platform's and each tenant's with live tokens or findings. */
  scopes: number;
  /** Rows past retention deleted. */
  pruned: number;
}

/**
 * Trends (issue 16): a daily snapshot of the managed share and of live findings by type, per tenant
 * and for the platform, so "are we getting better" has an answer. A snapshot is taken after every
 * governance sweep and, when no sweep has taken one today, by a daily timer; the day's newest
 * figures replace its earlier ones. Counting is the findings summary's own (injected `counts`), so
 * this folder reads no other folder's tables. Snapshots are kept two years (TREND_RETENTION_DAYS).
 */
export function createTrendService(deps: { storage: Storage; clock: Clock; logger: Logger; tenants: TenantService; counts: () => Promise<GovernanceCounts> }) {
  const { storage, clock, logger } = deps;
  const repo = createTrendRepo(storage.dialect);
  let chain: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | null = null;

  async function take(): Promise<TrendSnapshotResult> {
    const counts = await deps.counts();
    const now = clock.now();
    const day = utcDay(now);
    const takenAt = now.toISOString();
    const rows = snapshotFigures(counts).map((f) => ({ scope: f.scope, day, tenant_id: f.tenantId, tokens: f.tokens, managed: f.managed, findings: findingsJson(f.findings), taken_at: takenAt }));
    return storage.db.transaction().execute(async (trx) => {
      await repo.replaceDay(trx, day, rows);
      const pruned = await repo.deleteBefore(trx, addDays(day, -TREND_RETENTION_DAYS));
      return { day, scopes: rows.length, pruned };
    });
  }

  /** Takes today's snapshot now (one at a time: a call while one runs waits for it, then takes its own). */
  function snapshot(): Promise<TrendSnapshotResult> {
    const next = chain.then(take, take);
    chain = next.catch(() => {});
    return next;
  }

  /** The series of a scope over whole UTC days [fromDay, toDay] (the caller has checked who may see it). */
  async function series(scope: TrendScope, fromDay: string, toDay: string): Promise<TrendPoint[]> {
    return seriesPoints(await repo.series(storage.db, scope.tenantId ?? OVERALL_SCOPE, fromDay, toDay));
  }

  return {
    snapshot,
    series,

    /**
     * GET /v1/reports/trends: a tenant's series (a tenant administrator: only theirs; another
     * tenant's answers 404 like a missing one), or the platform's (platform roles, without tenantId).
     */
    async trends(principal: Principal, q: { tenantId?: string; from?: string; to?: string }) {
      const window = trendWindow(clock.now(), q);
      const tenantId = q.tenantId ?? principal.tenantId;
      if (tenantId !== null) await deps.tenants.findVisible(storage.db, principal, tenantId);
      return { tenantId, ...window, points: await series({ tenantId }, window.from, window.to) };
    },

    /** The daily timer (the running server): takes today's snapshot if no sweep has. */
    start(): void {
      if (timer) return;
      timer = setInterval(() => {
        void (async () => {
          if (!(await repo.hasDay(storage.db, utcDay(clock.now())))) logger.info({ trends: await snapshot() }, 'daily trend snapshot');
        })().catch((err: Error) => logger.error({ err: err.message }, 'the daily trend snapshot failed; the next sweep or check takes it'));
      }, DAILY_CHECK_MS);
      timer.unref();
    },

    /** Stops the timer and waits for a snapshot in progress. */
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      timer = null;
      await chain;
    },
  };
}

export type TrendService = ReturnType<typeof createTrendService>;
