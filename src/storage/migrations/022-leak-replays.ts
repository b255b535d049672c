import type { Kysely } from 'kysely';

/**
 * 022-leak-replays (issue 15, review): the signed leak reports already taken, by reporter and the
 * SHA-256 of the raw body, with the labels they were answered with, kept 30 days. A captured
 * report sent again within that window is answered with the same labels and writes nothing (no
 * ledger entry, no alert): its signature proves who made it, not that it is new. Bounded (at most
 * MAX_REMEMBERED_REPORTS rows, oldest forgotten first) and pruned. Owned by src/leaks.
 */
export function leakReplaysMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('leak_report_replays')
        .addColumn('reporter_id', 'text', (c) => c.notNull())
        // Hex SHA-256 of the exact bytes that were signed.
        .addColumn('body_sha256', 'text', (c) => c.notNull())
        // One character per item, in order: 't' true_positive, 'f' false_positive.
        .addColumn('labels', 'text', (c) => c.notNull())
        .addColumn('received_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('leak_report_replays_pk', ['reporter_id', 'body_sha256'])
        .execute();
      await db.schema.createIndex('leak_report_replays_expiry').on('leak_report_replays').column('expires_at').execute();
      await db.schema.createIndex('leak_report_replays_received').on('leak_report_replays').column('received_at').execute();
    },
  };
}
