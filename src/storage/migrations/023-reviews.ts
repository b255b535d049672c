import type { Kysely } from 'kysely';

/**
 * 023-reviews (issue 16): access review campaigns and their items (src/reviews). New tables only:
 * nothing is copied or rebuilt, so it is as cheap on a database of a million tokens as on an empty one.
 */
export function reviewsMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('review_campaigns')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        // The scope: at least one is set, together they narrow. A campaign without a tenant is the
        // platform's (by owner or provider, over tenants): tenant administrators never see it.
        .addColumn('tenant_id', 'text')
        .addColumn('owner', 'text')
        .addColumn('provider_id', 'text')
        // creating (items being written, a page per transaction) → open → closed.
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('due_at', 'text', (c) => c.notNull())
        .addColumn('remind_days_before', 'integer', (c) => c.notNull())
        .addColumn('remind_at', 'text', (c) => c.notNull())
        // When every open item had its reminder (the reminder round is over).
        .addColumn('reminded_at', 'text')
        // While creating: the last token id written as an item (creation resumes after it).
        .addColumn('creation_cursor', 'text')
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('closed_at', 'text')
        .execute();
      await db.schema.createIndex('review_campaigns_tenant').on('review_campaigns').columns(['tenant_id', 'id']).execute();
      // The reviews pass reads the campaigns not closed; the report's statistics read by creation time.
      await db.schema.createIndex('review_campaigns_status').on('review_campaigns').columns(['status', 'id']).execute();
      await db.schema.createIndex('review_campaigns_created').on('review_campaigns').columns(['created_at']).execute();

      await db.schema
        .createTable('review_items')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('campaign_id', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('token_id', 'text', (c) => c.notNull())
        // The token's owner (active in the owners directory), else `tenant_admins`.
        .addColumn('reviewer', 'text', (c) => c.notNull())
        .addColumn('reviewer_kind', 'text', (c) => c.notNull())
        // open | kept | revoked | reassigned | escalated
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('decided_at', 'text')
        .addColumn('decided_by', 'text')
        .addColumn('justification', 'text')
        .addColumn('reason', 'text')
        .addColumn('new_owner', 'text')
        // When its one reminder was given; the reminder's notice id is the item's, under the notice prefix.
        .addColumn('reminded_at', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      // Paging a campaign's items, by status (progress counts, the pass's open items) and by reviewer.
      await db.schema.createIndex('review_items_campaign').on('review_items').columns(['campaign_id', 'id']).execute();
      await db.schema.createIndex('review_items_campaign_status').on('review_items').columns(['campaign_id', 'status', 'id']).execute();
      await db.schema.createIndex('review_items_campaign_reviewer').on('review_items').columns(['campaign_id', 'reviewer', 'id']).execute();
      // A tenant's review coverage (the compliance report): its items in the campaigns of a period.
      await db.schema.createIndex('review_items_tenant').on('review_items').columns(['tenant_id', 'campaign_id', 'status']).execute();
    },
  };
}
