import type { Kysely } from 'kysely';

/**
 * Indexes for the inventory's common two-filter queries, found by `npm run bench` at 1M tokens
 * (docs/benchmarks.md, foundation): for `tenantId+state` (and `providerId+state`) the planner
 * walked every token of a state looking for one tenant's. With the state inside the index the
 * query reads exactly the page it returns, already in id order, with or without planner statistics
 * (SQLite has none unless ANALYZE runs, and sampled ones misled it worse than none).
 */
export function inventoryIndexesMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.createIndex('tokens_tenant_state_id').on('tokens').columns(['tenant_id', 'state', 'id']).execute();
      await db.schema.createIndex('tokens_provider_state_id').on('tokens').columns(['provider_id', 'state', 'id']).execute();
    },
  };
}
