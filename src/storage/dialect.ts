import { CompiledQuery, sql, type Kysely, type RawBuilder, type SqlBool } from 'kysely';
import type { Database } from './schema.ts';
import pg from 'pg';
import type { DatabaseConfig } from '../config/config.ts';

/**
 * Everything that differs between SQLite and PostgreSQL lives behind this object; capabilities
 * ask it rather than branching on the database kind themselves.
 */
export interface StorageDialect {
  readonly kind: 'sqlite' | 'postgres';
  /**
   * Column type of an ever-growing 64-bit key. On SQLite it must be exactly `integer` to make the
   * column the rowid: one B-tree instead of a table plus a separate primary-key index, so walking
   * the ledger in order (verify) reads one structure, not two.
   */
  readonly sequenceType: 'integer' | 'bigint';
  /**
   * Serialises ledger appends across processes for the rest of the transaction. SQLite already
   * serialises writers (one connection per process, busy timeout across processes).
   */
  lockLedger(trx: Kysely<Database>): Promise<void>;
  /**
   * Locks names until the transaction ends, against other transactions taking one of them
   * (PostgreSQL: advisory transaction locks, taken in sorted order). SQLite: nothing to do — its
   * transactions begin IMMEDIATE, one writer at a time.
   */
  lockKeys(trx: Kysely<Database>, keys: readonly string[]): Promise<void>;
  /**
   * A read that will be written back in the same transaction, locked against concurrent writers
   * until it commits (PostgreSQL: `FOR UPDATE`). SQLite transactions begin IMMEDIATE, holding the
   * database's write lock from their start, so a read there is already safe from lost updates.
   */
  forUpdate<Q extends { forUpdate(of?: never): Q }>(query: Q, of?: string[]): Q;
  /** Statements that make a table refuse UPDATE, DELETE (and TRUNCATE where it exists). */
  appendOnlyGuards(table: string): string[];
  isUniqueViolation(err: unknown): boolean;
  /** The transaction lost a deadlock or serialization race and may simply be run again. */
  isRetryable(err: unknown): boolean;
  /**
   * Runs `fn` while holding a lock named `key` that other processes on the same database respect
   * (PostgreSQL: a transaction-scoped advisory lock on a connection of its own, so `fn` may do
   * network I/O without holding row locks). SQLite has one writing process per file by design, so
   * in-process single-flight (the caller's job) is the whole story there and this just runs `fn`.
   */
  withNamedLock<T>(db: Kysely<Database>, key: string, fn: () => Promise<T>): Promise<T>;
  /**
   * Tells other processes on the same database that something changed; inside a transaction the
   * message is delivered only if and when it commits (PostgreSQL NOTIFY). SQLite: one serving
   * process per file, so there is nobody to tell and this does nothing.
   */
  notify(db: Kysely<Database>, channel: string, payload: string): Promise<void>;
  /**
   * Listens on a channel over a connection of its own. `onConnected` runs on every (re)connect:
   * messages sent while disconnected are lost, so the caller must treat it as "forget everything".
   * SQLite: resolves at once and never calls back.
   */
  listen(database: DatabaseConfig, channel: string, handlers: ListenHandlers): Promise<Listener>;
  /**
   * `column` is one of `values`, bound as one parameter however many values there are (a text
   * array on PostgreSQL, JSON on SQLite): a set-based statement over 20,000 ids costs no
   * 20,000-parameter parse and plan.
   */
  anyOf(column: string, values: readonly string[]): RawBuilder<SqlBool>;
  /**
   * Inserts many rows (objects with the same keys, which are column names) in one statement with
   * one JSON parameter: PostgreSQL `json_populate_recordset` over the table's own row type, SQLite
   * `json_each`. `conflictDoNothing` names the unique columns a duplicate of which is skipped.
   */
  insertRows(db: Kysely<Database>, table: string, rows: readonly object[], conflictDoNothing?: readonly string[]): Promise<void>;
}

export interface ListenHandlers {
  onMessage(payload: string): void;
  onConnected?(): void;
  onError?(err: Error): void;
}

export interface Listener {
  close(): Promise<void>;
}

const LISTENER_APPLICATION_NAME = 'custody-listener';

const LEDGER_LOCK_KEY = 74200001;

/** The text of a multi-row INSERT, kept by shape (a bulk operation's pages share one). */
const insertSqlKept = new Map<string, string>();
function sqliteInsertSql(table: string, columns: readonly string[], rows: number, conflictDoNothing: readonly string[] | undefined): string {
  const key = `${table}|${columns.join(',')}|${rows}|${conflictDoNothing?.join(',') ?? ''}`;
  let text = insertSqlKept.get(key);
  if (text === undefined) {
    const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
    const row = `(${columns.map(() => '?').join(', ')})`;
    text =
      `insert into ${quote(table)} (${columns.map(quote).join(', ')}) values ${Array.from({ length: rows }, () => row).join(', ')}` +
      (conflictDoNothing ? ` on conflict (${conflictDoNothing.map(quote).join(', ')}) do nothing` : '');
    if (insertSqlKept.size >= 64) insertSqlKept.delete(insertSqlKept.keys().next().value!);
    insertSqlKept.set(key, text);
  }
  return text;
}

/**
 * Rows in the next multi-row statement of a SQLite insert: the largest power of two that fits
 * both what is left and a bound of about 30,000 parameters (SQLite's limit is 32,766).
 */
export function chunkRows(left: number, columns: number): number {
  const most = Math.max(1, Math.min(left, Math.floor(30_000 / Math.max(1, columns))));
  return 2 ** Math.floor(Math.log2(most));
}

export const sqliteDialect: StorageDialect = {
  kind: 'sqlite',
  sequenceType: 'integer',
  forUpdate: (query) => query,
  async lockLedger() {},
  async lockKeys() {},
  appendOnlyGuards(table) {
    return ['UPDATE', 'DELETE'].map(
      (op) =>
        `CREATE TRIGGER IF NOT EXISTS ${table}_no_${op.toLowerCase()} BEFORE ${op} ON ${table} ` +
        `BEGIN SELECT RAISE(ABORT, '${table} is append-only: ${op} refused'); END`,
    );
  },
  isUniqueViolation(err) {
    const code = (err as { code?: string }).code;
    return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
  },
  isRetryable: () => false,
  withNamedLock(_db, _key, fn) {
    return fn();
  },
  async notify() {},
  async listen() {
    return { close: async () => {} };
  },
  anyOf(column, values) {
    return sql<SqlBool>`${sql.ref(column)} in (select value from json_each(${JSON.stringify(values)}))`;
  },
  async insertRows(db, table, rows, conflictDoNothing) {
    // SQLite binds parameters cheaply and parses JSON slower than it binds: multi-row VALUES, in
    // statements under its bound on parameters. Rows with the same columns (every caller's) skip
    // the query builder: building and compiling a statement of thousands of values cost about as
    // much as SQLite's own work on a bulk revocation's pages.
    if (rows.length === 0) return;
    const columns = Object.keys(rows[0]!);
    const uniform = rows.every((row) => {
      const keys = Object.keys(row);
      // Kysely leaves out a column whose value is undefined; such rows take its path.
      return keys.length === columns.length && keys.every((k, i) => k === columns[i] && (row as Record<string, unknown>)[k] !== undefined);
    });
    // Statements of a power-of-two number of rows: a prepared statement of a thousand rows holds
    // about 2 MB, and the connection keeps what it prepared, so the shapes must repeat (a sweep's
    // pages each ending on a different count once kept hundreds of them).
    for (let i = 0; i < rows.length; ) {
      const chunk = rows.slice(i, i + chunkRows(rows.length - i, columns.length));
      i += chunk.length;
      if (uniform) {
        const params: unknown[] = [];
        for (const row of chunk) for (const c of columns) params.push((row as Record<string, unknown>)[c]);
        await db.executeQuery(CompiledQuery.raw(sqliteInsertSql(table, columns, chunk.length, conflictDoNothing), params));
        continue;
      }
      const q = db.insertInto(table as keyof Database).values(chunk as never);
      await (conflictDoNothing ? q.onConflict((oc) => oc.columns(conflictDoNothing as never).doNothing()) : q).execute();
    }
  },
};

export const postgresDialect: StorageDialect = {
  kind: 'postgres',
  sequenceType: 'bigint',
  forUpdate: (query, of) => query.forUpdate(of as never),
  async lockKeys(trx, keys) {
    for (const key of [...new Set(keys)].sort()) await sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(trx);
  },
  async lockLedger(trx) {
    await sql`select pg_advisory_xact_lock(${LEDGER_LOCK_KEY})`.execute(trx);
  },
  appendOnlyGuards(table) {
    return [
      `CREATE OR REPLACE FUNCTION custody_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ ` +
        `BEGIN RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP; END $$`,
      `CREATE TRIGGER ${table}_no_change BEFORE UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION custody_refuse_change()`,
      `CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION custody_refuse_change()`,
    ];
  },
  isUniqueViolation(err) {
    return (err as { code?: string }).code === '23505';
  },
  isRetryable(err) {
    const code = (err as { code?: string }).code;
    return code === '40P01' || code === '40001';
  },
  withNamedLock(db, key, fn) {
    return db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(trx);
      return fn();
    });
  },
  async notify(db, channel, payload) {
    await sql`select pg_notify(${channel}, ${payload})`.execute(db);
  },
  listen(database, channel, handlers) {
    return listenPostgres(database, channel, handlers);
  },
  anyOf(column, values) {
    return sql<SqlBool>`${sql.ref(column)} = any(${values}::text[])`;
  },
  async insertRows(db, table, rows, conflictDoNothing) {
    if (rows.length === 0) return;
    const columns = sql.join(Object.keys(rows[0]!).map((c) => sql.ref(c)));
    const conflict = conflictDoNothing ? sql` on conflict (${sql.join(conflictDoNothing.map((c) => sql.ref(c)))}) do nothing` : sql``;
    await sql`insert into ${sql.table(table)} (${columns}) select ${columns} from json_populate_recordset(null::${sql.table(table)}, ${JSON.stringify(rows)}::json)${conflict}`.execute(db);
  },
};

/**
 * A dedicated LISTEN connection that reconnects with backoff when it drops (server restart,
 * pg_terminate_backend, network). It is named so operators (and tests) can find it in pg_stat_activity.
 */
async function listenPostgres(database: DatabaseConfig, channel: string, handlers: ListenHandlers): Promise<Listener> {
  if (database.kind !== 'postgres') throw new Error('listenPostgres needs a PostgreSQL database');
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`invalid channel name ${channel}`);
  let closed = false;
  let client: pg.Client | null = null;
  let retry: NodeJS.Timeout | null = null;
  let backoffMs = 50;

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: database.url, application_name: LISTENER_APPLICATION_NAME });
    c.on('notification', (m) => {
      if (m.channel === channel) handlers.onMessage(m.payload ?? '');
    });
    const lost = (err?: Error) => {
      if (client !== c) return;
      client = null;
      c.removeAllListeners('error');
      c.on('error', () => {});
      c.end().catch(() => {});
      if (err) handlers.onError?.(err);
      schedule();
    };
    c.on('error', (err) => lost(err));
    c.on('end', () => lost());
    await c.connect();
    await c.query(`LISTEN ${channel}`);
    if (closed) {
      await c.end().catch(() => {});
      return;
    }
    client = c;
    backoffMs = 50;
    handlers.onConnected?.();
  };

  const schedule = () => {
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = null;
      connect().catch((err: Error) => {
        handlers.onError?.(err);
        backoffMs = Math.min(backoffMs * 2, 5_000);
        schedule();
      });
    }, backoffMs);
    retry.unref();
  };

  await connect();
  return {
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      const c = client;
      client = null;
      if (c) await c.end().catch(() => {});
    },
  };
}
