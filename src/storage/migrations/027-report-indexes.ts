import { sql, type Kysely, type SqlBool } from 'kysely';

/**
 * Indexes the compliance report (src/reports) counts from without reading table rows, found by
 * `npm run bench -- --only report` at 1M tokens (a report read every live token's row four times,
 * 4–6 s of CPU on SQLite alone):
 * - findings (tenant_id, status, type): live findings by tenant, status and type — one tenant's,
 *   or the unmanaged and review-overdue counts of every tenant — from the index alone;
 * - tokens (tenant_id, provider_id, granted_scopes, state): the providers connected to each
 *   tenant with the scope lists granted, grouped in index order from the index alone;
 * - tokens (tenant_id, id) of live tokens without an approver, and of live tokens without a
 *   purpose (partial): counted, and the first listed, reading only those tokens;
 * - tokens (revocation_requested_at, tenant_id, revocation_effective_at, upstream_revocation,
 *   upstream_confirmed_at) of revoked tokens (partial): kill times of a period from the index alone.
 * The partial indexes' predicates are literals, and the queries that use them say them the same
 * way (SQLite uses a partial index only for a WHERE that implies its own as written). "Live" is
 * said as "not expired or revoked", as elsewhere: an IN would let SQLite's planner, which has no
 * statistics, prefer seeking the state index and reading every live row.
 * Plain CREATE INDEX on both databases: no table is rebuilt.
 */
export function reportIndexesMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.createIndex('findings_tenant_status_type').on('findings').columns(['tenant_id', 'status', 'type']).execute();
      await db.schema.createIndex('tokens_tenant_provider_scopes').on('tokens').columns(['tenant_id', 'provider_id', 'granted_scopes', 'state']).execute();
      await db.schema.createIndex('tokens_live_no_approver').on('tokens').columns(['tenant_id', 'id']).where(sql<SqlBool>`approver_subject IS NULL AND state NOT IN ('expired', 'revoked')`).execute();
      await db.schema.createIndex('tokens_live_no_purpose').on('tokens').columns(['tenant_id', 'id']).where(sql<SqlBool>`purpose IS NULL AND state NOT IN ('expired', 'revoked')`).execute();
      await db.schema
        .createIndex('tokens_revocations')
        .on('tokens')
        .columns(['revocation_requested_at', 'tenant_id', 'revocation_effective_at', 'upstream_revocation', 'upstream_confirmed_at'])
        .where(sql<SqlBool>`revocation_requested_at IS NOT NULL`)
        .execute();
    },
  };
}
