import SqliteDatabase from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

/**
 * The WAL checkpoint thread of a SQLite file (database.ts): copies what commits appended to the
 * write-ahead log into the database file, and syncs it, on a connection of its own, so the serving
 * thread's commits never wait for that (a commit that crossed the automatic checkpoint's threshold
 * did, fsync included: about a third of a one-entry ledger append).
 */
const port = parentPort!;
const { file, busy } = workerData as { file: string; busy: Int32Array };
const db = new SqliteDatabase(file);
db.pragma('busy_timeout = 5000');
port.on('message', (m: { type: 'checkpoint' } | { type: 'stop' }) => {
  if (m.type === 'stop') {
    db.close();
    port.close();
    return;
  }
  try {
    // PASSIVE: copies what no reader still needs, never waits for readers or writers.
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    port.postMessage({ type: 'failed', error: (err as Error).message });
  } finally {
    Atomics.store(busy, 0, 0);
  }
});
