import type { Kysely } from 'kysely';

/**
 * 028-console-sessions (issue 17): the console's sign-in sessions (src/sessions). A row per
 * session: the hash of its cookie secret (never the secret), who it acts as (an API key, or a
 * person signed in through single sign-on with the role and tenant their claims map to), and its
 * absolute and idle expiry. Rows are deleted at sign-out and pruned once expired; each key or
 * person holds a bounded number (src/sessions/session.service.ts).
 */
export function consoleSessionsMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('console_sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
        // 'api_key' or 'sso'.
        .addColumn('via', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text')
        // Who the session's principal is: the key's actor (apikey:…) or sso:<issuer host>:<subject>.
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('last_seen_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('console_sessions_actor').on('console_sessions').columns(['actor', 'created_at']).execute();
      await db.schema.createIndex('console_sessions_expires').on('console_sessions').column('expires_at').execute();
    },
  };
}
