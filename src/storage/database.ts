import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import SqliteDatabase from 'better-sqlite3';
import { CompiledQuery, Kysely, PostgresDialect, SqliteDialect, SqliteDriver, type DatabaseConnection, type SqliteDatabase as KyselySqliteDatabase, type SqliteDialectConfig } from 'kysely';
import pg from 'pg';
import type { DatabaseConfig } from '../config/config.ts';
import { postgresDialect, sqliteDialect, type StorageDialect } from './dialect.ts';
import type { Database } from './schema.ts';

export type Db = Kysely<Database>;

/** A long ordered read, row by row as arrays of column values (see Storage.arrayScan). */
export type ArrayScan = (params: unknown[]) => Promise<unknown[][]>;

export interface Storage {
  readonly db: Db;
  readonly dialect: StorageDialect;
  /**
   * A statement for reads that walk millions of rows (ledger verification), its rows as arrays of
   * column values in the order selected. `compiledSql` is the query as Kysely compiled it for this
   * database; `params` fill its placeholders. On a SQLite file it runs on a read-only connection
   * of its own as a prepared statement returning arrays (a committed snapshot, never another
   * transaction's uncommitted rows, and about half the cost of building row objects through the
   * query builder); elsewhere it is an ordinary query.
   */
  arrayScan(compiledSql: string): ArrayScan;
  close(): Promise<void>;
}

function poolScan(db: Db) {
  return (compiledSql: string): ArrayScan =>
    async (params) => {
      const result = await db.executeQuery<Record<string, unknown>>(CompiledQuery.raw(compiledSql, params));
      return result.rows.map((r) => Object.values(r));
    };
}

/**
 * Kysely's SQLite dialect, with two changes:
 * - transactions begin IMMEDIATE: they take the write lock up front (waiting up to busy_timeout)
 *   instead of at their first write. A second connection writes to the same file (the gateway's
 *   usage writer thread, the CLI), and a deferred transaction that read before that connection
 *   committed could then not write at all (SQLITE_BUSY_SNAPSHOT, no wait, no retry);
 * - prepared statements are reused by SQL text (bounded): preparing is a good part of the cost of
 *   a small query. Kysely runs one query at a time on its one connection, so a cached statement
 *   is never in use twice.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  readonly #hooks: DriverHooks;
  constructor(config: SqliteDialectConfig, hooks: DriverHooks) {
    super(config);
    this.#hooks = hooks;
  }
  /**
   * A query on the root `db` from inside a transaction's callback (instead of on its `trx`) waits
   * for the one connection that transaction holds: awaited there, it never ends, and every write
   * of the process waits behind it. Under test (`inside` given) that is an error at once, naming
   * the fix.
   */
  override async acquireConnection(): Promise<DatabaseConnection> {
    if (this.#hooks.inside?.getStore()?.open) {
      throw new Error('A query on the root database was made inside a transaction on SQLite, whose one connection that transaction holds: run it on the transaction (trx / work.trx), or before the transaction begins.');
    }
    return super.acquireConnection();
  }
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
  override async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await super.commitTransaction(connection);
    this.#hooks.afterCommit();
  }
}

/** What the driver is given besides its config: called after each commit; under test, the open transactions (markTransactions). */
interface DriverHooks {
  afterCommit: () => void;
  inside: AsyncLocalStorage<OpenTransaction> | null;
}

class CustodySqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  readonly #hooks: DriverHooks;
  constructor(config: SqliteDialectConfig, hooks: DriverHooks) {
    super(config);
    this.#config = config;
    this.#hooks = hooks;
  }
  override createDriver() {
    return new ImmediateSqliteDriver(this.#config, this.#hooks);
  }
}

/** A transaction whose callback has not yet ended (the context of everything it runs). */
interface OpenTransaction {
  open: boolean;
}

/**
 * Marks the callbacks of `db.transaction().execute(...)` so the driver can tell a query made
 * inside one on the root database (see ImmediateSqliteDriver.acquireConnection). Under test only
 * (vitest sets VITEST, and the processes a test starts inherit it): on Node 20 an
 * AsyncLocalStorage turns on promise hooks for the whole process, a cost every request and
 * gateway call would pay. It catches a query started inside a callback; one started outside and
 * awaited inside (a shared loading promise) it cannot tell from an ordinary wait.
 */
function markTransactions(db: Db, inside: AsyncLocalStorage<OpenTransaction>): void {
  const transaction = db.transaction.bind(db);
  db.transaction = () => {
    const builder = transaction();
    const execute = builder.execute.bind(builder);
    builder.execute = <T>(callback: (trx: Parameters<Parameters<typeof execute>[0]>[0]) => Promise<T>) =>
      execute((trx) => {
        const open: OpenTransaction = { open: true };
        return inside.run(open, async () => {
          try {
            return await callback(trx);
          } finally {
            open.open = false;
          }
        });
      });
    return builder;
  };
}

const STATEMENT_CACHE_SIZE = 500;
/**
 * The kept statements' SQL text, in characters. A prepared statement holds roughly 45 bytes per
 * character of its text (a 1,000-row INSERT of 20 columns: ~40 KB of text, ~1.8 MB prepared), so
 * this bounds what the cache holds at about 45 MB whatever the statements are.
 */
const STATEMENT_CACHE_TEXT = 1_000_000;
/** A statement longer than this is prepared for its one use and not kept. */
const STATEMENT_KEPT_MAX_TEXT = 200_000;

/** The statement cache, bounded by count and by the length of what it keeps (oldest first out). */
export function cachingStatements(sqlite: SqliteDatabase.Database): KyselySqliteDatabase & { kept(): { statements: number; text: number } } {
  const statements = new Map<string, SqliteDatabase.Statement>();
  let text = 0;
  return {
    close: () => sqlite.close(),
    prepare(sql: string) {
      let statement = statements.get(sql);
      if (statement === undefined) {
        statement = sqlite.prepare(sql);
        if (sql.length <= STATEMENT_KEPT_MAX_TEXT) {
          while (statements.size > 0 && (statements.size >= STATEMENT_CACHE_SIZE || text + sql.length > STATEMENT_CACHE_TEXT)) {
            const oldest = statements.keys().next().value!;
            statements.delete(oldest);
            text -= oldest.length;
          }
          statements.set(sql, statement);
          text += sql.length;
        }
      }
      return statement as unknown as ReturnType<KyselySqliteDatabase['prepare']>;
    },
    kept: () => ({ statements: statements.size, text }),
  };
}

/** Makes a database file readable by its owner only (no-op where the process does not own it). */
function tightenFileMode(file: string): void {
  try {
    if ((fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
  } catch {
    // Not ours to change (a shared file, a read-only mount): leave it as it is.
  }
}

// PostgreSQL returns int8 (count(*), bigint columns) as strings; every value we keep fits in a double.
pg.types.setTypeParser(20, (v) => Number(v));

/** WAL size past which the checkpoint thread starts (below SQLite's own threshold of 1,000 pages) (and, once started, checkpoints every second). */
const CHECKPOINT_THREAD_AFTER_BYTES = 1024 * 1024;
const CHECKPOINT_EVERY_MS = 1_000;
/** The serving connection's own automatic checkpoint while the thread checkpoints: a backstop at 64 MB of WAL should it fall behind. */
const CHECKPOINT_BACKSTOP_PAGES = 16_384;
/** SQLite's default threshold, restored if the thread fails. */
const CHECKPOINT_DEFAULT_PAGES = 1_000;
const CHECKPOINT_ENTRY = import.meta.url.endsWith('.ts') ? new URL('./wal-checkpoint.worker.mjs', import.meta.url) : new URL('./wal-checkpoint.worker.js', import.meta.url);

/**
 * Checkpoints of a SQLite file's write-ahead log on a thread of its own (wal-checkpoint.worker.ts)
 * instead of in whichever commit crosses SQLite's threshold: that commit then copies the log into
 * the file and syncs it while its caller waits (for a one-entry ledger append, about a third of
 * its time). Asked for once a second (by a timer, and by commits when timers are held up), one at a time; started only once the log
 * has grown past 1 MB (a quiet database, and most tests, never need it). The connection keeps an
 * automatic checkpoint at 64 MB of log as a backstop, and goes back to SQLite's default if the
 * thread fails.
 */
function checkpointThread(sqlite: SqliteDatabase.Database, file: string): { afterCommit(): void; close(): Promise<void> } {
  let worker: Worker | null = null;
  let running = false;
  let exited: Promise<void> = Promise.resolve();
  // 1 while the thread checkpoints (it clears it itself: a busy serving thread may not read messages for a while).
  const busy = new Int32Array(new SharedArrayBuffer(4));
  let stopped = false;
  let lastAsked = performance.now();
  /** No more checkpoints from the thread: it is told to close its connection and end, and the connection checkpoints itself again. */
  const stop = () => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    if (running) worker?.postMessage({ type: 'stop' });
    try {
      if (sqlite.open) sqlite.pragma(`wal_autocheckpoint = ${CHECKPOINT_DEFAULT_PAGES}`);
    } catch {
      // The connection is busy or closing: its backstop threshold stands.
    }
  };
  const start = (): Worker => {
    const w = new Worker(CHECKPOINT_ENTRY, { workerData: { file, busy } });
    worker = w;
    running = true;
    exited = new Promise<void>((resolve) =>
      w.once('exit', () => {
        running = false;
        resolve();
        stop();
      }),
    );
    w.on('message', (m: { type: 'failed'; error: string }) => {
      if (m.type === 'failed') stop();
    });
    w.on('error', stop);
    // Last: a listener added after unref() holds the process open again. Unreferenced, the thread
    // never keeps a process alive that has nothing else to do (a CLI command, a test).
    w.unref();
    sqlite.pragma(`wal_autocheckpoint = ${CHECKPOINT_BACKSTOP_PAGES}`);
    return w;
  };
  const ask = () => {
    if (stopped || Atomics.load(busy, 0) === 1) return;
    try {
      if (!worker) {
        let size: number;
        try {
          size = fs.statSync(`${file}-wal`).size;
        } catch {
          return;
        }
        if (size < CHECKPOINT_THREAD_AFTER_BYTES) return;
        worker = start();
      }
      Atomics.store(busy, 0, 1);
      worker.postMessage({ type: 'checkpoint' });
    } catch {
      // No thread (it could not start): the connection checkpoints itself, as SQLite does by default.
      stop();
    }
  };
  const timer = setInterval(ask, CHECKPOINT_EVERY_MS);
  timer.unref();
  return {
    afterCommit() {
      // A busy serving thread may not run timers for a while: commits ask too, once a second.
      // Never throws: the transaction has committed.
      const now = performance.now();
      if (now - lastAsked < CHECKPOINT_EVERY_MS) return;
      lastAsked = now;
      ask();
    },
    async close() {
      stop();
      const w = worker;
      if (!w) return;
      // The thread closes its connection and ends; one stuck past two seconds is ended.
      const late = setTimeout(() => void w.terminate(), 2_000);
      await exited;
      clearTimeout(late);
    },
  };
}

export function openStorage(config: DatabaseConfig, options: { poolSize?: number; checkpointThread?: boolean } = {}): Storage {
  if (config.kind === 'sqlite') {
    // The database holds encrypted credentials, hashed keys and the ledger: its directory is made
    // 0700 and its file (and so its WAL and shared-memory files, which SQLite creates alike) 0600.
    if (config.file !== ':memory:') fs.mkdirSync(path.dirname(config.file), { recursive: true, mode: 0o700 });
    const sqlite = new SqliteDatabase(config.file);
    if (config.file !== ':memory:') tightenFileMode(config.file);
    // WAL + synchronous=NORMAL: a committed transaction survives the process being killed (it is in
    // the WAL, handed to the OS); only a power loss can lose the last commits. busy_timeout lets the
    // CLI (key rotation, migrate) and a running server share the file.
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    const checkpoints = options.checkpointThread && config.file !== ':memory:' ? checkpointThread(sqlite, config.file) : null;
    const inside = process.env.VITEST ? new AsyncLocalStorage<OpenTransaction>() : null;
    const db = new Kysely<Database>({ dialect: new CustodySqliteDialect({ database: cachingStatements(sqlite) }, { afterCommit: () => checkpoints?.afterCommit(), inside }) });
    if (inside) markTransactions(db, inside);
    let reader: SqliteDatabase.Database | undefined;
    const arrayScan =
      config.file === ':memory:'
        ? poolScan(db)
        : (compiledSql: string): ArrayScan => {
            let statement: SqliteDatabase.Statement | undefined;
            return async (params) => {
              if (!reader) {
                reader = new SqliteDatabase(config.file, { readonly: true });
                reader.pragma('busy_timeout = 5000');
              }
              statement ??= reader.prepare(compiledSql).raw(true);
              return statement.all(...params) as unknown[][];
            };
          };
    return {
      db,
      dialect: sqliteDialect,
      arrayScan,
      close: async () => {
        reader?.close();
        await checkpoints?.close();
        await db.destroy();
      },
    };
  }
  const pool = new pg.Pool({ connectionString: config.url, max: options.poolSize ?? 10 });
  // An idle client that loses its connection must not crash the process.
  pool.on('error', () => {});
  // Nor one checked out, between queries of a transaction (a failover, pg_terminate_backend,
  // idle_in_transaction_session_timeout): pg emits 'error' on the client, which without a listener
  // ends the process. The transaction's next query fails instead, it rolls back and the pool
  // drops the client.
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, dialect: postgresDialect, arrayScan: poolScan(db), close: () => db.destroy() };
}
