import fs from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { CompiledQuery, Kysely, PostgresDialect, SqliteDialect, SqliteDriver, type DatabaseConnection, type SqliteDatabase as KyselySqliteDatabase, type SqliteDialectConfig } from 'kysely';
import pg from 'pg';
import type { DatabaseConfig } from '../config/config.ts';
import { postgresDialect, sqliteDialect, type StorageDialect } from './dialect.ts';
import type { Database } from './schema.ts';

export type Db = Kysely<Database>;

/** One ledger row as a tuple: seq, at, actor, action, tenantId, subjectId, data, prevHash, hash. */
export type LedgerRowTuple = [number, string, string, string, string | null, string | null, string, string, string];

export interface Storage {
  readonly db: Db;
  readonly dialect: StorageDialect;
  /**
   * Reads the ledger in seq order for verification, the one scan that walks millions of rows. On a
   * SQLite file it uses a read-only connection of its own with a prepared statement returning
   * arrays (a committed snapshot, never another transaction's uncommitted rows, and about half the
   * cost of building row objects through the query builder); elsewhere it is an ordinary query.
   */
  scanLedger(afterSeq: number, limit: number): Promise<LedgerRowTuple[]>;
  close(): Promise<void>;
}

const LEDGER_COLUMNS = ['seq', 'at', 'actor', 'action', 'tenant_id', 'subject_id', 'data', 'prev_hash', 'hash'] as const;

function queryBuilderScan(db: Db) {
  return async (afterSeq: number, limit: number): Promise<LedgerRowTuple[]> => {
    const rows = await db.selectFrom('ledger_entries').select(LEDGER_COLUMNS).where('seq', '>', afterSeq).orderBy('seq').limit(limit).execute();
    return rows.map((r) => [Number(r.seq), r.at, r.actor, r.action, r.tenant_id, r.subject_id, r.data, r.prev_hash, r.hash]);
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
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class CustodySqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }
  override createDriver() {
    return new ImmediateSqliteDriver(this.#config);
  }
}

const STATEMENT_CACHE_SIZE = 500;

function cachingStatements(sqlite: SqliteDatabase.Database): KyselySqliteDatabase {
  const statements = new Map<string, SqliteDatabase.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(sql: string) {
      let statement = statements.get(sql);
      if (statement === undefined) {
        statement = sqlite.prepare(sql);
        if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value!);
        statements.set(sql, statement);
      }
      return statement as unknown as ReturnType<KyselySqliteDatabase['prepare']>;
    },
  };
}

// PostgreSQL returns int8 (count(*), bigint columns) as strings; every value we keep fits in a double.
pg.types.setTypeParser(20, (v) => Number(v));

export function openStorage(config: DatabaseConfig, options: { poolSize?: number } = {}): Storage {
  if (config.kind === 'sqlite') {
    if (config.file !== ':memory:') fs.mkdirSync(path.dirname(config.file), { recursive: true });
    const sqlite = new SqliteDatabase(config.file);
    // WAL + synchronous=NORMAL: a committed transaction survives the process being killed (it is in
    // the WAL, handed to the OS); only a power loss can lose the last commits. busy_timeout lets the
    // CLI (key rotation, migrate) and a running server share the file.
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    const db = new Kysely<Database>({ dialect: new CustodySqliteDialect({ database: cachingStatements(sqlite) }) });
    let reader: SqliteDatabase.Database | undefined;
    let readerStatement: SqliteDatabase.Statement | undefined;
    const scanLedger =
      config.file === ':memory:'
        ? queryBuilderScan(db)
        : async (afterSeq: number, limit: number) => {
            if (!readerStatement) {
              reader = new SqliteDatabase(config.file, { readonly: true });
              reader.pragma('busy_timeout = 5000');
              readerStatement = reader.prepare(`SELECT ${LEDGER_COLUMNS.join(', ')} FROM ledger_entries WHERE seq > ? ORDER BY seq LIMIT ?`).raw(true);
            }
            return readerStatement.all(afterSeq, limit) as LedgerRowTuple[];
          };
    return {
      db,
      dialect: sqliteDialect,
      scanLedger,
      close: async () => {
        reader?.close();
        await db.destroy();
      },
    };
  }
  const pool = new pg.Pool({ connectionString: config.url, max: options.poolSize ?? 10 });
  // An idle client that loses its connection must not crash the process.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, dialect: postgresDialect, scanLedger: queryBuilderScan(db), close: () => db.destroy() };
}
