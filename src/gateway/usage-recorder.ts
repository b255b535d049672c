import type { LedgerService } from '../ledger/ledger.service.ts';
import type { NewLedgerEntry } from '../ledger/ledger.types.ts';
import { isoAt } from '../shared/clock.ts';
import { CustodyError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { Storage } from '../storage/database.ts';
import type { UsageEvent } from './gateway.types.ts';
import { createUsageRepo } from './usage.repo.ts';
import { createInlineUsageWriter, PackedBatchBuilder, type PackedEvents, type UsageWriter } from './usage-writer.ts';

/**
 * Usage recording, off the hot path. Invariants:
 * - `record` only appends to memory, packed at once (PackedBatchBuilder: numbers and each distinct
 *   string once, no object kept per call); a timer (or a full batch) hands a batch to the writer
 *   (usage-writer.ts), which stores the events together with lastUsedAt/lastUsedBy and per-scope
 *   last use in one transaction, so either all of a batch's effects are stored or none are;
 * - the first use of a token each UTC day is claimed (once across all instances) and written to
 *   the ledger here, on this thread's connection, before the batch that carries it is handed on;
 * - a batch that fails to write goes back to the front of the queue and is retried: events are
 *   never dropped; while the queue is above its high-water mark new calls wait in `admit` and,
 *   after `admissionWaitMs`, are refused with 503 gateway_overloaded (back-pressure, not loss);
 * - `close` writes everything still queued before it resolves (graceful shutdown).
 */
export interface UsageRecorderOptions {
  storage: Storage;
  ledger: LedgerService;
  logger: Logger;
  batchSize?: number;
  flushIntervalMs?: number;
  highWater: number;
  admissionWaitMs: number;
  /** Where batches go; by default this thread's connection. */
  writer?: UsageWriter;
  /**
   * Hears each batch once it is committed (detection). It must only queue the batch and return:
   * it runs on the serving thread, between writes. The batch is the recorder's own (the worker
   * writer copies it, never transfers it), no longer used here once written; a throw is logged
   * and ignored, so a listener's failure never holds up or loses usage.
   */
  onWritten?: (packed: PackedEvents) => void;
}

/** A batch being filled, or waiting to be written; `firsts` are the events that may be a token's first use that day. */
interface Batch {
  builder: PackedBatchBuilder;
  firsts: Map<string, UsageEvent> | null;
  /** Set once a flush has taken the batch: nothing more is added, and retries write the same one. */
  packed: PackedEvents | null;
}

const DAY_MS = 24 * 60 * 60_000;
/** The UTC day of a time, as days since the epoch. */
const dayOf = (ms: number) => Math.floor(ms / DAY_MS);

export function createUsageRecorder(opts: UsageRecorderOptions) {
  const { storage, ledger, logger } = opts;
  const repo = createUsageRepo();
  const writer = opts.writer ?? createInlineUsageWriter(storage);
  // Batches are written apart from the thread that serves calls when a worker writes them, so
  // they can be larger; inline (SQLite writes synchronously) their size bounds the pause they cause.
  const batchSize = opts.batchSize ?? 50;
  const flushIntervalMs = opts.flushIntervalMs ?? 200;
  const batches: Batch[] = [];
  let queued = 0;
  let flushing: Promise<void> | null = null;
  let failures = 0;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  const waiters: (() => void)[] = [];
  // The UTC day (days since the epoch) each token's first use was last ledgered for by this
  // process: skips a database round trip per batch, and a string built per event.
  const claimedDay = new Map<string, number>();
  // (token, day) pairs already waiting in some batch to be claimed: later events of the pair are not candidates.
  const pendingFirsts = new Set<string>();

  function wakeWaiters() {
    while (queued < opts.highWater && waiters.length > 0) waiters.shift()!();
  }

  /** Claims the first use of each (token, UTC day) the batch may carry, with its ledger entry. */
  async function claimFirstUses(firsts: Map<string, UsageEvent>): Promise<void> {
    const pending = [...firsts.values()];
    await storage.db.transaction().execute(async (trx) => {
      const entries: NewLedgerEntry[] = [];
      for (const e of pending) {
        const firstAt = isoAt(e.atMs);
        const day = firstAt.slice(0, 10);
        if (await repo.claimDay(trx, e.tokenId, day)) {
          entries.push({
            actor: e.actor,
            action: 'token.used',
            tenantId: e.tenantId,
            subjectId: e.tokenId,
            data: { day, firstAt, workload: e.workload, method: e.method, host: e.host, pathTemplate: e.pathTemplate, scope: e.scope },
          });
        }
      }
      await ledger.appendMany(trx, entries);
    });
    if (claimedDay.size > 100_000) claimedDay.clear();
    for (const [key, e] of firsts) {
      pendingFirsts.delete(key);
      const day = dayOf(e.atMs);
      // Keep the latest day per token (a batch may span midnight).
      const known = claimedDay.get(e.tokenId);
      if (known === undefined || known < day) claimedDay.set(e.tokenId, day);
    }
  }

  /**
   * Writes queued batches in order. A timer's flush writes what was queued when it began, then goes
   * on only through batches that filled up meanwhile: the batch being filled waits for the next
   * timer. (Going on through it after every write would hand the writer thread a small batch each
   * time one finished, whatever the interval, each paying a message, a wake-up and a commit.)
   * `all` writes until nothing is queued (flush, shutdown).
   */
  async function drain(all: boolean): Promise<void> {
    let due = batches.length;
    while (batches.length > 0) {
      const batch = batches[0]!;
      if (!all && due <= 0 && batch.packed === null && batch.builder.count < batchSize) break;
      batch.packed ??= batch.builder.finish();
      try {
        if (batch.firsts) {
          await claimFirstUses(batch.firsts);
          batch.firsts = null;
        }
        await writer.write(batch.packed);
        batches.shift();
        if (opts.onWritten) {
          try {
            opts.onWritten(batch.packed);
          } catch (err) {
            logger.error({ err: (err as Error).message }, 'a listener of written usage failed; the usage is stored');
          }
        }
        due--;
        queued -= batch.packed.count;
        failures = 0;
        wakeWaiters();
      } catch (err) {
        failures++;
        logger.error({ err: (err as Error).message, queued, failures }, 'writing gateway usage failed; will retry');
        // Retry with backoff; the events stay queued (and new calls wait once it is full).
        await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** failures, 5_000)));
        if (closed && failures > 20) throw err;
      }
    }
  }

  function flush(all = false): Promise<void> {
    if (!flushing) {
      flushing = drain(all).finally(() => {
        flushing = null;
        // What was left for later is written by the next timer.
        if (queued > 0) schedule();
      });
    }
    return flushing;
  }

  function schedule() {
    if (timer || closed) return;
    timer = setTimeout(() => {
      timer = null;
      flush().catch(() => {});
    }, flushIntervalMs);
    timer.unref();
  }

  /** The batch new events go into: the last one, unless a flush has taken it or it is full. */
  function current(): Batch {
    const last = batches[batches.length - 1];
    if (last && last.packed === null && last.builder.count < batchSize) return last;
    const batch: Batch = { builder: new PackedBatchBuilder(Math.min(batchSize, 64)), firsts: null, packed: null };
    batches.push(batch);
    return batch;
  }

  return {
    record(event: UsageEvent): void {
      const batch = current();
      batch.builder.add(event);
      queued++;
      if (event.outcome === 'forwarded') {
        const day = dayOf(event.atMs);
        const claimed = claimedDay.get(event.tokenId);
        if (claimed !== day) {
          const key = `${event.tokenId}\u0000${day}`;
          if (!pendingFirsts.has(key)) {
            pendingFirsts.add(key);
            (batch.firsts ??= new Map()).set(key, event);
          }
        }
      }
      // After close (a call that finished during shutdown) nothing is scheduled: write at once.
      if (batch.builder.count >= batchSize || closed) flush().catch(() => {});
      else schedule();
    },

    /** Resolves at once (undefined, no await needed) unless the queue is over its high-water mark. */
    admit(): Promise<void> | undefined {
      if (queued < opts.highWater) return undefined;
      flush().catch(() => {});
      return new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => {
          const i = waiters.indexOf(done);
          if (i >= 0) waiters.splice(i, 1);
          reject(new CustodyError('gateway_overloaded'));
        }, opts.admissionWaitMs);
        const done = () => {
          clearTimeout(t);
          resolve();
        };
        waiters.push(done);
      });
    },

    /** Deletes stored events from before `before` (retention); resolves to how many. */
    prune: (before: string): Promise<number> => writer.prune(before),

    /** Writes everything queued so far (tests and shutdown). */
    async flush(): Promise<void> {
      while (queued > 0 || flushing) await flush(true);
    },

    get queued(): number {
      return queued;
    },

    async close(): Promise<void> {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = null;
      while (queued > 0 || flushing) await flush(true);
      await writer.close();
    },
  };
}

export type UsageRecorder = ReturnType<typeof createUsageRecorder>;
