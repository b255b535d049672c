import { availableParallelism } from 'node:os';
import type { DatabaseConfig } from '../config/config.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { Clock } from '../shared/clock.ts';
import type { Logger } from '../shared/logger.ts';
import type { Db, Storage } from '../storage/database.ts';
import type { TokenService } from '../tokens/token.service.ts';
import type { DirectoryService } from './directory.service.ts';
import type { ExceptionService } from './exception.service.ts';
import { diffFindings, isEmptyDiff, judgeTokens, splitDiff, withoutSubjects, type Diff, type Subject } from './finding.diff.ts';
import { createFindingRepo } from './finding.repo.ts';
import { workloadFindings, type FindingCandidate } from './finding.rules.ts';
import { buildContext, type Context, type ContextData } from './governance.context.ts';
import type { PolicyService } from './policy.service.ts';
import { runSweepPages } from './sweep.runner.ts';
import type { EnforcementCounts } from './enforcement.service.ts';

/** A finding changed (an enforcement pass moved it) between a read and the write based on it. */
class FindingMoved extends Error {
  constructor() {
    super('a finding changed while it was being judged');
  }
}

/**
 * Tokens read and judged per page of a sweep (on the sweep's thread). A page of a first sweep's
 * findings and risk scores is about 2 MB serialised, several times that as objects, and each
 * thread may have one page waiting while another is written: at 1,000 tokens a page the sweeping
 * server peaked near 360 MB, at 500 near 260 MB, equally fast (100k tokens, plain node).
 */
const SWEEP_PAGE = 500;
/**
 * Tokens whose changes are written per transaction of a sweep, on the serving thread, which gets
 * a turn between each two: a first sweep opens three or four findings a token, and a whole
 * page's writes held that thread for a second or more.
 */
const SWEEP_WRITE_BATCH = 250;
/** Tokens waiting for re-evaluation after a change; past this the next sweep does the rest. */
const MAX_DIRTY = 50_000;
/** Tokens re-evaluated per transaction after changes: small, so each holds the serving thread briefly (SQLite). */
const DIRTY_BATCH = 100;
/** Threads a sweep reads and judges on: two cores' worth, each at a lower priority than serving. */
const SWEEP_THREADS = Math.max(1, Math.min(2, availableParallelism()));

export interface ReconcileCounts {
  opened: number;
  resolved: number;
  changed: number;
  /** Tokens whose risk score (or its components) was written. */
  riskChanged: number;
}

export interface SweepResult extends ReconcileCounts {
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  tokens: number;
  workloads: number;
  /** What the enforcement pass that follows the sweep did (null when none is wired: tests of findings alone). */
  enforcement: EnforcementCounts | null;
}

/**
 * Keeps the findings table equal to what the rules (finding.rules.ts) say of every live token and
 * workload: after each relevant change (the changed tokens, soon after, off the request path) and
 * by a sweep over everything (scheduled, and on demand). A finding is opened once, kept while it
 * holds (each finished sweep confirms every live finding: its lastSeenAt), and resolved when its
 * cause clears; an exception in force marks it excepted, and its expiry reopens it.
 */
export function createFindingService(deps: {
  storage: Storage;
  database: DatabaseConfig;
  ledger: LedgerService;
  clock: Clock;
  logger: Logger;
  tokens: TokenService;
  policy: PolicyService;
  directory: DirectoryService;
  exceptions: ExceptionService;
  /** Each provider's scope catalogue (the risk score's scope sensitivity); without it every scope counts as not catalogued. */
  scopeCatalogues?: () => Promise<NonNullable<ContextData['scopeCatalogues']>>;
}) {
  const { storage, ledger, clock, logger, tokens } = deps;
  const repo = createFindingRepo(storage.dialect);

  /** What findings are judged against now, as plain data (it crosses to the sweep's thread). */
  async function contextData(): Promise<ContextData> {
    const [policies, directory, exceptions, scopeCatalogues] = await Promise.all([deps.policy.stored(), deps.directory.data(), deps.exceptions.activeRows(), deps.scopeCatalogues?.() ?? {}]);
    return { now: clock.now().toISOString(), defaults: deps.policy.defaults, policies, owners: directory.owners, workloads: directory.workloads, exceptions, scopeCatalogues };
  }
  const context = async (): Promise<Context> => buildContext(await contextData());

  async function apply(trx: Db, d: Diff, at: string): Promise<ReconcileCounts> {
    await repo.insert(trx, d.inserts);
    for (const u of d.updates) {
      // An enforcement pass moved it since it was read: judged again from what is committed.
      if (!(await repo.update(trx, u.id, u.changes, u.expect))) throw new FindingMoved();
    }
    await repo.resolve(
      trx,
      d.resolves.map((r) => r.id),
      at,
    );
    // The score depends on the findings: written with them, in their transaction.
    await tokens.recordRiskScores(trx, d.risks);
    return { opened: d.inserts.length, resolved: d.resolves.length, changed: d.updates.length, riskChanged: d.risks.length };
  }

  /** Brings the live findings of `subjects` to `desired`, read and written in one transaction. */
  async function reconcile(trx: Db, subjects: Subject[], desired: Map<string, FindingCandidate[]>, ctx: Context): Promise<ReconcileCounts> {
    const live = await repo.liveFor(trx, subjects.map((s) => s.subjectId));
    return apply(trx, diffFindings(subjects, desired, ctx, live), ctx.now.toISOString());
  }

  /** Re-evaluates these tokens now (one transaction): their findings and risk scores; a missing or final token's findings resolve. */
  async function evaluateTokens(ids: readonly string[], ctx?: Context): Promise<ReconcileCounts> {
    const c = ctx ?? (await context());
    // Another writer (a sweep's page, another instance) may open the same finding between this
    // read and write: the unique index refuses the second, and it is judged again from there.
    for (let attempt = 1; ; attempt++) {
      try {
        return await storage.db.transaction().execute(async (trx) => {
          const facts = await tokens.facts.byIds(trx, ids);
          return apply(trx, judgeTokens(ids, facts, c, await repo.liveFor(trx, ids)), c.now.toISOString());
        });
      } catch (err) {
        if (attempt >= 5 || !(err instanceof FindingMoved || storage.dialect.isUniqueViolation(err) || storage.dialect.isRetryable(err))) throw err;
      }
    }
  }

  async function evaluateWorkloads(ctx: Context): Promise<ReconcileCounts> {
    const list = ctx.workloads;
    return storage.db.transaction().execute(async (trx) =>
      reconcile(
        trx,
        list.map((w) => ({ subjectId: w.id, tokenId: null, workloadId: w.id, tenantId: w.tenantId, tokenState: null })),
        new Map(list.map((w) => [w.id, workloadFindings(w, ctx.directory)])),
        ctx,
      ),
    );
  }

  // Re-evaluation after changes: a bounded set of dirty token ids, evaluated in batches soon after.
  const dirty = new Set<string>();
  let overflowed = false;
  let timer: NodeJS.Timeout | null = null;
  let draining: Promise<void> | null = null;
  /** The tokens the change path is evaluating right now. */
  let drainingBatch: string[] = [];
  let closed = false;

  function markDirty(ids: Iterable<string>): void {
    if (closed) return;
    for (const id of ids) {
      touchedDuringSweep?.add(id);
      if (dirty.size >= MAX_DIRTY) {
        overflowed = true;
        break;
      }
      dirty.add(id);
    }
    if (!timer && !draining) timer = setTimeout(drain, 10);
  }

  function drain(): void {
    timer = null;
    draining = (async () => {
      while (dirty.size > 0 && !closed) {
        const batch: string[] = [];
        for (const id of dirty) {
          batch.push(id);
          if (batch.length >= DIRTY_BATCH) break;
        }
        for (const id of batch) dirty.delete(id);
        drainingBatch = batch;
        // Each batch reads the context afresh: a policy change marks its tokens dirty and must be seen by them.
        await evaluateTokens(batch)
          .then(() => afterChange?.())
          .catch((err: Error) => logger.error({ err: err.message, tokens: batch.length }, 're-evaluating findings failed; the next sweep will'));
        drainingBatch = [];
        // On SQLite a batch's transaction runs without giving the event loop a turn: let requests
        // waiting behind it through before the next (an import of thousands of tokens otherwise
        // holds every other caller, of every tenant, for seconds).
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (overflowed && !closed) {
        overflowed = false;
        void sweep().catch((err: Error) => logger.error({ err: err.message }, 'governance sweep failed'));
      }
    })().finally(() => {
      draining = null;
      if (dirty.size > 0 && !closed && !timer) timer = setTimeout(drain, 10);
    });
  }

  /** Enforcement (wired by the composition root): run after each sweep, and kicked after changes. */
  let enforce: (() => Promise<EnforcementCounts>) | null = null;
  const sweptListeners: ((result: SweepResult) => Promise<void>)[] = [];
  let afterChange: (() => void) | null = null;

  let running: Promise<SweepResult> | null = null;
  /** Live findings by type as of the last sweep (metrics read this, not the table). */
  let openCounts: { type: string; n: number }[] | null = null;
  let queued: Promise<SweepResult> | null = null;
  let lastSweep: { at: number; start: Promise<string | null> } | null = null;
  /** Tokens changed while a sweep runs: their part of its pages is dropped (the change path re-evaluates them from what was committed). */
  let touchedDuringSweep: Set<string> | null = null;

  /**
   * Evaluates every live token (read and judged on the sweep's thread, written here, page by page)
   * and every workload, starting after the call: a caller arriving while one runs gets the next one
   * (shared with every other caller that arrived meanwhile), so what it committed before asking is
   * seen. Across instances, one sweeps at a time (a named lock).
   */
  function sweep(onProgress?: (tokens: number) => void): Promise<SweepResult> {
    if (running) {
      queued ??= running
        .catch(() => {})
        .then(() => {
          queued = null;
          return sweep(onProgress);
        });
      return queued;
    }
    running = storage.dialect
      .withNamedLock(storage.db, 'custody:governance-sweep', async () => {
        const started = Date.now();
        const data = await contextData();
        const startedAt = data.now;
        const total = { opened: 0, resolved: 0, changed: 0, riskChanged: 0, tokens: 0, workloads: 0 };
        const add = (r: ReconcileCounts) => {
          total.opened += r.opened;
          total.resolved += r.resolved;
          total.changed += r.changed;
          total.riskChanged += r.riskChanged;
        };
        // Tokens the change path has yet to evaluate, or is evaluating, belong to it; so does every
        // token changed while the sweep runs.
        const touched = new Set<string>([...dirty, ...drainingBatch]);
        touchedDuringSweep = touched;
        try {
          await runSweepPages({
            splitPoints: await tokens.facts.splitPoints(storage.db, SWEEP_THREADS),
            database: deps.database,
            storage,
            context: data,
            pageSize: SWEEP_PAGE,
            apply: async (changes, n, stopped) => {
              for (const d of splitDiff(withoutSubjects(changes, touched), SWEEP_WRITE_BATCH)) {
                // Requests and gateway calls waiting on this thread go first (on SQLite a write
                // runs without giving the event loop a turn; pages arrive faster than they are written).
                await new Promise((resolve) => setImmediate(resolve));
                if (stopped()) return;
                // Changed while this page waited for its turn: the change path has it now.
                const part = withoutSubjects(d, touched);
                if (isEmptyDiff(part)) continue;
                try {
                  add(await storage.db.transaction().execute((trx) => apply(trx, part, startedAt)));
                } catch (err) {
                  // Another writer (another instance's change path) got to one of these tokens
                  // first: judge them again from what is committed now.
                  if (!(err instanceof FindingMoved || storage.dialect.isUniqueViolation(err))) throw err;
                  const ids = [...new Set([...part.inserts.map((r) => r.subject_id), ...part.updates.map((u) => u.subjectId), ...part.resolves.map((r) => r.subjectId), ...part.risks.map((r) => r.tokenId)])].filter((id) => id.startsWith('tok_'));
                  add(await evaluateTokens(ids));
                }
              }
              total.tokens += n;
              onProgress?.(total.tokens);
            },
          });
        } finally {
          touchedDuringSweep = null;
        }
        // The workloads with what the directories say now (an owner may have changed meanwhile).
        const ctx = await context();
        add(await evaluateWorkloads(ctx));
        total.workloads = ctx.workloads.length;
        // Then what the findings call for (the policy's enforcement, or its would-be steps in audit mode).
        const enforcement = enforce ? await enforce() : null;
        const finishedAt = clock.now().toISOString();
        const result = { ...total, enforcement, startedAt, finishedAt, durationMs: Date.now() - started };
        await repo.recordSweep(storage.db, startedAt, finishedAt, result);
        lastSweep = null;
        openCounts = await repo.countsByType(storage.db);
        return result;
      })
      .then(async (result) => {
        // Outside the lock: what follows a finished sweep (the day's trend snapshot). Its failure
        // is logged, never the sweep's.
        for (const listener of sweptListeners) await listener(result).catch((err: Error) => logger.error({ err: err.message }, 'work after the governance sweep failed'));
        return result;
      })
      .finally(() => {
        running = null;
      });
    return running;
  }

  return {
    repo,
    /** Enforcement follows the findings: `pass` after each sweep, `kick` after the change path re-evaluated tokens. */
    setEnforcement(e: { pass: () => Promise<EnforcementCounts>; kick: () => void }) {
      enforce = e.pass;
      afterChange = e.kick;
    },
    /** Work that follows every finished sweep (wired by the composition root: the trend snapshot); a sweep's caller waits for it. */
    onSwept(listener: (result: SweepResult) => Promise<void>) {
      sweptListeners.push(listener);
    },
    /** When the newest finished sweep started: every live finding was confirmed then (reused for two seconds). */
    lastSweepStart(): Promise<string | null> {
      if (!lastSweep || Date.now() - lastSweep.at > 2_000) lastSweep = { at: Date.now(), start: repo.lastSweepStart(storage.db) };
      return lastSweep.start;
    },
    /** An on-demand sweep is an admin action: in the ledger, with who asked and what it found. */
    async recordRequestedSweep(actor: string, result: SweepResult): Promise<void> {
      await storage.db.transaction().execute((trx) => ledger.append(trx, { actor, action: 'governance.swept', data: { ...result } }));
    },
    /** Live findings by type as of the newest sweep of this instance (null before the first). */
    openCounts: () => openCounts,
    markDirty,
    evaluateTokens,
    sweep,
    /** Re-evaluates the workloads (after an owner or workload changed). */
    async evaluateWorkloads() {
      return evaluateWorkloads(await context());
    },
    /** Resolves once every change marked so far has been evaluated (tests, shutdown). */
    async settled(): Promise<void> {
      while (timer || draining || dirty.size > 0) {
        if (timer) clearTimeout(timer);
        timer = null;
        if (!draining) drain();
        await draining;
      }
    },
    async close(): Promise<void> {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await draining;
      await running?.catch(() => {});
    },
  };
}

export type FindingService = ReturnType<typeof createFindingService>;
