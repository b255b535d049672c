import type { Kysely } from 'kysely';
import type { StorageDialect } from '../dialect.ts';

/** The gateway: usage events (batched, append-mostly) and the first-use-per-day markers. */
export function gatewayMigration(dialect: StorageDialect) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('gateway_usage_events')
        .addColumn('id', 'integer', (c) => (dialect.kind === 'postgres' ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey().autoIncrement()))
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('token_id', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text')
        .addColumn('workload', 'text')
        .addColumn('api_key_id', 'text')
        .addColumn('method', 'text', (c) => c.notNull())
        .addColumn('host', 'text')
        .addColumn('path_template', 'text', (c) => c.notNull())
        .addColumn('scope', 'text')
        .addColumn('unmapped', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('error_code', 'text')
        .addColumn('status', 'integer', (c) => c.notNull())
        .addColumn('source_address', 'text')
        .addColumn('latency_ms', 'real', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('gateway_usage_token_at').on('gateway_usage_events').columns(['token_id', 'at']).execute();
      await db.schema.createIndex('gateway_usage_tenant_at').on('gateway_usage_events').columns(['tenant_id', 'at']).execute();

      await db.schema
        .createTable('gateway_daily_use')
        .addColumn('token_id', 'text', (c) => c.notNull())
        .addColumn('day', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('gateway_daily_use_pk', ['token_id', 'day'])
        .execute();
    },
  };
}
