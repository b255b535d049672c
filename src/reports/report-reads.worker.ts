import { parentPort, workerData } from 'node:worker_threads';
import type { DatabaseConfig } from '../config/config.ts';
import { openStorage } from '../storage/database.ts';
import { inlineReportReads, type FromReadsWorker, type ToReadsWorker } from './report.reads.ts';

/**
 * A compliance report reading thread (report.reads.ts): the report's heavy counts on a connection
 * of its own, off the thread that serves requests. Reads one at a time, in the order asked.
 */
const { database } = workerData as { database: DatabaseConfig };
const port = parentPort!;
const storage = openStorage(database, { poolSize: 1 });
const reads = inlineReportReads(storage) as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
let chain = Promise.resolve();
port.on('message', (m: ToReadsWorker) => {
  chain = chain.then(async () => {
    let answer: FromReadsWorker;
    try {
      answer = { id: m.id, ok: true, value: await reads[m.name]!(...m.args) };
    } catch (err) {
      answer = { id: m.id, ok: false, error: (err as Error).message };
    }
    port.postMessage(answer);
  });
});
