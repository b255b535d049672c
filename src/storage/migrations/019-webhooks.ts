import { sql, type Kysely } from 'kysely';

/**
 * 019-webhooks (issue 15, outbound): Standard Webhooks subscriptions, their delivery log, and the
 * persisted cursors of the ledger's readers (the webhook dispatcher, the SIEM file sink).
 */
export function webhooksMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('webhook_subscriptions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        // null: a platform-wide subscription (every tenant's events).
        .addColumn('tenant_id', 'text')
        .addColumn('url', 'text', (c) => c.notNull())
        // JSON: the event types and prefixes (`alert.*`) it takes.
        .addColumn('events', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        // The signing secret (whsec_…), sealed by the vault under the subscription's data key.
        .addColumn('secret_enc', 'text', (c) => c.notNull())
        .addColumn('include_notice_links', 'integer', (c) => c.notNull().defaultTo(0))
        // The ledger position of its own creation: it is sent what happens after, never before.
        .addColumn('from_seq', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('webhook_subscriptions_tenant').on('webhook_subscriptions').columns(['tenant_id', 'id']).execute();

      // One row per delivery attempt (status, error, duration; never the secret or the body).
      await db.schema
        .createTable('webhook_deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('subscription_id', 'text', (c) => c.notNull())
        .addColumn('message_id', 'text', (c) => c.notNull())
        .addColumn('event_type', 'text', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        // delivered | failed (will be retried) | gave_up
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('status_code', 'integer')
        .addColumn('error', 'text')
        .addColumn('duration_ms', 'integer', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('webhook_deliveries_subscription').on('webhook_deliveries').columns(['subscription_id', 'id']).execute();
      // Pruning reads the oldest rows first.
      await db.schema.createIndex('webhook_deliveries_at').on('webhook_deliveries').column('at').execute();

      // Where each reader of the ledger has got to (the last seq it has fully handled).
      await db.schema
        .createTable('ledger_cursors')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('seq', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      // No subscription can predate this migration: the dispatcher starts at today's head instead of
      // reading the whole history once for nobody.
      await sql`insert into ledger_cursors (name, seq, updated_at) select 'webhooks', coalesce(max(seq), 0), ${new Date().toISOString()} from ledger_entries`.execute(db);
    },
  };
}
