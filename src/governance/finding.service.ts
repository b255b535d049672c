import type { LedgerService } from '../ledger/ledger.service.ts';
import type { NewLedgerEntry } from '../ledger/ledger.types.ts';
import type { Clock } from '../shared/clock.ts';
import { newId } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import type { Db, Storage } from '../storage/database.ts';
import type { FindingsTable } from '../storage/schema.ts';
import type { TokenFacts } from '../tokens/token.facts.ts';
import type { TokenService } from '../tokens/token.service.ts';
import type { DirectoryService } from './directory.service.ts';
import { planKey, plannedAction } from './enforcement.plan.ts';
import type { ActiveExceptions, ExceptionService } from './exception.service.ts';
import { createFindingRepo } from './finding.repo.ts';
import { tokenFindings, workloadFindings, type Directory, type FindingCandidate } from './finding.rules.ts';
import type { FindingStatus } from './finding.types.ts';
import type { PolicyService, PolicySnapshot } from './policy.service.ts';

/** Tokens evaluated per transaction of a sweep: one facts read, one findings read, a few writes. */
const SWEEP_PAGE = 2_000;
/** Tokens waiting for re-evaluation after a change; past this the next sweep does the rest. */
const MAX_DIRTY = 50_000;
const DIRTY_BATCH = 500;

interface Subject {
  subjectId: string;
  tokenId: string | null;
  workloadId: string | null;
  tenantId: string | null;
}

interface Context {
  now: Date;
  policies: PolicySnapshot;
  directory: Directory & { workloads: Awaited<ReturnType<DirectoryService['snapshot']>>['workloads'] };
  exceptions: ActiveExceptions;
}

export interface ReconcileCounts {
  opened: number;
  resolved: number;
  changed: number;
}

export interface SweepResult extends ReconcileCounts {
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  tokens: number;
  workloads: number;
  wouldAct: number;
}

/**
 * Keeps the findings table equal to what the rules (finding.rules.ts) say of every live token and
 * workload: after each relevant change (the changed tokens, soon after, off the request path) and
 * by a sweep over everything (scheduled, and on demand). A finding is opened once, confirmed
 * (last seen) while it holds, and resolved when its cause clears; an exception in force marks it
 * excepted, and its expiry reopens it. In audit mode (and until enforcement exists) the action
 * enforcement would take is written to the ledger when it first becomes due, never every sweep.
 */
export function createFindingService(deps: {
  storage: Storage;
  ledger: LedgerService;
  clock: Clock;
  logger: Logger;
  tokens: TokenService;
  policy: PolicyService;
  directory: DirectoryService;
  exceptions: ExceptionService;
}) {
  const { storage, ledger, clock, logger, tokens } = deps;
  const repo = createFindingRepo(storage.dialect);

  async function context(): Promise<Context> {
    const [policies, directory, exceptions] = await Promise.all([deps.policy.snapshot(), deps.directory.snapshot(), deps.exceptions.active()]);
    return { now: clock.now(), policies, directory, exceptions };
  }

  /** Brings the live findings of `subjects` to `desired`, in `trx`. */
  async function reconcile(trx: Db, subjects: Subject[], desired: Map<string, FindingCandidate[]>, ctx: Context): Promise<ReconcileCounts & { wouldAct: number }> {
    const at = ctx.now.toISOString();
    const existing = new Map((await repo.liveFor(trx, subjects.map((s) => s.subjectId))).map((f) => [`${f.subject_id}|${f.type}`, f]));
    const inserts: FindingsTable[] = [];
    const seen: string[] = [];
    const wouldAct: NewLedgerEntry[] = [];
    let changed = 0;
    for (const s of subjects) {
      const policy = s.tenantId ? ctx.policies.forTenant(s.tenantId) : ctx.policies.globalValues;
      for (const c of desired.get(s.subjectId) ?? []) {
        const key = `${s.subjectId}|${c.type}`;
        const f = existing.get(key);
        existing.delete(key);
        const exception = s.tenantId ? ctx.exceptions.covering(s.tenantId, s.tokenId, c.type) : undefined;
        const reasons = JSON.stringify(c.reasons);
        const firstSeenAt = f?.first_seen_at ?? at;
        const status: FindingStatus = exception ? 'excepted' : !f || f.status === 'excepted' ? 'open' : f.status;
        // What enforcement would do, for tokens whose finding is not excepted.
        const plan = s.tokenId && status !== 'excepted' ? plannedAction(c.type, firstSeenAt, policy) : null;
        const planned = planKey(plan);
        const id = f?.id ?? newId('finding', ctx.now.getTime());
        if (plan && planned !== (f?.planned_action ?? null)) {
          const versions = { global: ctx.policies.global.version, tenant: s.tenantId ? (ctx.policies.tenants.get(s.tenantId)?.version ?? 0) : 0 };
          wouldAct.push({
            actor: 'policy',
            action: `policy.would_${plan.action}`,
            tenantId: s.tenantId,
            subjectId: s.tokenId,
            data: { findingId: id, findingType: c.type, suspendAt: plan.suspendAt, mode: policy.mode, policyVersion: versions, note: policy.mode === 'audit' ? 'audit mode: nothing was changed' : 'enforcement is not built yet (issue 14): nothing was changed' },
          });
        }
        if (!f) {
          inserts.push({
            id,
            type: c.type,
            severity: c.severity,
            status,
            subject_id: s.subjectId,
            token_id: s.tokenId,
            workload_id: s.workloadId,
            tenant_id: s.tenantId,
            first_seen_at: at,
            last_seen_at: at,
            resolved_at: null,
            reasons,
            exception_id: exception?.id ?? null,
            acknowledged_at: null,
            acknowledged_by: null,
            acknowledged_reason: null,
            planned_action: planned,
          });
        } else if (f.status !== status || f.reasons !== reasons || f.severity !== c.severity || f.exception_id !== (exception?.id ?? null) || f.planned_action !== planned) {
          await repo.update(trx, f.id, { status, reasons, severity: c.severity, exception_id: exception?.id ?? null, planned_action: planned, last_seen_at: at });
          changed++;
        } else {
          seen.push(f.id);
        }
      }
    }
    const resolved = [...existing.values()].map((f) => f.id);
    await repo.insert(trx, inserts);
    await repo.seen(trx, seen, at);
    await repo.resolve(trx, resolved, at);
    if (wouldAct.length > 0) await ledger.appendMany(trx, wouldAct);
    return { opened: inserts.length, resolved: resolved.length, changed, wouldAct: wouldAct.length };
  }

  function tokenSubjects(ids: readonly string[], facts: TokenFacts[]): { subjects: Subject[]; byId: Map<string, TokenFacts> } {
    const byId = new Map(facts.map((f) => [f.id, f]));
    return { subjects: ids.map((id) => ({ subjectId: id, tokenId: id, workloadId: null, tenantId: byId.get(id)?.tenantId ?? null })), byId };
  }

  function desiredOf(facts: TokenFacts[], ctx: Context): Map<string, FindingCandidate[]> {
    return new Map(facts.map((f) => [f.id, tokenFindings(f, ctx.policies.forTenant(f.tenantId), ctx.directory, ctx.now)]));
  }

  /** Re-evaluates these tokens now (one transaction); a missing or final token's findings resolve. */
  async function evaluateTokens(ids: readonly string[], ctx?: Context): Promise<ReconcileCounts & { wouldAct: number }> {
    const c = ctx ?? (await context());
    return storage.db.transaction().execute(async (trx) => {
      const facts = await tokens.facts.byIds(trx, ids);
      const { subjects } = tokenSubjects(ids, facts);
      return reconcile(trx, subjects, desiredOf(facts, c), c);
    });
  }

  async function evaluateWorkloads(ctx: Context, onlyIds?: ReadonlySet<string>): Promise<ReconcileCounts & { wouldAct: number }> {
    const list = ctx.directory.workloads.filter((w) => !onlyIds || onlyIds.has(w.id));
    return storage.db.transaction().execute(async (trx) =>
      reconcile(
        trx,
        list.map((w) => ({ subjectId: w.id, tokenId: null, workloadId: w.id, tenantId: w.tenantId })),
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
  let closed = false;

  function markDirty(ids: Iterable<string>): void {
    if (closed) return;
    for (const id of ids) {
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
        const batch = [...dirty].slice(0, DIRTY_BATCH);
        for (const id of batch) dirty.delete(id);
        await evaluateTokens(batch).catch((err: Error) => logger.error({ err: err.message, tokens: batch.length }, 're-evaluating findings failed; the next sweep will'));
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

  let running: Promise<SweepResult> | null = null;

  /** Evaluates every live token and workload, then re-checks findings the pass did not reach. One at a time: a second caller joins the first. */
  function sweep(onProgress?: (tokens: number) => void): Promise<SweepResult> {
    running ??= (async () => {
      const started = Date.now();
      const ctx = await context();
      const startedAt = ctx.now.toISOString();
      const total = { opened: 0, resolved: 0, changed: 0, wouldAct: 0, tokens: 0, workloads: 0 };
      const add = (r: ReconcileCounts & { wouldAct: number }) => {
        total.opened += r.opened;
        total.resolved += r.resolved;
        total.changed += r.changed;
        total.wouldAct += r.wouldAct;
      };
      let afterId: string | null = null;
      for (;;) {
        const page = await storage.db.transaction().execute(async (trx) => {
          const facts = await tokens.facts.livePage(trx, afterId, SWEEP_PAGE);
          if (facts.length === 0) return null;
          const { subjects } = tokenSubjects(facts.map((f) => f.id), facts);
          add(await reconcile(trx, subjects, desiredOf(facts, ctx), ctx));
          return { n: facts.length, last: facts[facts.length - 1]!.id };
        });
        if (!page) break;
        total.tokens += page.n;
        afterId = page.last;
        onProgress?.(total.tokens);
        if (page.n < SWEEP_PAGE) break;
      }
      add(await evaluateWorkloads(ctx));
      total.workloads = ctx.directory.workloads.length;
      // Findings the pass did not confirm: their token is no longer live, or their workload is gone.
      for (;;) {
        const stale = await repo.staleSubjects(storage.db, startedAt, SWEEP_PAGE);
        if (stale.length === 0) break;
        const tokenIds = stale.filter((s) => s.token_id).map((s) => s.subject_id);
        if (tokenIds.length > 0) add(await evaluateTokens(tokenIds, ctx));
        const others = stale.filter((s) => !s.token_id).map((s) => s.subject_id);
        if (others.length > 0) add(await storage.db.transaction().execute(async (trx) => reconcile(trx, others.map((id) => ({ subjectId: id, tokenId: null, workloadId: id, tenantId: null })), new Map(), ctx)));
        if (stale.length < SWEEP_PAGE) break;
      }
      const finishedAt = clock.now().toISOString();
      return { ...total, startedAt, finishedAt, durationMs: Date.now() - started };
    })().finally(() => {
      running = null;
    });
    return running;
  }

  return {
    repo,
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
