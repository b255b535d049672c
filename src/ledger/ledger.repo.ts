import { CompiledQuery } from 'kysely';
import type { Db, Storage } from '../storage/database.ts';
import type { LedgerEntriesTable } from '../storage/schema.ts';
import { canonicalText } from './ledger.chain.ts';
import { SQLITE_RANGE_SQL, sqliteRangeScan, toChainEntry } from './ledger.scan.ts';
import type { CompactRow, RangeScan } from './ledger.verify.ts';
import type { LedgerEntry, LedgerFilter } from './ledger.types.ts';

export function toLedgerEntry(r: LedgerEntriesTable): LedgerEntry {
  const c = toChainEntry(r);
  return { ...c, data: JSON.parse(c.data) as Record<string, unknown> };
}

/** One ledger row as a tuple, in this order (PostgreSQL's scan). */
type LedgerRowTuple = [number, string, string, string, string | null, string | null, string, string, string];

/**
 * Verification's read of the ledger, a range (afterSeq, toSeq] in seq order, page by page, as
 * arrays (the one scan that walks millions of rows): through Storage.arrayScan, which on a SQLite
 * file reads on a read-only connection of its own.
 */
export function createLedgerRangeScan(storage: Storage): RangeScan {
  const entry = async (seq: number) => {
    const row = await storage.db.selectFrom('ledger_entries').selectAll().where('seq', '=', seq).executeTakeFirst();
    return row ? toChainEntry(row) : undefined;
  };
  if (storage.dialect.kind === 'sqlite') return sqliteRangeScan(storage.arrayScan(SQLITE_RANGE_SQL), entry);
  const scan = storage.arrayScan(`select seq, at, actor, action, tenant_id, subject_id, data, prev_hash, hash from ledger_entries where seq > $1 and seq <= $2 order by seq limit $3`);
  return {
    textFromDatabase: false,
    async page(afterSeq, toSeq, limit) {
      const rows = (await scan([afterSeq, toSeq, limit])) as LedgerRowTuple[];
      return rows.map(([seq, at, actor, action, tenantId, subjectId, data, prevHash, hash]): CompactRow => {
        // A value of another type than text (a column's type changed) is not the hashed text.
        const fields = [at, actor, action, tenantId, subjectId, data, prevHash];
        const text = fields.every((f) => f === null || typeof f === 'string') ? canonicalText({ at, actor, action, tenantId, subjectId, data, prevHash }) : null;
        return [Number(seq), text, prevHash, hash];
      });
    },
    entry,
  };
}

/** The columns of an entry, in the order the one-entry insert binds them. */
const ENTRY_COLUMNS = ['seq', 'at', 'actor', 'action', 'tenant_id', 'subject_id', 'data', 'prev_hash', 'hash'] as const;

export function createLedgerRepo() {
  // The two statements of every one-entry append, compiled once (for the database of the first
  // call: a repo serves one): building and compiling them through the query builder cost about a
  // fifth of an append's CPU.
  let headQuery: CompiledQuery<{ seq: number; hash: string }> | undefined;
  let insertOneSql: string | undefined;
  return {
    async head(db: Db): Promise<{ seq: number; hash: string } | undefined> {
      headQuery ??= db.selectFrom('ledger_entries').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).compile();
      const row = (await db.executeQuery(headQuery)).rows[0];
      return row ? { seq: Number(row.seq), hash: row.hash } : undefined;
    },
    async insert(db: Db, rows: LedgerEntriesTable[]): Promise<void> {
      if (rows.length === 1) {
        const row = rows[0]!;
        insertOneSql ??= db
          .insertInto('ledger_entries')
          .values(Object.fromEntries(ENTRY_COLUMNS.map((c) => [c, row[c]])) as unknown as LedgerEntriesTable)
          .compile().sql;
        await db.executeQuery(CompiledQuery.raw(insertOneSql, ENTRY_COLUMNS.map((c) => row[c])));
      } else if (rows.length > 0) await db.insertInto('ledger_entries').values(rows).execute();
    },
    async insertCheckpoint(db: Db, row: { seq: number; hash: string; at: string; key_id: string; signature: string }): Promise<void> {
      await db.insertInto('ledger_checkpoints').values(row).execute();
    },
    async lastCheckpointSeq(db: Db): Promise<number> {
      const row = await db.selectFrom('ledger_checkpoints').select('seq').orderBy('seq', 'desc').limit(1).executeTakeFirst();
      return row ? Number(row.seq) : 0;
    },
    /** The newest signed checkpoint (the compliance report embeds it). */
    async latestCheckpoint(db: Db): Promise<{ seq: number; hash: string; at: string; keyId: string; signature: string } | undefined> {
      const row = await db.selectFrom('ledger_checkpoints').selectAll().orderBy('seq', 'desc').limit(1).executeTakeFirst();
      return row ? { seq: Number(row.seq), hash: row.hash, at: row.at, keyId: row.key_id, signature: row.signature } : undefined;
    },
    async checkpoints(db: Db) {
      const rows = await db.selectFrom('ledger_checkpoints').selectAll().orderBy('seq', 'asc').execute();
      return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
    },
    async count(db: Db): Promise<number> {
      const row = await db.selectFrom('ledger_entries').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      return Number(row.n);
    },
    async hashExists(db: Db, hash: string): Promise<boolean> {
      return (await db.selectFrom('ledger_entries').select('seq').where('hash', '=', hash).limit(1).executeTakeFirst()) !== undefined;
    },
    async list(db: Db, f: LedgerFilter): Promise<LedgerEntry[]> {
      let q = db.selectFrom('ledger_entries').selectAll();
      if (f.tenantId) q = q.where('tenant_id', '=', f.tenantId);
      if (f.subjectId) q = q.where('subject_id', '=', f.subjectId);
      if (f.action) q = q.where('action', '=', f.action);
      if (f.afterSeq !== undefined) q = q.where('seq', '>', f.afterSeq);
      if (f.beforeSeq !== undefined) q = q.where('seq', '<', f.beforeSeq);
      const rows = await q.orderBy('seq', f.order).limit(f.limit).execute();
      return rows.map(toLedgerEntry);
    },
  };
}

export type LedgerRepo = ReturnType<typeof createLedgerRepo>;
