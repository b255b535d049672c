import type { Db } from '../storage/database.ts';
import type { StorageDialect } from '../storage/dialect.ts';
import type { ReviewCampaignsTable, ReviewItemsTable } from '../storage/schema.ts';
import type { ItemStatus } from './review.types.ts';

export type CampaignRow = ReviewCampaignsTable;
export type ItemRow = ReviewItemsTable;

/** Items' counts by status, per campaign. */
export type StatusCounts = Partial<Record<ItemStatus, number>>;

/** The review tables' statements (this folder alone reads and writes them). */
export function createReviewRepo(dialect: StorageDialect) {
  return {
    async insertCampaign(db: Db, row: CampaignRow): Promise<void> {
      await db.insertInto('review_campaigns').values(row).execute();
    },

    async campaign(db: Db, id: string): Promise<CampaignRow | undefined> {
      return db.selectFrom('review_campaigns').selectAll().where('id', '=', id).executeTakeFirst();
    },

    /** Newest first; `tenantId` null lists every tenant's and the platform's. */
    async listCampaigns(db: Db, q: { tenantId: string | null; status?: CampaignRow['status']; beforeId?: string; limit: number; withPlatformItemsOf?: string }): Promise<CampaignRow[]> {
      let query = db.selectFrom('review_campaigns').selectAll();
      if (q.withPlatformItemsOf) {
        // A tenant administrator's list: their tenant's campaigns, and the platform's that hold items of their tenant.
        const t = q.withPlatformItemsOf;
        query = query.where((eb) =>
          eb.or([
            eb('tenant_id', '=', t),
            eb.and([eb('tenant_id', 'is', null), eb.exists(eb.selectFrom('review_items as i').select('i.id').whereRef('i.campaign_id', '=', 'review_campaigns.id').where('i.tenant_id', '=', t))]),
          ]),
        );
      } else if (q.tenantId) query = query.where('tenant_id', '=', q.tenantId);
      if (q.status) query = query.where('status', '=', q.status);
      if (q.beforeId) query = query.where('id', '<', q.beforeId);
      return query.orderBy('id', 'desc').limit(q.limit).execute();
    },

    /** Each campaign's items by status (one GROUP BY over the (campaign_id, status) index). */
    async counts(db: Db, campaignIds: readonly string[], tenantId: string | null = null): Promise<Map<string, StatusCounts>> {
      const out = new Map<string, StatusCounts>(campaignIds.map((id) => [id, {}]));
      if (campaignIds.length === 0) return out;
      let query = db.selectFrom('review_items').select(['campaign_id', 'status', (eb) => eb.fn.countAll<number>().as('n')]);
      // A tenant administrator counts their tenant's items only (of a platform campaign: theirs, not other tenants').
      if (tenantId !== null) query = query.where('tenant_id', '=', tenantId);
      const rows = await query
        .where(dialect.anyOf('campaign_id', campaignIds))
        .groupBy(['campaign_id', 'status'])
        .execute();
      // PostgreSQL answers counts as text.
      for (const r of rows) out.get(r.campaign_id)![r.status] = Number(r.n);
      return out;
    },

    /** How many of a campaign's items each kind of reviewer has (its `review.created` entry says so). */
    async reviewerKinds(db: Db, campaignId: string): Promise<Record<string, number>> {
      const rows = await db.selectFrom('review_items').select(['reviewer_kind', (eb) => eb.fn.countAll<number>().as('n')]).where('campaign_id', '=', campaignId).groupBy('reviewer_kind').execute();
      return Object.fromEntries(rows.map((r) => [r.reviewer_kind, Number(r.n)]));
    },

    async insertItems(db: Db, rows: readonly ItemRow[]): Promise<void> {
      await dialect.insertRows(db, 'review_items', rows);
    },

    /**
     * Moves a campaign's creation from `from` (the last token written, null at the start) to `to`:
     * a compare-and-set, so two creators of one campaign (a resumed creation) never both write a page.
     */
    async advanceCreation(db: Db, id: string, from: string | null, to: string): Promise<boolean> {
      let q = db.updateTable('review_campaigns').set({ creation_cursor: to }).where('id', '=', id).where('status', '=', 'creating');
      q = from === null ? q.where('creation_cursor', 'is', null) : q.where('creation_cursor', '=', from);
      return Number((await q.executeTakeFirst()).numUpdatedRows) === 1;
    },

    async setStatus(db: Db, id: string, from: CampaignRow['status'], to: CampaignRow['status'], at: string): Promise<boolean> {
      const r = await db
        .updateTable('review_campaigns')
        .set({ status: to, ...(to === 'closed' ? { closed_at: at } : {}) })
        .where('id', '=', id)
        .where('status', '=', from)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },

    async markReminded(db: Db, id: string, at: string): Promise<void> {
      await db.updateTable('review_campaigns').set({ reminded_at: at }).where('id', '=', id).where('reminded_at', 'is', null).execute();
    },

    /** Campaigns whose creation stopped part-way before `before` (a crash): the pass resumes them. */
    async staleCreating(db: Db, before: string): Promise<CampaignRow[]> {
      return db.selectFrom('review_campaigns').selectAll().where('status', '=', 'creating').where('created_at', '<', before).orderBy('id').limit(100).execute();
    },

    /** Open campaigns (the pass's work: reminders, escalation, closing), oldest first, a bounded batch. */
    async openCampaigns(db: Db, limit: number): Promise<CampaignRow[]> {
      return db.selectFrom('review_campaigns').selectAll().where('status', '=', 'open').orderBy('id').limit(limit).execute();
    },

    async listItems(db: Db, campaignId: string, q: { status?: ItemStatus; reviewer?: string; afterId?: string; limit: number; tenantId?: string | null }): Promise<ItemRow[]> {
      let query = db.selectFrom('review_items').selectAll().where('campaign_id', '=', campaignId);
      if (q.tenantId) query = query.where('tenant_id', '=', q.tenantId);
      if (q.status) query = query.where('status', '=', q.status);
      if (q.reviewer) query = query.where('reviewer', '=', q.reviewer);
      if (q.afterId) query = query.where('id', '>', q.afterId);
      return query.orderBy('id').limit(q.limit).execute();
    },

    /** One item of a campaign, locked until the transaction ends when it is to be written. */
    async item(db: Db, campaignId: string, itemId: string, lock: boolean): Promise<ItemRow | undefined> {
      const q = db.selectFrom('review_items').selectAll().where('id', '=', itemId).where('campaign_id', '=', campaignId);
      return (lock ? dialect.forUpdate(q) : q).executeTakeFirst();
    },

    /** Records a decision on an item still open (compare-and-set); false when it was no longer open. */
    async decide(db: Db, id: string, changes: Pick<ItemRow, 'status' | 'decided_at' | 'decided_by' | 'justification' | 'reason' | 'new_owner'>): Promise<boolean> {
      const r = await db.updateTable('review_items').set(changes).where('id', '=', id).where('status', '=', 'open').executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },

    /** Whether a campaign holds an item of this tenant. */
    async hasItemsOf(db: Db, campaignId: string, tenantId: string): Promise<boolean> {
      return (await db.selectFrom('review_items').select('id').where('tenant_id', '=', tenantId).where('campaign_id', '=', campaignId).limit(1).executeTakeFirst()) !== undefined;
    },

    async hasOpenItems(db: Db, campaignId: string): Promise<boolean> {
      return (await db.selectFrom('review_items').select('id').where('campaign_id', '=', campaignId).where('status', '=', 'open').limit(1).executeTakeFirst()) !== undefined;
    },

    /** A page of a campaign's open items in id order (those without a reminder yet, with `unreminded`). */
    async openItems(db: Db, campaignId: string, afterId: string | null, limit: number, unreminded = false): Promise<ItemRow[]> {
      let q = db.selectFrom('review_items').selectAll().where('campaign_id', '=', campaignId).where('status', '=', 'open');
      if (unreminded) q = q.where('reminded_at', 'is', null);
      if (afterId) q = q.where('id', '>', afterId);
      return q.orderBy('id').limit(limit).execute();
    },

    /** Marks items reminded (those still open and not reminded: compare-and-set); answers the ids marked. */
    async claimReminders(db: Db, ids: readonly string[], at: string): Promise<Set<string>> {
      if (ids.length === 0) return new Set();
      const rows = await db
        .updateTable('review_items')
        .set({ reminded_at: at })
        .where(dialect.anyOf('id', ids))
        .where('status', '=', 'open')
        .where('reminded_at', 'is', null)
        .returning('id')
        .execute();
      return new Set(rows.map((r) => r.id));
    },

    /** Escalates items still open (compare-and-set); answers the ids escalated. */
    async escalate(db: Db, ids: readonly string[], at: string, actor: string, reason: string): Promise<Set<string>> {
      if (ids.length === 0) return new Set();
      const rows = await db
        .updateTable('review_items')
        .set({ status: 'escalated', decided_at: at, decided_by: actor, reason })
        .where(dialect.anyOf('id', ids))
        .where('status', '=', 'open')
        .returning('id')
        .execute();
      return new Set(rows.map((r) => r.id));
    },

    /**
     * The compliance report's figures: campaigns created in [from, to) (not those still being
     * created) and their items by status; for a tenant, its items in those campaigns (a platform
     * campaign by owner or provider counts for each tenant it covered) and the campaigns holding them.
     */
    async stats(db: Db, tenantId: string | null, from: string, to: string): Promise<{ campaigns: number; counts: StatusCounts }> {
      const inPeriod = db
        .selectFrom('review_items as i')
        .innerJoin('review_campaigns as c', 'c.id', 'i.campaign_id')
        .where('c.created_at', '>=', from)
        .where('c.created_at', '<', to)
        .where('c.status', '<>', 'creating');
      const scoped = tenantId ? inPeriod.where('i.tenant_id', '=', tenantId) : inPeriod;
      const rows = await scoped.select(['i.status', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('i.status').execute();
      const counts: StatusCounts = {};
      for (const r of rows) counts[r.status] = Number(r.n);
      const campaigns = tenantId
        ? await scoped.select((eb) => eb.fn.count<number>('i.campaign_id').distinct().as('n')).executeTakeFirst()
        : await db
            .selectFrom('review_campaigns')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('created_at', '>=', from)
            .where('created_at', '<', to)
            .where('status', '<>', 'creating')
            .executeTakeFirst();
      return { campaigns: Number(campaigns?.n ?? 0), counts };
    },
  };
}

export type ReviewRepo = ReturnType<typeof createReviewRepo>;
