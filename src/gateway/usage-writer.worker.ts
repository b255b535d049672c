import { parentPort, workerData } from 'node:worker_threads';
import type { DatabaseConfig } from '../config/config.ts';
import { openStorage } from '../storage/database.ts';
import { createUsageRepo } from './usage.repo.ts';
import { pruneUsage, unpackEvents, writeUsageBatch, type FromWorker, type ToWorker } from './usage-writer.ts';

/** The usage writer thread (see createWorkerUsageWriter): one connection, one batch at a time. */
const port = parentPort!;
const storage = openStorage((workerData as { database: DatabaseConfig }).database, { poolSize: 2 });
const repo = createUsageRepo();
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
        reply({ type: 'pruned', id: m.id, deleted: await pruneUsage(storage.db, repo, m.before) });
      } else {
        await writeUsageBatch(storage.db, repo, unpackEvents(m.packed));
        reply({ type: 'written', id: m.id });
      }
    } catch (err) {
      reply({ type: 'failed', id: m.id, error: (err as Error).message });
    }
  });
});
