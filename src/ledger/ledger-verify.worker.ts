import { parentPort, workerData } from 'node:worker_threads';
import type { DatabaseConfig } from '../config/config.ts';
import { openSqliteReader } from '../storage/sqlite-reader.ts';
import { chainEntryFromArray, SQLITE_ENTRY_SQL, SQLITE_RANGE_SQL, sqliteRangeScan } from './ledger.scan.ts';
import { verifyRange, type RangeScan } from './ledger.verify.ts';

/**
 * A ledger verification worker: walks one range of the ledger on a connection of its own (a
 * read-only one on a SQLite file), off the thread that serves requests, and reports progress and
 * its result (ledger.service.ts joins the ranges). On a SQLite file it loads no query builder and
 * no PostgreSQL client (a third of a second of start-up a thread); PostgreSQL's scan loads them.
 */
const { database, fromSeq, toSeq, watch } = workerData as { database: DatabaseConfig; fromSeq: number; toSeq: number; watch: number[] };
const port = parentPort!;
let lastReport = 0;
let close: () => Promise<void> = async () => {};
try {
  let scan: RangeScan;
  if (database.kind === 'sqlite') {
    const reader = openSqliteReader(database.file);
    close = async () => reader.close();
    const entry = reader.arrayScan(SQLITE_ENTRY_SQL);
    scan = sqliteRangeScan(reader.arrayScan(SQLITE_RANGE_SQL), async (seq) => {
      const [row] = await entry([seq]);
      return row ? chainEntryFromArray(row) : undefined;
    });
  } else {
    const [{ openStorage }, { createLedgerRangeScan }] = await Promise.all([import('../storage/database.ts'), import('./ledger.repo.ts')]);
    const storage = openStorage(database, { poolSize: 1 });
    close = () => storage.close();
    scan = createLedgerRangeScan(storage);
  }
  const result = await verifyRange(scan, fromSeq, toSeq, watch, (checked) => {
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
  await close();
}
