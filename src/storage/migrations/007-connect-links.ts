import type { Kysely } from 'kysely';

/**
 * Consent a person can start from a plain browser (issue 11): single-use, expiring connect links,
 * and each consent flow bound to the browser that started it (the hash of an httpOnly cookie).
 */
export function connectLinksMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('oauth_flows').addColumn('browser_hash', 'text').execute();
      await db.schema
        .createTable('connect_links')
        .addColumn('id', 'text', (c) => c.primaryKey())
        // sha256 of the link's secret code: the code itself is only ever in the URL handed out.
        .addColumn('code_hash', 'text', (c) => c.notNull().unique())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
        .addColumn('provider_id', 'text', (c) => c.notNull().references('providers.id'))
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('purpose', 'text')
        .addColumn('scopes', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('opened_at', 'text')
        .addColumn('flow_id', 'text')
        .addColumn('revoked_at', 'text')
        .execute();
      await db.schema.createIndex('connect_links_expiry').on('connect_links').column('expires_at').execute();
    },
  };
}
