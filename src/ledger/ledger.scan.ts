import type { LedgerEntriesTable } from '../storage/schema.ts';
import type { ChainEntry } from './ledger.chain.ts';
import type { CompactRow, RangeScan } from './ledger.verify.ts';

/**
 * Verification's read of a SQLite ledger, free of the query builder: the worker threads that walk
 * a SQLite file load this, the chain rules and a read-only connection (storage/sqlite-reader.ts)
 * and nothing else, so they start in a fraction of the time. ledger.repo.ts builds the same scan on
 * a Storage (and the PostgreSQL one).
 */

export function toChainEntry(r: LedgerEntriesTable): ChainEntry {
  return {
    seq: Number(r.seq),
    at: r.at,
    actor: r.actor,
    action: r.action,
    tenantId: r.tenant_id,
    subjectId: r.subject_id,
    data: r.data,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

/**
 * On SQLite, the text each entry's hash is taken over (canonicalText in ledger.chain.ts) is built
 * by the database: the long scan reads one string an entry instead of seven, which is most of what
 * verify costs. Lengths are counted in characters there (code units in JavaScript): the walk checks
 * a text holding a character they count apart from the fields instead (DATABASE_TEXT_DIFFERS), and
 * a field not stored as text (SQLite keeps a value's own type) gives no text at all. On PostgreSQL
 * the fields are read and the text built here: there, what `length` and `||` mean and count
 * depends on things an attacker with the database's rights can change (a column's type, the
 * search path, the database's encoding), where SQLite's functions are the library's own.
 */
// One concat() (SQLite ≥ 3.44) builds the text in one allocation, where a chain of `||` copies the
// growing text at each step: the read of a million entries ~15 % faster. Like `||`, concat() copies
// a value's bytes whole, a NUL included (which DATABASE_TEXT_DIFFERS then sees).
const SQLITE_CANONICAL =
  `concat('custody-ledger:v1|', length(prev_hash), ':', prev_hash, length(at), ':', at, length(actor), ':', actor, ` +
  `length(action), ':', action, coalesce(length(tenant_id) || ':' || tenant_id, '~'), ` +
  `coalesce(length(subject_id) || ':' || subject_id, '~'), length(data), ':', data)`;
const SQLITE_ALL_TEXT =
  `typeof(prev_hash) = 'text' and typeof(at) = 'text' and typeof(actor) = 'text' and typeof(action) = 'text' and ` +
  `typeof(tenant_id) in ('text', 'null') and typeof(subject_id) in ('text', 'null') and typeof(data) = 'text'`;

/** One page of entries, afterSeq < seq ≤ toSeq in seq order, with the text their hash is taken over (null when a field is not text). */
export const SQLITE_RANGE_SQL = `select seq, case when ${SQLITE_ALL_TEXT} then ${SQLITE_CANONICAL} end, prev_hash, hash from ledger_entries where seq > ? and seq <= ? order by seq limit ?`;
/** One entry's fields, for an entry whose database-built text cannot vouch for it. */
export const SQLITE_ENTRY_SQL = 'select seq, at, actor, action, tenant_id, subject_id, data, prev_hash, hash from ledger_entries where seq = ?';

export function sqliteRangeScan(scan: (params: unknown[]) => Promise<unknown[][]>, entry: (seq: number) => Promise<ChainEntry | undefined>): RangeScan {
  return {
    textFromDatabase: true,
    async page(afterSeq, toSeq, limit) {
      const rows = await scan([afterSeq, toSeq, limit]);
      for (const r of rows) r[0] = Number(r[0]);
      return rows as CompactRow[];
    },
    entry,
  };
}

/** An entry read as an array in SQLITE_ENTRY_SQL's column order. */
export function chainEntryFromArray(row: unknown[]): ChainEntry {
  const [seq, at, actor, action, tenant_id, subject_id, data, prev_hash, hash] = row;
  return toChainEntry({ seq, at, actor, action, tenant_id, subject_id, data, prev_hash, hash } as LedgerEntriesTable);
}
