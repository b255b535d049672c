import { Worker } from 'node:worker_threads';
import type { DatabaseConfig } from '../config/config.ts';
import { isoAt } from '../shared/clock.ts';
import type { Db, Storage } from '../storage/database.ts';
import type { UsageEvent, UsageOutcome } from './gateway.types.ts';
import { createTokenUsageRecorder, type TokenUsageRecorder } from '../tokens/token-usage.ts';
import type { CallShape, UsageRepo } from './usage.repo.ts';
import { createUsageRepo } from './usage.repo.ts';

/**
 * What the writer writes through, one set per database connection: the gateway's own usage
 * tables, and the token owner's `recordUsage` statements for last use.
 */
export interface UsageStores {
  usage: UsageRepo;
  tokens: TokenUsageRecorder;
}

export function createUsageStores(): UsageStores {
  return { usage: createUsageRepo(), tokens: createTokenUsageRecorder() };
}

/**
 * Where batches of usage events are written: in this thread (`createInlineUsageWriter`) or in a
 * worker thread with its own database connection (`createWorkerUsageWriter`). `write` resolves
 * once the batch is committed and rejects if it was not; the recorder keeps a batch queued until
 * then, so a failed or interrupted write is retried, never dropped.
 */
export interface UsageWriter {
  write(batch: PackedEvents): Promise<void>;
  /** Deletes the events from before `before` (ISO time), in short batches; resolves to how many. */
  prune(before: string): Promise<number>;
  close(): Promise<void>;
}

const PRUNE_BATCH = 5_000;

/**
 * The writer thread's entry: the compiled worker beside this file (dist/, what `custody` runs), or,
 * when running from the TypeScript sources (tests, `npm run dev`), a small .mjs that registers the
 * TypeScript loader first: a worker thread does not always inherit it.
 */
const WORKER_ENTRY = import.meta.url.endsWith('.ts') ? new URL('./usage-writer.worker.mjs', import.meta.url) : new URL('./usage-writer.worker.js', import.meta.url);

/** Retention: deletes in batches of PRUNE_BATCH, each its own short statement, so writers wait little. */
export async function pruneUsage(db: Db, repo: UsageRepo, before: string): Promise<number> {
  let total = 0;
  let afterId = 0;
  for (;;) {
    const { deleted, lastId, more } = await repo.deleteWindowBefore(db, before, afterId, PRUNE_BATCH);
    total += deleted;
    if (!more) break;
    afterId = lastId;
  }
  // The shapes no event refers to any more go with them (a bounded table, whatever callers sent).
  await repo.pruneShapes(db, before);
  return total;
}

/**
 * One transaction per batch, read straight from its packed form: the events (each against its call
 * shape, added first when new), lastUsedAt/lastUsedBy (moved forward only) and per-scope last use
 * and per-workload last use of every token the batch forwarded for.
 */
export async function writeUsageBatch(db: Db, stores: UsageStores, packed: PackedEvents): Promise<void> {
  const repo = stores.usage;
  const { count, strings, ints, latencies, times } = packed;
  const text = (k: number) => (ints[k]! < 0 ? null : strings[ints[k]!]!);
  // Times as the text they are stored as (ISO 8601 UTC, which sorts as it reads).
  const ats = new Array<string>(count);
  for (let i = 0; i < count; i++) ats[i] = isoAt(times[i]!);
  // The newest forwarded event of each token and of each (token, scope), by index: numbers, not a
  // string built per event. The string table holds each value once, so its indexes stand for them.
  const newestOfToken = new Map<number, number>();
  const newestOfScope = new Map<number, number>();
  const newestOfWorkload = new Map<number, number>();
  const forwarded = strings.indexOf('forwarded');
  for (let i = 0, k = 0; forwarded >= 0 && i < count; i++, k += INTS_PER_EVENT) {
    if (ints[k + F.outcome] !== forwarded) continue;
    const token = ints[k + F.tokenId]!;
    const t = newestOfToken.get(token);
    if (t === undefined || times[t]! <= times[i]!) newestOfToken.set(token, i);
    const scope = ints[k + F.scope]!;
    if (scope >= 0) {
      const pair = token * strings.length + scope;
      const s = newestOfScope.get(pair);
      if (s === undefined || times[s]! <= times[i]!) newestOfScope.set(pair, i);
    }
    const workload = ints[k + F.workload]!;
    if (workload >= 0) {
      const pair = token * strings.length + workload;
      const w = newestOfWorkload.get(pair);
      if (w === undefined || times[w]! <= times[i]!) newestOfWorkload.set(pair, i);
    }
  }
  // Each event's shape (what the call was), found once per distinct combination in the batch.
  const shapeOf = new Int32Array(count);
  const distinct = new Map<string, number>();
  const shapes: CallShape[] = [];
  for (let i = 0, k = 0; i < count; i++, k += INTS_PER_EVENT) {
    // Calls come in runs of the same shape: the previous event's, unless a field differs.
    if (i > 0 && sameShape(ints, k, k - INTS_PER_EVENT)) {
      shapeOf[i] = shapeOf[i - 1]!;
      continue;
    }
    const key = `${ints[k + F.tenantId]},${ints[k + F.workload]},${ints[k + F.apiKeyId]},${ints[k + F.method]},${ints[k + F.host]},${ints[k + F.pathTemplate]},${ints[k + F.scope]},${ints[k + UNMAPPED]},${ints[k + F.outcome]},${ints[k + F.errorCode]}`;
    let n = distinct.get(key);
    if (n === undefined) {
      n = shapes.push({
        tenant_id: text(k + F.tenantId),
        workload: text(k + F.workload),
        api_key_id: text(k + F.apiKeyId),
        method: text(k + F.method)!,
        host: text(k + F.host),
        path_template: text(k + F.pathTemplate)!,
        scope: text(k + F.scope),
        unmapped: ints[k + UNMAPPED]!,
        outcome: text(k + F.outcome) as UsageOutcome,
        error_code: text(k + F.errorCode),
      }) - 1;
      distinct.set(key, n);
    }
    shapeOf[i] = n;
  }
  const shapeIds = await repo.shapeIds(db, shapes);
  await db.transaction().execute(async (trx) => {
    await repo.touchShapes(trx, [...new Set(shapeIds)], ats[count - 1] ?? isoAt(Date.now()));
    // In the column order of usage.repo.ts (SAMPLE_ROW).
    await repo.insertRows(trx, count, (i, params) => {
      const k = i * INTS_PER_EVENT;
      params.push(ats[i], text(k + F.tokenId), shapeIds[shapeOf[i]!], ints[k + STATUS], text(k + F.sourceAddress), Math.round(latencies[i]! * 1000) / 1000);
    });
    // Token rows are written in id order, the order in which a bulk revocation locks them
    // (PostgreSQL): two transactions that lock rows in one order cannot deadlock.
    const byId = [...newestOfToken.values()].sort((a, b) => {
      const x = text(a * INTS_PER_EVENT + F.tokenId)!;
      const y = text(b * INTS_PER_EVENT + F.tokenId)!;
      return x < y ? -1 : x > y ? 1 : 0;
    });
    for (const i of byId) {
      const k = i * INTS_PER_EVENT;
      await stores.tokens.recordUse(trx, text(k + F.tokenId)!, ats[i]!, text(k + F.workload) ?? text(k + F.actor)!);
    }
    for (const i of newestOfScope.values()) {
      const k = i * INTS_PER_EVENT;
      await stores.tokens.recordScopeUse(trx, text(k + F.tokenId)!, text(k + F.scope)!, ats[i]!);
    }
    // Which workloads use each token (a token several workloads use is shared: OWASP NHI9).
    for (const i of newestOfWorkload.values()) {
      const k = i * INTS_PER_EVENT;
      await stores.tokens.recordWorkloadUse(trx, text(k + F.tokenId)!, text(k + F.workload)!, ats[i]!);
    }
  });
}

/** Writes on this thread's connection (an in-memory SQLite database cannot be shared with a worker). */
export function createInlineUsageWriter(storage: Storage): UsageWriter {
  const stores = createUsageStores();
  return {
    write: (batch) => writeUsageBatch(storage.db, stores, batch),
    prune: (before) => pruneUsage(storage.db, stores.usage, before),
    close: async () => {},
  };
}

/**
 * A batch as it crosses to the worker thread: every text field as an index into a table of the
 * batch's distinct strings (most fields repeat from call to call), numbers in typed arrays.
 * Copying a batch of objects field by field between threads cost more than the rest of recording
 * a call; typed arrays cross as one copy of their bytes.
 */
export interface PackedEvents {
  count: number;
  strings: string[];
  /** Per event its time (ms since the epoch): nearly every one differs, and numbers cross as bytes. */
  times: Float64Array<ArrayBuffer>;
  /** Per event: the TEXT_FIELDS as string indexes (-1 for null), then status, then unmapped (0/1). */
  ints: Int32Array<ArrayBuffer>;
  latencies: Float64Array<ArrayBuffer>;
}

// PackedBatchBuilder.add writes them in this order.
const TEXT_FIELDS = ['tokenId', 'tenantId', 'workload', 'apiKeyId', 'actor', 'method', 'host', 'pathTemplate', 'scope', 'outcome', 'errorCode', 'sourceAddress'] as const;
const INTS_PER_EVENT = TEXT_FIELDS.length + 2;
/** Where each text field sits in an event's run of ints; status and unmapped follow them. */
const F = Object.fromEntries(TEXT_FIELDS.map((name, i) => [name, i])) as Record<(typeof TEXT_FIELDS)[number], number>;
const STATUS = TEXT_FIELDS.length;
const UNMAPPED = TEXT_FIELDS.length + 1;

/**
 * The packed layout, for readers of committed batches (detection reads them straight from their
 * arrays, as the writer does: no object per event on the serving thread).
 */
export const PACKED_LAYOUT = { fields: F, intsPerEvent: INTS_PER_EVENT, status: STATUS } as const;

/** The ints of a call's shape (see CallShape), in the packed layout. */
const SHAPE_INTS = [F.tenantId, F.workload, F.apiKeyId, F.method, F.host, F.pathTemplate, F.scope, UNMAPPED, F.outcome, F.errorCode];

/** Whether the events whose ints start at `a` and `b` have the same shape. */
function sameShape(ints: Int32Array, a: number, b: number): boolean {
  for (const f of SHAPE_INTS) if (ints[a + f] !== ints[b + f]) return false;
  return true;
}

/**
 * Packs a batch one event at a time, as calls finish: the recorder keeps numbers and each distinct
 * string once, not an object per call held until the batch is written (those outlived the young
 * generation and made every garbage collection on the serving thread dearer).
 */
export class PackedBatchBuilder {
  count = 0;
  private readonly strings: string[] = [];
  private readonly index = new Map<string, number>();
  private ints: Int32Array<ArrayBuffer>;
  private times: Float64Array<ArrayBuffer>;
  private latencies: Float64Array<ArrayBuffer>;

  constructor(capacity = 64) {
    this.ints = new Int32Array(Math.max(1, capacity) * INTS_PER_EVENT);
    this.times = new Float64Array(Math.max(1, capacity));
    this.latencies = new Float64Array(Math.max(1, capacity));
  }

  add(e: UsageEvent): void {
    if (this.count === this.latencies.length) this.grow();
    const { ints } = this;
    // Field by field, in TEXT_FIELDS order (a loop over field names costs a keyed lookup each).
    const k = this.count * INTS_PER_EVENT;
    this.putString(k + F.tokenId, e.tokenId);
    this.putString(k + F.tenantId, e.tenantId);
    this.putString(k + F.workload, e.workload);
    this.putString(k + F.apiKeyId, e.apiKeyId);
    this.putString(k + F.actor, e.actor);
    this.putString(k + F.method, e.method);
    this.putString(k + F.host, e.host);
    this.putString(k + F.pathTemplate, e.pathTemplate);
    this.putString(k + F.scope, e.scope);
    this.putString(k + F.outcome, e.outcome);
    this.putString(k + F.errorCode, e.errorCode);
    this.putString(k + F.sourceAddress, e.sourceAddress);
    ints[k + STATUS] = e.status;
    ints[k + UNMAPPED] = e.unmapped ? 1 : 0;
    this.times[this.count] = e.atMs;
    this.latencies[this.count++] = e.latencyMs;
  }

  /** Writes at `ints[k]` the index of `value` in the string table (-1 for null), adding it when new. */
  private putString(k: number, value: string | null): void {
    this.ints[k] = this.intern(k, value);
  }

  private intern(k: number, value: string | null): number {
    if (value === null) return -1;
    // Most fields repeat from one call to the next: compare with the same field of the event before first.
    if (k >= INTS_PER_EVENT) {
      const previous = this.ints[k - INTS_PER_EVENT]!;
      if (previous >= 0 && this.strings[previous] === value) return previous;
    }
    let n = this.index.get(value);
    if (n === undefined) {
      n = this.strings.push(value) - 1;
      this.index.set(value, n);
    }
    return n;
  }

  /** The batch so far, in arrays of its own (the builder may go on). */
  finish(): PackedEvents {
    return {
      count: this.count,
      strings: this.strings.slice(),
      times: this.times.slice(0, this.count),
      ints: this.ints.slice(0, this.count * INTS_PER_EVENT),
      latencies: this.latencies.slice(0, this.count),
    };
  }

  private grow() {
    const ints = new Int32Array(this.ints.length * 2);
    ints.set(this.ints);
    this.ints = ints;
    const times = new Float64Array(this.times.length * 2);
    times.set(this.times);
    this.times = times;
    const latencies = new Float64Array(this.latencies.length * 2);
    latencies.set(this.latencies);
    this.latencies = latencies;
  }
}

export function packEvents(batch: UsageEvent[]): PackedEvents {
  const builder = new PackedBatchBuilder(batch.length);
  for (const e of batch) builder.add(e);
  return builder.finish();
}

/** The events a packed batch holds, as objects: the inverse of packing (the writer reads batches packed; tests read them back with this). */
export function unpackEvents(packed: PackedEvents): UsageEvent[] {
  const { strings, ints, latencies, times } = packed;
  const text = (k: number) => (ints[k]! < 0 ? null : strings[ints[k]!]!);
  const events: UsageEvent[] = [];
  for (let i = 0, k = 0; i < packed.count; i++, k += INTS_PER_EVENT) {
    events.push({
      atMs: times[i]!,
      tokenId: text(k + F.tokenId)!,
      tenantId: text(k + F.tenantId),
      workload: text(k + F.workload),
      apiKeyId: text(k + F.apiKeyId),
      actor: text(k + F.actor)!,
      method: text(k + F.method)!,
      host: text(k + F.host),
      pathTemplate: text(k + F.pathTemplate)!,
      scope: text(k + F.scope),
      outcome: text(k + F.outcome) as UsageEvent['outcome'],
      errorCode: text(k + F.errorCode),
      sourceAddress: text(k + F.sourceAddress),
      status: ints[k + STATUS]!,
      unmapped: ints[k + UNMAPPED] === 1,
      latencyMs: latencies[i]!,
    });
  }
  return events;
}

/** Messages between the recorder and usage-writer.worker.ts. */
export type ToWorker = { type: 'write'; id: number; packed: PackedEvents } | { type: 'prune'; id: number; before: string } | { type: 'close' };
export type FromWorker = { type: 'written'; id: number } | { type: 'pruned'; id: number; deleted: number } | { type: 'failed'; id: number; error: string } | { type: 'closed' };

/**
 * Writes in a worker thread over a connection of its own, so the database work of recording
 * usage (several statements and a commit per batch; synchronous on SQLite) stays off the thread
 * that serves gateway calls. The worker starts with the first batch (commands that never forward
 * a call never start it) and is started again after it dies; a batch in flight when it died is
 * failed back to the recorder, which retries it (so a worker killed between its commit and its
 * answer can store that batch twice: delivery is at least once). `onStart` sees each thread
 * started (tests stop one to check the recovery).
 */
export function createWorkerUsageWriter(database: DatabaseConfig, options: { onStart?: (worker: Worker) => void } = {}): UsageWriter {
  let worker: Worker | null = null;
  let nextId = 1;
  const pending = new Map<number, { resolve: (deleted: number) => void; reject: (err: Error) => void }>();

  function failAll(err: Error) {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  }

  function ask(message: Extract<ToWorker, { id: number }>): Promise<number> {
    worker ??= start();
    const w = worker;
    return new Promise<number>((resolve, reject) => {
      pending.set(message.id, { resolve, reject });
      w.postMessage(message);
    });
  }

  function start(): Worker {
    const w = new Worker(WORKER_ENTRY, { workerData: { database } });
    w.unref();
    options.onStart?.(w);
    w.on('message', (m: FromWorker) => {
      if (m.type === 'closed') return;
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.type === 'failed') p.reject(new Error(m.error));
      else p.resolve(m.type === 'pruned' ? m.deleted : 0);
    });
    w.on('error', (err) => {
      if (worker === w) worker = null;
      failAll(new Error(`the usage writer thread failed: ${err.message}`));
    });
    w.on('exit', (code) => {
      if (worker === w) worker = null;
      failAll(new Error(`the usage writer thread stopped (exit code ${code})`));
    });
    return w;
  }

  return {
    write(packed) {
      // Copied, not transferred: the recorder keeps the batch until it is committed, to write it
      // again if this thread dies first (copying typed arrays is a memcpy).
      return ask({ type: 'write', id: nextId++, packed }).then(() => {});
    },

    prune(before) {
      return ask({ type: 'prune', id: nextId++, before });
    },

    async close() {
      const w = worker;
      worker = null;
      if (!w) return;
      // The worker closes its connection pool, answers, and is then stopped.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5_000);
        w.on('message', (m: FromWorker) => {
          if (m.type === 'closed') {
            clearTimeout(timer);
            resolve();
          }
        });
        w.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        w.postMessage({ type: 'close' } satisfies ToWorker);
      });
      await w.terminate();
    },
  };
}
