import { sql, type Kysely } from 'kysely';

/**
 * 024-token-import (issue 16): tokens held elsewhere, brought in by `POST /v1/tokens/import`.
 *
 * - `external_id`: the token's id in the system it came from. A re-run of an import finds the
 *   record by (tenant, provider, external id), so the partial unique index below is what "no
 *   duplicates" rests on (NULL for every token that was not imported with one).
 * - `inventory_only`: 1 for a record imported without any credential. `access_token_enc` and
 *   `access_fp` stay NOT NULL (relaxing them would rebuild `tokens`, slow at a million rows): such a
 *   record stores an empty ciphertext and the fingerprint `none:<token id>`, which no keyed
 *   fingerprint (64 hex digits) can ever equal. src/tokens refuses every path that would use it.
 *
 * Both columns are added with a constant default: no table rewrite on SQLite or PostgreSQL. Owned
 * by src/tokens.
 */
export function tokenImportMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('tokens').addColumn('external_id', 'text').execute();
      await db.schema.alterTable('tokens').addColumn('inventory_only', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema
        .createIndex('tokens_external_id')
        .on('tokens')
        .columns(['tenant_id', 'provider_id', 'external_id'])
        .unique()
        .where(sql.ref('external_id'), 'is not', null)
        .execute();
    },
  };
}
