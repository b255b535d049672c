import type { Kysely } from 'kysely';

/**
 * 018-leaks (issue 15): the reporters of leaked tokens and their ECDSA P-256 public keys. A
 * reporter rotates its key by registering another key id under the same name and disabling the
 * old one, so the key id (what a report names in Custody-Leak-Key-Id) is unique, not the name.
 * The tokens table has carried an indexed keyed fingerprint of each stored credential (access_fp,
 * refresh_fp) since 001-foundation; what it forgets is a credential replaced by a refresh or a
 * renewal, which the issuer may still honour for a while: token_retired_credentials keeps those
 * fingerprints (never the credentials) until then, so a leaked previous token still traces to its
 * record. Owned by src/tokens.
 */
export function leaksMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('leak_reporters')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text', (c) => c.notNull().unique())
        // SPKI PEM of a P-256 key: public, so stored as it came.
        .addColumn('public_key', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('disabled_at', 'text')
        .addColumn('disabled_by', 'text')
        // When the key last signed a report that verified (written at most once a minute).
        .addColumn('last_report_at', 'text')
        .execute();

      await db.schema
        .createTable('token_retired_credentials')
        .addColumn('token_id', 'text', (c) => c.notNull())
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        // 'access' | 'refresh': which credential it was.
        .addColumn('credential', 'text', (c) => c.notNull())
        .addColumn('retired_at', 'text', (c) => c.notNull())
        // Until when it may still work at the issuer; forgotten after (the expiry sweep).
        .addColumn('keep_until', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('token_retired_credentials_pk', ['token_id', 'fingerprint'])
        .execute();
      await db.schema.createIndex('token_retired_credentials_fp').on('token_retired_credentials').column('fingerprint').execute();
      await db.schema.createIndex('token_retired_credentials_keep').on('token_retired_credentials').column('keep_until').execute();
    },
  };
}
