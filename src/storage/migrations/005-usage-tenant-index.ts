import type { Kysely } from 'kysely';

/**
 * Drops the (tenant_id, at) index on gateway usage events. Nothing reads usage by tenant (usage is
 * read per token, through (token_id, at)), and every forwarded call paid for keeping it: one more
 * B-tree insert per event (what that cost: docs/benchmarks.md, gateway).
 * A future read of usage by tenant should add back what its query needs.
 */
export function usageTenantIndexMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('gateway_usage_tenant_at').ifExists().execute();
    },
  };
}
