import type { Kysely } from 'kysely';

/**
 * 030-drop-revocation-requested (issue 12, kill at scale): drops `tokens_revocation_requested`
 * (011). Every query it served — a revocation's outcomes by its request time, kill times of a
 * period — is served as well by 027's partial `tokens_revocations`, which leads with the same
 * column (an equality or range on it implies the index's `IS NOT NULL`, on SQLite and
 * PostgreSQL alike). Each revoked token wrote an entry to both; a bulk revocation of 100,000
 * tokens now writes 100,000 index entries fewer.
 */
export function dropRevocationRequestedMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('tokens_revocation_requested').ifExists().execute();
    },
  };
}
