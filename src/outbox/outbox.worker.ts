import type { Clock } from '../shared/clock.ts';
import type { Logger } from '../shared/logger.ts';
import type { Storage } from '../storage/database.ts';
import { createOutboxRepo } from './outbox.repo.ts';
import type { OutboxHandler, OutboxJob, OutboxKind, OutboxWorkerOptions } from './outbox.types.ts';

export interface OutboxWorkerDeps {
  storage: Storage;
  clock: Clock;
  logger: Logger;
  handlers: Record<OutboxKind, OutboxHandler>;
  options: OutboxWorkerOptions;
}

/** Exponential backoff with full jitter in the upper half, never below the peer's Retry-After. */
export function nextDelayMs(attempts: number, options: Pick<OutboxWorkerOptions, 'baseDelayMs' | 'maxDelayMs'>, retryAfterMs?: number): number {
  const exp = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.max(0, attempts - 1));
  const jittered = exp / 2 + Math.random() * (exp / 2);
  return Math.max(jittered, retryAfterMs ?? 0);
}

/**
 * Delivers outbox jobs until stopped (see README.md for the invariants). In-process: `serve`
 * starts it beside the HTTP server; several processes may run it against one database.
 */
export function createOutboxWorker(deps: OutboxWorkerDeps) {
  const { storage, clock, logger, handlers, options } = deps;
  const repo = createOutboxRepo();
  let running = false;
  let timer: NodeJS.Timeout | null = null;
  let wake: (() => void) | null = null;
  let loopDone: Promise<void> = Promise.resolve();

  async function deliverOne(job: OutboxJob): Promise<void> {
    const handler = handlers[job.kind];
    let error: string;
    let retryAfterMs: number | undefined;
    try {
      const result = await handler.deliver(job);
      if (result.kind === 'done') {
        // Only the first completion records the outcome: a redelivery after a lost lease is a no-op there.
        await result.record((trx) => repo.complete(trx, job.id, 'done', clock.now()));
        return;
      }
      error = result.error;
      retryAfterMs = result.retryAfterMs;
    } catch (err) {
      error = (err as Error).message ?? String(err);
    }
    const now = clock.now();
    const nextAt = new Date(now.getTime() + nextDelayMs(job.attempts, options, retryAfterMs));
    if (nextAt.getTime() - Date.parse(job.createdAt) > options.giveUpAfterMs) {
      await handler.giveUp((trx) => repo.complete(trx, job.id, 'gave_up', now, error), job, error);
      logger.warn({ jobId: job.id, kind: job.kind, subjectId: job.subjectId, attempts: job.attempts }, 'outbox job given up');
      return;
    }
    await repo.reschedule(storage.db, job.id, nextAt, error, now);
    // The error is what an operator needs to act on (the same text is kept on the job); it names the
    // failing call, never credentials.
    logger.info({ jobId: job.id, kind: job.kind, subjectId: job.subjectId, attempts: job.attempts, nextAt: nextAt.toISOString(), error }, 'outbox job will be retried');
  }

  /** One pass: claim what is due and deliver it; returns how many jobs were claimed. */
  async function runOnce(): Promise<number> {
    const jobs = await repo.claimDue(storage.db, clock.now(), options.leaseMs, options.concurrency);
    await Promise.all(jobs.map((job) => deliverOne(job).catch((err: Error) => logger.error({ jobId: job.id, err: err.message }, 'outbox delivery crashed'))));
    return jobs.length;
  }

  async function loop() {
    while (running) {
      let claimed = 0;
      try {
        claimed = await runOnce();
      } catch (err) {
        logger.error({ err: (err as Error).message }, 'outbox pass failed');
      }
      if (!running) break;
      if (claimed > 0) continue;
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, options.pollMs);
      });
      wake = null;
      if (timer) clearTimeout(timer);
    }
  }

  return {
    runOnce,
    start() {
      if (running) return;
      running = true;
      loopDone = loop();
    },
    /** Look for work now (a revocation just committed) instead of at the next poll. */
    kick() {
      wake?.();
    },
    async stop() {
      running = false;
      wake?.();
      await loopDone;
    },
    pending: () => repo.countPending(storage.db),
  };
}

export type OutboxWorker = ReturnType<typeof createOutboxWorker>;
