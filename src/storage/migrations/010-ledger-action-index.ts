import type { Kysely } from 'kysely';

/**
 * `GET /v1/ledger?action=…` walks entries of one action newest first: an index on (action, seq)
 * answers it without reading the whole ledger (a filter that matched nothing used to scan it all).
 */
export function ledgerActionIndexMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.createIndex('ledger_action').on('ledger_entries').columns(['action', 'seq']).execute();
    },
  };
}
