import type { Kysely } from 'kysely';

/**
 * 021-webhook-pending (issue 15, review): each webhook subscription counts the ledger messages it
 * has waiting in the outbox, moved in the transactions that queue and finish them, so the
 * dispatcher can bound them per subscription (MAX_PENDING_PER_SUBSCRIPTION in src/webhooks) with one
 * indexed read, as SSF streams do. Jobs queued before this migration are not counted (the counter
 * never goes below 0); the bound is reached that much later, once.
 */
export function webhookPendingMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('webhook_subscriptions').addColumn('pending_jobs', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    },
  };
}
