import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { DatabaseConfig } from '../config/config.ts';
import { findingStatusTypeCounts } from '../governance/finding.queries.ts';
import { CustodyError } from '../shared/errors.ts';
import type { Storage } from '../storage/database.ts';
import { createTokenReportQueries } from '../tokens/token.report-queries.ts';

/**
 * The compliance report's heavy reads: each counts over the whole inventory or every live finding
 * (hundreds of milliseconds at a million tokens). Plain functions of a storage, so they run on the
 * serving thread's connection or on a reading thread's own.
 */
export function inlineReportReads(storage: Storage) {
  const tokens = createTokenReportQueries({ storage });
  return {
    lackingCounts: (tenantId: string | undefined) => tokens.lackingCounts(tenantId),
    liveCounts: (tenantId: string | undefined) => tokens.liveCounts(tenantId),
    connections: (tenantId: string | undefined) => tokens.connections(tenantId),
    revocationTimes: (tenantId: string | undefined, from: string, to: string) => tokens.revocationTimes(tenantId, from, to),
    findingCounts: (tenantId: string | undefined) => findingStatusTypeCounts(storage.db, tenantId),
  };
}

export type ReportReads = ReturnType<typeof inlineReportReads>;
export type ReportReadName = keyof ReportReads;

/** Messages between the pool below and report-reads.worker.ts. */
export type ToReadsWorker = { id: number; name: ReportReadName; args: unknown[] };
export type FromReadsWorker = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

/** Reading threads at most (each a SQLite connection of its own): the 2 cores here, and the serving thread keeps one. */
const MAX_THREADS = 2;
/** Reads waiting or running across the threads beyond which a report is refused (503 report_busy) rather than queued. */
const MAX_IN_FLIGHT = 32;
/** A thread with nothing to do for this long stops (its connection with it); the next report starts one (~50 ms). */
const IDLE_MS = 60_000;
/** A reading thread's heap: its results are counts, a few megabytes at most. */
const WORKER_LIMITS = { maxOldGenerationSizeMb: 128, maxYoungGenerationSizeMb: 16 };

const WORKER_ENTRY = import.meta.url.endsWith('.ts') ? new URL('./report-reads.worker.mjs', import.meta.url) : new URL('./report-reads.worker.js', import.meta.url);

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void; weight: number };
type Slot = { worker: Worker; inFlight: Map<number, Pending>; idle: NodeJS.Timeout | null };

/**
 * What each read costs, roughly (measured at 1M tokens and 1.3M findings: connections ~500 ms,
 * findings ~200 ms, a month's revocations ~100 ms, tokens lacking an approver or purpose ~30 ms): a read goes to the
 * thread with the least work queued, so a report's four split about evenly over two threads.
 */
const WEIGHT: Record<ReportReadName, number> = { connections: 5, findingCounts: 2, liveCounts: 2, lackingCounts: 1, revocationTimes: 1 };
const queued = (s: Slot) => [...s.inFlight.values()].reduce((n, p) => n + p.weight, 0);

/**
 * The report's reads, on reading threads when the database is a SQLite file. SQLite answers on the
 * thread that asks, so a report computed on the serving thread held every other request and
 * gateway call for its whole duration (over a second at a million tokens); on threads of their own
 * (WAL lets readers run beside the writer) the serving thread only waits for the answers, and two
 * reads run at once on two cores. PostgreSQL and an in-memory SQLite database (which no other
 * connection can open) read on the serving thread's storage: PostgreSQL's pool already runs them in
 * parallel, in the database server.
 */
export function createReportReads(storage: Storage, database: DatabaseConfig | undefined): ReportReads & { close(): Promise<void>; threads(): Worker[] } {
  const inline = inlineReportReads(storage);
  if (!database || database.kind !== 'sqlite' || database.file === ':memory:') return { ...inline, close: async () => {}, threads: () => [] };
  const threads = Math.max(1, Math.min(MAX_THREADS, availableParallelism()));
  const slots: Slot[] = [];
  let nextId = 0;
  let closed = false;

  const inFlight = () => slots.reduce((n, s) => n + s.inFlight.size, 0);

  function retire(slot: Slot, err: Error) {
    const i = slots.indexOf(slot);
    if (i !== -1) slots.splice(i, 1);
    if (slot.idle) clearTimeout(slot.idle);
    for (const p of slot.inFlight.values()) p.reject(err);
    slot.inFlight.clear();
  }

  function spawn(): Slot {
    const worker = new Worker(WORKER_ENTRY, { workerData: { database }, resourceLimits: WORKER_LIMITS });
    const slot: Slot = { worker, inFlight: new Map(), idle: null };
    worker.on('message', (m: FromReadsWorker) => {
      const p = slot.inFlight.get(m.id);
      if (!p) return;
      slot.inFlight.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(new Error(`a report read failed: ${m.error}`));
      if (slot.inFlight.size === 0) idle(slot);
    });
    worker.on('error', (err) => retire(slot, new Error(`a report reading thread failed: ${err.message}`)));
    worker.on('exit', (code) => retire(slot, new Error(`a report reading thread stopped (exit code ${code})`)));
    slots.push(slot);
    return slot;
  }

  /** Nothing to do: the thread no longer keeps the process alive, and stops after IDLE_MS. */
  function idle(slot: Slot) {
    slot.worker.unref();
    slot.idle = setTimeout(() => {
      retire(slot, new Error('stopped while idle'));
      void slot.worker.terminate();
    }, IDLE_MS);
    slot.idle.unref();
  }

  function run<N extends ReportReadName>(name: N, args: Parameters<ReportReads[N]>): ReturnType<ReportReads[N]> {
    if (closed) return Promise.reject(new CustodyError('shutting_down')) as ReturnType<ReportReads[N]>;
    if (inFlight() >= MAX_IN_FLIGHT) return Promise.reject(new CustodyError('report_busy')) as ReturnType<ReportReads[N]>;
    // A free thread, else a new one while under the limit, else the one with the least work queued.
    const free = slots.find((s) => s.inFlight.size === 0);
    const slot = free ?? (slots.length < threads ? spawn() : slots.reduce((a, b) => (queued(b) < queued(a) ? b : a)));
    if (slot.idle) {
      clearTimeout(slot.idle);
      slot.idle = null;
    }
    slot.worker.ref();
    const id = ++nextId;
    return new Promise<unknown>((resolve, reject) => {
      slot.inFlight.set(id, { resolve, reject, weight: WEIGHT[name] });
      slot.worker.postMessage({ id, name, args } satisfies ToReadsWorker);
    }) as ReturnType<ReportReads[N]>;
  }

  return {
    lackingCounts: (tenantId) => run('lackingCounts', [tenantId]),
    liveCounts: (tenantId) => run('liveCounts', [tenantId]),
    connections: (tenantId) => run('connections', [tenantId]),
    revocationTimes: (tenantId, from, to) => run('revocationTimes', [tenantId, from, to]),
    findingCounts: (tenantId) => run('findingCounts', [tenantId]),
    /** The reading threads running now (diagnostics and tests). */
    threads: () => slots.map((s) => s.worker),
    async close() {
      closed = true;
      const all = slots.splice(0);
      for (const s of all) retire(s, new CustodyError('shutting_down'));
      await Promise.all(all.map((s) => s.worker.terminate()));
    },
  };
}
