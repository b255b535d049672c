import { sql, type Kysely, type SqlBool } from 'kysely';

/**
 * 029-tenant-revocations (issue 17): one tenant's kill times (`GET /v1/reports/kill-times`, the
 * console overview of a tenant administrator) read from an index of that tenant's revocations
 * alone. Before, a tenant's kill times read every tenant's revocations of the period (027's index
 * leads with the request time) and kept its own: a tenant with a handful of revocations paid for
 * the whole platform's on every call. Partial like 027's (revoked tokens only); the query says the
 * predicate as written.
 */
export function tenantRevocationsMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createIndex('tokens_tenant_revocations')
        .on('tokens')
        .columns(['tenant_id', 'revocation_requested_at', 'revocation_effective_at', 'upstream_revocation', 'upstream_confirmed_at'])
        .where(sql<SqlBool>`revocation_requested_at IS NOT NULL`)
        .execute();
    },
  };
}
