import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.ts';

/**
 * Everything that differs between SQLite and PostgreSQL lives behind this object; capabilities
 * ask it rather than branching on the database kind themselves.
 */
export interface StorageDialect {
  readonly kind: 'sqlite' | 'postgres';
  /**
   * Serialises ledger appends across processes for the rest of the transaction. SQLite already
   * serialises writers (one connection per process, busy timeout across processes).
   */
  lockLedger(trx: Kysely<Database>): Promise<void>;
  /** Statements that make a table refuse UPDATE, DELETE (and TRUNCATE where it exists). */
  appendOnlyGuards(table: string): string[];
  isUniqueViolation(err: unknown): boolean;
  /**
   * Runs `fn` while holding a lock named `key` that other processes on the same database respect
   * (PostgreSQL: a transaction-scoped advisory lock on a connection of its own, so `fn` may do
   * network I/O without holding row locks). SQLite has one writing process per file by design, so
   * in-process single-flight (the caller's job) is the whole story there and this just runs `fn`.
   */
  withNamedLock<T>(db: Kysely<Database>, key: string, fn: () => Promise<T>): Promise<T>;
}

const LEDGER_LOCK_KEY = 74200001;

export const sqliteDialect: StorageDialect = {
  kind: 'sqlite',
  async lockLedger() {},
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
  withNamedLock(_db, _key, fn) {
    return fn();
  },
};

export const postgresDialect: StorageDialect = {
  kind: 'postgres',
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
  withNamedLock(db, key, fn) {
    return db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(trx);
      return fn();
    });
  },
};
