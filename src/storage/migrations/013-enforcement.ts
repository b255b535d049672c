import { sql, type Kysely } from 'kysely';

/**
 * 013-enforcement (issue 14): notices given before enforcement, each finding's place in
 * enforcement (its stage and when the next step falls due, indexed so a pass reads only what is
 * due), and reauthorisation links bound to the token they renew.
 */
export function enforcementMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('notices')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('token_id', 'text', (c) => c.notNull())
        .addColumn('finding_id', 'text', (c) => c.notNull())
        .addColumn('finding_type', 'text', (c) => c.notNull())
        // What enforcement will do ('suspend') and when; a suspension at once has its deadline now.
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('deadline', 'text', (c) => c.notNull())
        .addColumn('message', 'text', (c) => c.notNull())
        // JSON: [{kind, name, address}] — the owner, the approver, or the administrators to tell.
        .addColumn('recipients', 'text', (c) => c.notNull())
        // The reauthorisation link's id; its URL (a bearer of the consent) is kept encrypted.
        .addColumn('link_id', 'text')
        .addColumn('link_url_enc', 'text')
        .addColumn('link_expires_at', 'text')
        // JSON: the global and tenant policy versions the notice was given under.
        .addColumn('policy_version', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('delivery', 'text', (c) => c.notNull())
        .addColumn('delivered_at', 'text')
        .execute();
      await db.schema.createIndex('notices_tenant').on('notices').columns(['tenant_id', 'id']).execute();
      await db.schema.createIndex('notices_token').on('notices').columns(['token_id', 'id']).execute();

      // Enforcement's state per finding: null (not started), notified, suspended, or in audit
      // mode would_notify / would_suspend; next_action_at is when the next step falls due.
      await db.schema.alterTable('findings').addColumn('enforcement_stage', 'text').execute();
      await db.schema.alterTable('findings').addColumn('next_action_at', 'text').execute();
      await db.schema.alterTable('findings').addColumn('notice_id', 'text').execute();
      // An enforcement pass reads this range in order, a page at a time (many findings share one
      // instant: the id keeps each page a range read, not a sort of everything due).
      await db.schema.createIndex('findings_due').on('findings').columns(['next_action_at', 'id']).where(sql.ref('next_action_at'), 'is not', null).execute();
      // Superseded by the columns above (the would-be entries are now written by the enforcement pass).
      await db.schema.alterTable('findings').dropColumn('planned_action').execute();

      // A reauthorisation link (and the consent it starts) renews this token in place.
      await db.schema.alterTable('connect_links').addColumn('token_id', 'text').execute();
      await db.schema.createIndex('connect_links_token').on('connect_links').column('token_id').execute();
      await db.schema.alterTable('oauth_flows').addColumn('reauthorize_token_id', 'text').execute();
      // When the starter's role was vouched for: a link's creation (a link made before a suspension cannot lift it).
      await db.schema.alterTable('oauth_flows').addColumn('authority_at', 'text').execute();
      // Which tenants an issuer account has approved for (a reauthorisation by another tenant's administrator is refused).
      await db.schema.createIndex('tokens_provider_subject').on('tokens').columns(['provider_id', 'subject']).execute();
    },
  };
}
