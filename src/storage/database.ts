import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import SqliteDatabase from 'better-sqlite3';
import { CompiledQuery, Kysely, PostgresDialect, type Transaction, SqliteDialect, SqliteDriver, type DatabaseConnection, type SqliteDatabase as KyselySqliteDatabase, type SqliteDialectConfig } from 'kysely';
import pg from 'pg';
import type { DatabaseConfig } from '../config/config.ts';
import { postgresDialect, sqliteDialect, type StorageDialect } from './dialect.ts';
import { openSqliteReader, type ArrayScan } from './sqlite-reader.ts';
import type { Database } from './schema.ts';

export type Db = Kysely<Database>;

export type { ArrayScan } from './sqlite-reader.ts';

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
  /**
   * A short unit of work, in a transaction of its own: on SQLite it may commit in a group with
   * the grouped units queued right behind it (see GroupCommitSqliteDriver), and resolves once its
   * group has committed. The callback must be short and must not wait for another unit of work (a
   * grouped unit still running a second after the units held for it is rolled back and fails).
   * Elsewhere, `db.transaction().execute(callback)`.
   */
  grouped<T>(callback: (trx: Transaction<Database>) => Promise<T>): Promise<T>;
  /** On SQLite: units of work committed and COMMITs made since the storage opened (grouped units commit together when they queue). */
  commitGroups?(): { units: number; commits: number };
  close(): Promise<void>;
}

function poolScan(db: Db) {
  return (compiledSql: string): ArrayScan =>
    async (params) => {
      const result = await db.executeQuery<Record<string, unknown>>(CompiledQuery.raw(compiledSql, params));
      return result.rows.map((r) => Object.values(r));
    };
}

/** The statement a unit of work that joins an open group begins, releases or rolls back to. */
const UNIT_SAVEPOINT = 'custody_unit';
/** A group of units commits once it holds this many, or once its write lock has been held this long, whoever waits. */
const GROUP_MAX_UNITS = 64;
const GROUP_MAX_MS = 10;
/**
 * A unit that joined a group and is still running this long after the units held for it: it is
 * rolled back and fails, and they commit. A grouped unit is short by its caller's word; one that
 * waits this long is waiting for something it must not (another unit of work, which may be held
 * for it: without this, a deadlock that stops every write).
 */
const GROUP_STALL_MS = 1_000;

/**
 * What `db.transaction().execute` (groupCommits) hands the driver for each unit of work: filled at
 * commit with the promise of its group's COMMIT when the unit's changes wait for others to join
 * them.
 */
interface Ticket {
  committed: Promise<void> | null;
}

interface Deferred {
  resolve(): void;
  reject(error: Error): void;
}

/** A caller waiting for the connection, and whether it runs a unit of work that may be grouped (Storage.grouped). */
interface Waiting {
  resume(): void;
  grouped: boolean;
}

/**
 * Kysely's SQLite dialect, with three changes:
 * - transactions begin IMMEDIATE: they take the write lock up front (waiting up to busy_timeout)
 *   instead of at their first write. A second connection writes to the same file (the gateway's
 *   usage writer thread, the CLI), and a deferred transaction that read before that connection
 *   committed could then not write at all (SQLITE_BUSY_SNAPSHOT, no wait, no retry);
 * - units of work declared short (`Storage.grouped`) commit in groups: one that ends while the
 *   next in line for the one connection is another such unit leaves its transaction open, and the
 *   next runs inside it, in a savepoint of its own (so one that fails rolls back alone); the group
 *   commits when the next in line is anything else or nobody, or once it holds 64 units or is 10 ms old (checked as each unit ends). A commit
 *   writes every page the transaction touched to the log, about half of what a one-entry change
 *   costs, which a group pays once. Each unit's `execute` resolves only once its group has
 *   committed (and rejects if that commit fails): nothing is answered before it is stored. Any
 *   other transaction, and a grouped unit that nobody follows, commits exactly as before;
 * - prepared statements are reused by SQL text (bounded): preparing is a good part of the cost of
 *   a small query. Kysely runs one query at a time on its one connection, so a cached statement
 *   is never in use twice.
 */
class GroupCommitSqliteDriver extends SqliteDriver {
  readonly #hooks: DriverHooks;
  readonly #sqlite: SqliteDatabase.Database;
  // The one connection, handed in turn (first come, first served), each waiter with what it will
  // run: a commit looks at the next in line to decide whether to wait for it.
  #held = false;
  readonly #waiting: Waiting[] = [];
  /** Set by Storage.grouped around its synchronous call of `execute`, which acquires at once. */
  #intent = false;
  /** Whether the current holder of the connection runs a grouped unit. */
  #holderGrouped = false;
  #connection: DatabaseConnection | undefined;
  /** Units committed in the open transaction and waiting for its COMMIT; null when none is open. */
  #group: { pending: Deferred[]; stall: NodeJS.Timeout } | null = null;
  /**
   * The unit running on the connection: whether it may be grouped, whether it joined an open group
   * (then it runs in a savepoint), its ticket, and the error it failed with if it was rolled back
   * for stalling its group.
   */
  #unit: { grouped: boolean; joined: boolean; ticket: Ticket | null; aborted: Error | null } | null = null;
  /** When the open transaction took the write lock. */
  #began = 0;
  /**
   * The transaction statements, run synchronously (better-sqlite3 runs every statement to its end
   * at once): the driver's state changes in the same step as the statement, so nothing (a close, a
   * timer) can come between them.
   */
  readonly #run: (sql: string) => void;
  readonly stats = { units: 0, commits: 0 };

  constructor(config: SqliteDialectConfig, hooks: DriverHooks, sqlite: SqliteDatabase.Database) {
    super(config);
    this.#hooks = hooks;
    this.#sqlite = sqlite;
    const statements = new Map<string, SqliteDatabase.Statement>();
    this.#run = (sql) => {
      let statement = statements.get(sql);
      if (!statement) statements.set(sql, (statement = sqlite.prepare(sql)));
      statement.run();
    };
  }

  /** Storage.grouped: the next acquisition, made synchronously by the `execute` it is about to call, is a grouped unit's. */
  intend(grouped: boolean): void {
    this.#intent = grouped;
  }

  /**
   * A query on the root `db` from inside a transaction's callback (instead of on its `trx`) waits
   * for the one connection that transaction holds: awaited there, it never ends, and every write
   * of the process waits behind it. Under test (`inside` given) that is an error at once, naming
   * the fix.
   */
  override async acquireConnection(): Promise<DatabaseConnection> {
    const grouped = this.#intent;
    this.#intent = false;
    if (this.#hooks.inside?.getStore()?.open) {
      throw new Error('A query on the root database was made inside a transaction on SQLite, whose one connection that transaction holds: run it on the transaction (trx / work.trx), or before the transaction begins.');
    }
    if (this.#held) await new Promise<void>((resume) => this.#waiting.push({ resume, grouped }));
    else this.#held = true;
    this.#holderGrouped = grouped;
    const inner = await super.acquireConnection();
    if (!this.#connection) {
      // The base driver's one connection, wrapped once.
      // A plain query (outside any unit) never runs inside a group's open transaction: the group
      // commits first, so what it reads is stored and what it writes commits on its own. A unit
      // rolled back for stalling its group, or whose transaction the database rolled back (a full
      // disk, RAISE(ROLLBACK)) while its callback went on, runs nothing more: its statements would
      // otherwise commit one by one, outside any transaction.
      const before = async () => {
        const unit = this.#unit;
        if (unit) {
          if (unit.aborted) throw unit.aborted;
          if (!this.#sqlite.inTransaction) throw (unit.aborted = rolledBackByDatabase());
        } else if (this.#group) this.#commit(false);
      };
      this.#connection = {
        executeQuery: async (query) => {
          await before();
          return inner.executeQuery(query);
        },
        streamQuery: (query, chunkSize) =>
          (async function* () {
            await before();
            yield* inner.streamQuery(query, chunkSize);
          })(),
      };
    }
    return this.#connection!;
  }

  override async releaseConnection(): Promise<void> {
    // Held units wait only for a grouped unit next in line: otherwise (a plain query, another
    // transaction, nobody, or a holder that ran no query at all) they commit now.
    if (this.#group && !this.#unit && !this.#waiting[0]?.grouped) this.#commit(false);
    await super.releaseConnection();
    const next = this.#waiting.shift();
    if (next) next.resume();
    else this.#held = false;
  }

  /** Called by groupCommits inside each unit's callback, on the connection that unit holds. */
  enter(ticket: Ticket): void {
    if (this.#unit) this.#unit.ticket = ticket;
  }

  override async beginTransaction(): Promise<void> {
    const grouped = this.#holderGrouped;
    if (this.#group && (!grouped || this.#group.pending.length >= GROUP_MAX_UNITS || performance.now() - this.#began >= GROUP_MAX_MS)) this.#commit(false);
    const joined = this.#group !== null;
    try {
      if (joined) this.#run(`savepoint ${UNIT_SAVEPOINT}`);
      else {
        this.#run('begin immediate');
        this.#began = performance.now();
      }
    } catch (err) {
      // Kysely does not roll back a transaction that failed to begin: the units held for this one
      // are told here (the connection closing under them, say), or they would wait forever.
      this.#fail(new Error(`A change was not stored: the transaction it waited in could not go on (${(err as Error).message}).`));
      try {
        if (this.#sqlite.inTransaction) this.#run('rollback');
      } catch {
        // Nothing more can be undone.
      }
      throw err;
    }
    this.#unit = { grouped, joined, ticket: null, aborted: null };
  }

  override async commitTransaction(): Promise<void> {
    const unit = this.#unit!;
    this.#unit = null;
    if (unit.aborted) throw unit.aborted;
    if (!this.#sqlite.inTransaction) {
      // The database rolled the whole transaction back and the callback went on: nothing of this
      // unit, nor of any held for it, was stored.
      const error = rolledBackByDatabase();
      this.#fail(error);
      throw error;
    }
    if (unit.joined) this.#run(`release ${UNIT_SAVEPOINT}`);
    this.stats.units++;
    const pending = this.#group?.pending.length ?? 0;
    if (unit.grouped && unit.ticket && this.#waiting[0]?.grouped && pending + 1 < GROUP_MAX_UNITS && performance.now() - this.#began < GROUP_MAX_MS) {
      // The next in line is a grouped unit: this one's changes stay in the open transaction, for it to join.
      if (!this.#group) {
        const group: { pending: Deferred[]; stall: NodeJS.Timeout } = { pending: [], stall: setTimeout(() => setImmediate(() => this.#stalled(group)), GROUP_STALL_MS) };
        group.stall.unref();
        this.#group = group;
      }
      let deferred!: Deferred;
      const committed = new Promise<void>((resolve, reject) => (deferred = { resolve, reject }));
      // Awaited by groupCommits as soon as `execute` returns; never an unhandled rejection meanwhile.
      committed.catch(() => {});
      this.#group.pending.push(deferred);
      unit.ticket.committed = committed;
      return;
    }
    this.#commit(true);
  }

  override async rollbackTransaction(): Promise<void> {
    const unit = this.#unit;
    this.#unit = null;
    try {
      if (unit?.joined && this.#sqlite.inTransaction) {
        // Undoes this unit alone; the units before it stand.
        this.#run(`rollback to ${UNIT_SAVEPOINT}`);
        this.#run(`release ${UNIT_SAVEPOINT}`);
      }
    } catch {
      // Checked below: if the transaction is gone, so is the group.
    }
    if (this.#sqlite.inTransaction && this.#group) {
      // Committed now unless a grouped unit is next in line.
      if (!this.#waiting[0]?.grouped || this.#group.pending.length >= GROUP_MAX_UNITS || performance.now() - this.#began >= GROUP_MAX_MS) this.#commit(false);
      return;
    }
    if (this.#sqlite.inTransaction) this.#run('rollback');
    // An error SQLite answers by rolling back the whole transaction (a full disk, RAISE(ROLLBACK))
    // takes the units that waited in it too.
    this.#fail(new Error('A change was lost: the transaction it was committed in together with other changes was rolled back by the database (one of them failed in a way that ends the whole transaction). Nothing of it was stored; try again.'));
  }

  override async destroy(): Promise<void> {
    // Units held while none runs are committed; held for one still running, they are told (closing
    // the file rolls back what is open).
    if (this.#group && !this.#unit) this.#commit(false);
    this.#fail(new Error('A change was not stored: the database was closed before it committed.'));
    await super.destroy();
  }

  /**
   * GROUP_STALL_MS after units were first held (and once the I/O ready by then has run: a timer
   * comes before it in the event loop), the unit they wait for is still running: it is rolled back
   * (its later queries, and its commit, fail with the reason) and the group commits.
   */
  #stalled(group: { pending: Deferred[]; stall: NodeJS.Timeout }): void {
    if (this.#group !== group) return;
    const unit = this.#unit;
    // A unit that began a transaction of its own never runs while a group is open (see beginTransaction).
    if (unit && !unit.joined) return;
    if (unit && this.#sqlite.inTransaction) {
      try {
        this.#run(`rollback to ${UNIT_SAVEPOINT}`);
        this.#run(`release ${UNIT_SAVEPOINT}`);
      } catch (err) {
        // The unit is in the middle of reading a stream (the connection is busy): it and the
        // group go together.
        unit.aborted = new Error(`This change was rolled back: it ran for over ${GROUP_STALL_MS} ms while changes committed before it waited for it, and could not be undone alone (${(err as Error).message}).`);
        this.#fail(unit.aborted);
        return;
      }
      unit.aborted = new Error(
        `This change was rolled back: it ran for over ${GROUP_STALL_MS} ms while changes committed before it waited for it (a unit of work run with Storage.grouped must be short, and must not wait for another unit of work). Nothing of it was stored; try again.`,
      );
    }
    this.#commit(false);
  }

  /**
   * COMMIT: the group's units (and the running one, `own`) are stored. A failure rolls back and
   * fails them all; it is thrown to the running unit, and otherwise only told to the group's units
   * (a plain query that asked for the commit is not theirs).
   */
  #commit(own: boolean): void {
    const group = this.#group;
    this.#group = null;
    if (group) clearTimeout(group.stall);
    try {
      this.#run('commit');
    } catch (err) {
      try {
        if (this.#sqlite.inTransaction) this.#run('rollback');
      } catch {
        // Nothing more can be undone.
      }
      const error = new Error(`A change was not stored: the database could not commit it (${(err as Error).message}).`);
      for (const d of group?.pending ?? []) d.reject(error);
      if (own) throw err;
      return;
    }
    this.stats.commits++;
    for (const d of group?.pending ?? []) d.resolve();
    this.#hooks.afterCommit();
  }

  #fail(error: Error): void {
    const group = this.#group;
    this.#group = null;
    if (group) clearTimeout(group.stall);
    for (const d of group?.pending ?? []) d.reject(error);
  }
}

function rolledBackByDatabase(): Error {
  return new Error('A change was lost: the database rolled back the transaction it was made in (one of its statements failed in a way that ends the whole transaction). Nothing of it was stored; try again.');
}

/** What the driver is given besides its config: called after each commit; under test, the open transactions (groupCommits). */
interface DriverHooks {
  afterCommit: () => void;
  inside: AsyncLocalStorage<OpenTransaction> | null;
}

class CustodySqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  readonly #hooks: DriverHooks;
  readonly #sqlite: SqliteDatabase.Database;
  driver: GroupCommitSqliteDriver | undefined;
  constructor(config: SqliteDialectConfig, hooks: DriverHooks, sqlite: SqliteDatabase.Database) {
    super(config);
    this.#config = config;
    this.#hooks = hooks;
    this.#sqlite = sqlite;
  }
  override createDriver() {
    this.driver = new GroupCommitSqliteDriver(this.#config, this.#hooks, this.#sqlite);
    return this.driver;
  }
}

/** A transaction whose callback has not yet ended (the context of everything it runs). */
interface OpenTransaction {
  open: boolean;
}

/**
 * Wraps `db.transaction().execute(...)` on SQLite: each unit of work hands the driver a ticket, and
 * `execute` resolves only once the group its changes were committed in has committed (see
 * GroupCommitSqliteDriver).
 *
 * Under test (`inside` given; vitest sets VITEST, and the processes a test starts inherit it) it
 * also marks the callbacks so the driver can tell a query made inside one on the root database
 * (see GroupCommitSqliteDriver.acquireConnection): on Node 20 an AsyncLocalStorage turns on promise
 * hooks for the whole process, a cost every request and gateway call would pay in service. It
 * catches a query started inside a callback; one started outside and awaited inside (a shared
 * loading promise) it cannot tell from an ordinary wait.
 */
function groupCommits(db: Db, driver: GroupCommitSqliteDriver, inside: AsyncLocalStorage<OpenTransaction> | null): void {
  const transaction = db.transaction.bind(db);
  db.transaction = () => {
    const builder = transaction();
    const execute = builder.execute.bind(builder);
    builder.execute = async <T>(callback: (trx: Parameters<Parameters<typeof execute>[0]>[0]) => Promise<T>) => {
      const ticket: Ticket = { committed: null };
      const result = await execute((trx) => {
        driver.enter(ticket);
        if (!inside) return callback(trx);
        const open: OpenTransaction = { open: true };
        return inside.run(open, async () => {
          try {
            return await callback(trx);
          } finally {
            open.open = false;
          }
        });
      });
      if (ticket.committed) await ticket.committed;
      return result;
    };
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
    const dialect = new CustodySqliteDialect({ database: cachingStatements(sqlite) }, { afterCommit: () => checkpoints?.afterCommit(), inside }, sqlite);
    const db = new Kysely<Database>({ dialect });
    groupCommits(db, dialect.driver!, inside);
    const reader = config.file === ':memory:' ? null : openSqliteReader(config.file);
    const arrayScan = reader ? (sql: string) => reader.arrayScan(sql) : poolScan(db);
    return {
      db,
      dialect: sqliteDialect,
      arrayScan,
      grouped: (callback) => {
        dialect.driver!.intend(true);
        try {
          return db.transaction().execute(callback);
        } finally {
          dialect.driver!.intend(false);
        }
      },
      commitGroups: () => ({ ...dialect.driver!.stats }),
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
  return { db, dialect: postgresDialect, arrayScan: poolScan(db), grouped: (callback) => db.transaction().execute(callback), close: () => db.destroy() };
}
