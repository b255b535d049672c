import type { Db, Storage } from '../storage/database.ts';

/**
 * A reader's position in the ledger (the last seq it has fully handled), kept in `ledger_cursors`.
 * It moves only forward and only from the value the mover read, so two instances reading the same
 * page move it once.
 */
export async function readLedgerCursor(storage: Storage, name: string, at: Date): Promise<number> {
  const row = await storage.db.selectFrom('ledger_cursors').select('seq').where('name', '=', name).executeTakeFirst();
  if (row) return Number(row.seq);
  // A new reader starts at the beginning of the ledger.
  await storage.dialect.insertRows(storage.db, 'ledger_cursors', [{ name, seq: 0, updated_at: at.toISOString() }], ['name']);
  return 0;
}

/** Moves the cursor from `from` to `to` in the caller's transaction; false when it was no longer at `from`. */
export async function moveLedgerCursor(trx: Db, name: string, from: number, to: number, at: Date): Promise<boolean> {
  const r = await trx.updateTable('ledger_cursors').set({ seq: to, updated_at: at.toISOString() }).where('name', '=', name).where('seq', '=', from).executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}
