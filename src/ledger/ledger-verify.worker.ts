import { parentPort, workerData } from 'node:worker_threads';
import type { DatabaseConfig } from '../config/config.ts';
import { openStorage } from '../storage/database.ts';
import { createLedgerRangeScan } from './ledger.repo.ts';
import { verifyRange } from './ledger.verify.ts';

/**
 * A ledger verification worker: walks one range of the ledger on a connection of its own (a
 * read-only one on a SQLite file), off the thread that serves requests, and reports progress and
 * its result (ledger.service.ts joins the ranges).
 */
const { database, fromSeq, toSeq, watch } = workerData as { database: DatabaseConfig; fromSeq: number; toSeq: number; watch: number[] };
const port = parentPort!;
const storage = openStorage(database, { poolSize: 1 });
let lastReport = 0;
try {
  const result = await verifyRange(createLedgerRangeScan(storage), fromSeq, toSeq, watch, (checked) => {
    if (checked - lastReport >= 5_000) {
      port.postMessage({ type: 'progress', checked: checked - lastReport });
      lastReport = checked;
    }
  });
  port.postMessage({ type: 'progress', checked: result.count - lastReport });
  port.postMessage({ type: 'done', result });
} catch (err) {
  port.postMessage({ type: 'failed', error: (err as Error).message });
} finally {
  await storage.close();
}
