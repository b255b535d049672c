import type { Clock } from '../shared/clock.ts';
import type { Logger } from '../shared/logger.ts';
import type { Storage } from '../storage/database.ts';
import type { DatabaseConfig } from '../config/config.ts';
import type { Listener } from '../storage/dialect.ts';
import { createOutboxRepo, LANE, OUTBOX_CHANNEL } from './outbox.repo.ts';
import type { OutboxHandler, OutboxJob, OutboxKind, OutboxWorkerOptions } from './outbox.types.ts';

export interface OutboxWorkerDeps {
  storage: Storage;
  clock: Clock;
  logger: Logger;
  handlers: Record<OutboxKind, OutboxHandler>;
  options: OutboxWorkerOptions;
  /** Where the LISTEN connection goes (PostgreSQL): other instances' committed jobs wake this worker. */
  database?: DatabaseConfig;
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
  let listener: Listener | null = null;
  /** Set by poke() so a wake-up that arrives while the loop is claiming is not lost. */
  let woken = false;

  /** Delivers one job; answers how long the peer asked to be left alone when it must be retried (else null). */
  async function deliverOne(job: OutboxJob): Promise<number | null> {
    const handler = handlers[job.kind];
    let error: string;
    let retryAfterMs: number | undefined;
    try {
      const result = await handler.deliver(job);
      if (result.kind === 'done') {
        // Only the first completion records the outcome: a redelivery after a lost lease is a no-op there.
        await result.record((trx) => repo.complete(trx, job.id, 'done', clock.now()));
        return null;
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
      return null;
    }
    await repo.reschedule(storage.db, job.id, nextAt, error, now);
    // The error is what an operator needs to act on (the same text is kept on the job); it names the
    // failing call, never credentials.
    logger.info({ jobId: job.id, kind: job.kind, subjectId: job.subjectId, attempts: job.attempts, nextAt: nextAt.toISOString(), error }, 'outbox job will be retried');
    return retryAfterMs ?? options.baseDelayMs;
  }

  /** One pass, by hand (tests): claim what is due in both lanes, deliver it, and wait; returns how many jobs were claimed. */
  async function runOnce(): Promise<number> {
    const urgent = await repo.claimDue(storage.db, clock.now(), options.leaseMs, options.concurrency, LANE.urgent);
    const bulk = await repo.claimDue(storage.db, clock.now(), options.leaseMs, options.concurrency - urgent.length, LANE.bulk);
    const jobs = [...urgent, ...bulk];
    await Promise.all(jobs.map((job) => deliverOne(job).catch((err: Error) => void logger.error({ jobId: job.id, err: err.message }, 'outbox delivery crashed'))));
    return jobs.length;
  }

  // The running worker keeps up to `concurrency` deliveries in flight and claims more as soon as a
  // slot frees, a job commits (kick) or the poll comes round. Urgent jobs may take every slot; bulk
  // ones at most `bulkConcurrency`, and no more than `bulkPerSecond` are started (a token bucket),
  // so a bulk drain never floods the issuer nor delays a single revocation behind it.
  let inFlight = 0;
  let bulkInFlight = 0;
  const deliveries = new Set<Promise<void>>();
  let bulkAllowance = options.bulkPerSecond;
  /**
   * Per peer (whom a job's delivery calls: an upstream revocation's provider, a webhook's
   * subscription, an SSF push's stream, by kind), performance.now() until which the bulk lane
   * starts nothing of it: it pushed back (429, 5xx, Retry-After). Other peers go on: one tenant's
   * failing webhook receiver never holds up another's, nor a provider's revocations. Bounded by
   * the peers with bulk jobs; entries are dropped once past.
   */
  const pausedUntil = new Map<string, number>();
  const peerOf = (job: OutboxJob) => `${job.kind}:${String(job.payload.providerId ?? job.payload.subscriptionId ?? job.payload.streamId ?? job.subjectId)}`;
  let refilledAt = performance.now();

  function launch(job: OutboxJob, bulk: boolean) {
    inFlight++;
    if (bulk) bulkInFlight++;
    const p = deliverOne(job)
      .then((backOffMs) => {
        // A bulk job the issuer refused for now holds back the bulk jobs of its provider, not only
        // itself: a drain must not keep starting new jobs at full pace against an issuer that says stop.
        if (bulk && backOffMs !== null) pausedUntil.set(peerOf(job), Math.max(pausedUntil.get(peerOf(job)) ?? 0, performance.now() + backOffMs));
      })
      .catch((err: Error) => logger.error({ jobId: job.id, err: err.message }, 'outbox delivery crashed'))
      .finally(() => {
        inFlight--;
        if (bulk) bulkInFlight--;
        deliveries.delete(p);
        poke();
      });
    deliveries.add(p);
  }

  function refill(): void {
    const now = performance.now();
    bulkAllowance = Math.min(options.bulkPerSecond, bulkAllowance + ((now - refilledAt) / 1000) * options.bulkPerSecond);
    refilledAt = now;
  }

  /** Claims and starts what the free slots allow; answers how long to wait at most before looking again. */
  async function fill(): Promise<{ started: number; waitMs: number }> {
    let started = 0;
    const free = options.concurrency - inFlight;
    if (free <= 0) return { started, waitMs: options.pollMs };
    const urgent = await repo.claimDue(storage.db, clock.now(), options.leaseMs, free, LANE.urgent);
    for (const job of urgent) launch(job, false);
    started += urgent.length;
    refill();
    const bulkSlots = Math.min(options.bulkConcurrency - bulkInFlight, options.concurrency - inFlight, Math.floor(bulkAllowance));
    if (bulkSlots > 0) {
      const bulk = await repo.claimDue(storage.db, clock.now(), options.leaseMs, bulkSlots, LANE.bulk);
      const now = performance.now();
      for (const [peer, until] of pausedUntil) if (until <= now) pausedUntil.delete(peer);
      for (const job of bulk) {
        const until = pausedUntil.get(peerOf(job));
        if (until !== undefined) {
          // Its issuer asked to wait: put it back until then, untried (no slot, no allowance spent).
          await repo.reschedule(storage.db, job.id, new Date(clock.now().getTime() + (until - now)), 'waiting: the issuer asked the bulk revocations to slow down', clock.now());
          continue;
        }
        launch(job, true);
        bulkAllowance -= 1;
        started += 1;
      }
    }
    // Out of allowance: look again when the next bulk job may start.
    const waitMs = bulkAllowance < 1 ? Math.max(5, Math.ceil(((1 - bulkAllowance) / options.bulkPerSecond) * 1000)) : options.pollMs;
    return { started, waitMs: Math.min(waitMs, options.pollMs) };
  }

  async function loop() {
    while (running) {
      let result = { started: 0, waitMs: options.pollMs };
      try {
        result = await fill();
      } catch (err) {
        logger.error({ err: (err as Error).message }, 'outbox pass failed');
      }
      if (!running) break;
      // Claimed something and slots remain: more may be due at once. Woken while claiming (a job
      // committed or finished meanwhile): look again rather than sleep past it.
      if (result.started > 0 && inFlight < options.concurrency) continue;
      if (woken) {
        woken = false;
        continue;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, result.waitMs);
      });
      wake = null;
      woken = false;
      if (timer) clearTimeout(timer);
    }
  }

  /** Wakes the loop now, or makes its next wait return at once if it is busy claiming. */
  function poke(): void {
    woken = true;
    wake?.();
  }

  return {
    runOnce,
    /** Starts delivering, and (PostgreSQL) hearing other instances' committed jobs. */
    async start() {
      if (running) return;
      running = true;
      loopDone = loop();
      if (deps.database && !listener) {
        listener = await storage.dialect.listen(deps.database, OUTBOX_CHANNEL, {
          onMessage: () => poke(),
          onConnected: () => poke(),
          onError: (err) => logger.warn({ err: err.message }, 'outbox listener lost its connection; reconnecting (the poll covers the gap)'),
        });
      }
    },
    /** Look for work now (a revocation just committed) instead of at the next poll. */
    kick() {
      poke();
    },
    /** Stops claiming, waits for the deliveries in flight, stops listening. */
    async stop() {
      running = false;
      wake?.();
      await loopDone;
      await Promise.all([...deliveries]);
      const l = listener;
      listener = null;
      await l?.close();
    },
    pending: () => repo.countPending(storage.db),
    pendingByLane: () => repo.countPendingByLane(storage.db),
  };
}

export type OutboxWorker = ReturnType<typeof createOutboxWorker>;
