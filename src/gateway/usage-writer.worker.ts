import fs from 'node:fs';
import os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { DatabaseConfig } from '../config/config.ts';
import { openStorage } from '../storage/database.ts';
import { createUsageStores, pruneUsage, writeUsageBatch, type FromWorker, type ToWorker } from './usage-writer.ts';

/** The usage writer thread (see createWorkerUsageWriter): one connection, one batch at a time. */
const port = parentPort!;

/** How much lower than the process this thread's scheduling priority is (nice steps). */
const WRITER_NICE_STEPS = 10;

/**
 * Serving calls comes first: on Linux this thread lowers its own scheduling priority by
 * WRITER_NICE_STEPS (a thread id names just that thread to setpriority), so when it and the
 * serving thread want the same CPU, calls are not held up behind a batch of inserts. If it then
 * falls behind, the queue's high-water mark pushes back on new calls (usage-recorder.ts): slower,
 * never lost.
 */
function yieldToServing() {
  if (process.platform !== 'linux') return;
  try {
    const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) os.setPriority(tid, Math.min(19, os.getPriority(tid) + WRITER_NICE_STEPS));
  } catch {
    // Not allowed or not there: the thread runs at the process's priority.
  }
}
yieldToServing();
const storage = openStorage((workerData as { database: DatabaseConfig }).database, { poolSize: 2 });
const stores = createUsageStores();
const reply = (m: FromWorker) => port.postMessage(m);

// Batches arrive one at a time (the recorder waits for each answer), but a chain keeps them in
// order even if that ever changes.
let chain = Promise.resolve();
port.on('message', (m: ToWorker) => {
  chain = chain.then(async () => {
    if (m.type === 'close') {
      await storage.close().catch(() => {});
      reply({ type: 'closed' });
      port.close();
      return;
    }
    try {
      if (m.type === 'prune') {
        reply({ type: 'pruned', id: m.id, deleted: await pruneUsage(storage.db, stores.usage, m.before) });
      } else {
        await writeUsageBatch(storage.db, stores, m.packed);
        reply({ type: 'written', id: m.id });
      }
    } catch (err) {
      reply({ type: 'failed', id: m.id, error: (err as Error).message });
    }
  });
});
