import type { Principal } from '../auth/roles.ts';
import type { DirectoryService } from '../governance/directory.service.ts';
import type { NoticeService } from '../governance/notice.service.ts';
import type { PolicyService } from '../governance/policy.service.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { ProviderService } from '../providers/provider.service.ts';
import type { Clock } from '../shared/clock.ts';
import { encodeCursor } from '../shared/cursor.ts';
import { CustodyError } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import type { Db, Storage } from '../storage/database.ts';
import type { TenantService } from '../tenants/tenant.service.ts';
import { holdsPrivilege } from '../tokens/token.practical-test.ts';
import type { ReviewScope } from '../tokens/token.review-operations.ts';
import type { TokenService } from '../tokens/token.service.ts';
import type { ReviewCampaign, ReviewItem } from './review.contract.ts';
import { toCampaign, toItem } from './review.view.ts';
import { createReviewPass, REVIEWS_ACTOR } from './review.pass.ts';
import { createReviewRepo, type CampaignRow, type ItemRow } from './review.repo.ts';
import { decisionProblems, dueAtProblem, ownersByName, progressOf, remindAtOf, reviewerFor, statsOf, type DecisionInput } from './review.rules.ts';
import { REVIEW_LIMITS, STATUS_OF, type CampaignStatus, type ItemStatus, type ReviewStats } from './review.types.ts';

export type { ReviewStats } from './review.types.ts';

export interface ReviewServiceDeps {
  storage: Storage;
  ledger: LedgerService;
  clock: Clock;
  logger: Logger;
  tenants: TenantService;
  providers: ProviderService;
  tokens: TokenService;
  directory: DirectoryService;
  notices: NoticeService;
  policy: PolicyService;
  /** How often the background pass runs once started (default: every minute). */
  passIntervalMs?: number;
  /** Tests shrink these: the most items a campaign may hold, and items written per transaction while creating one. */
  limits?: { maxItems?: number; createPage?: number };
}

export interface CreateCampaignInput {
  name: string;
  tenantId?: string;
  owner?: string;
  providerId?: string;
  dueAt: string;
  remindDaysBefore?: number;
}

/** Items written per transaction while a campaign is created: bounded, however large the tenant. */
const CREATE_PAGE = 5_000;

/**
 * Access reviews (issue 16): a campaign over a tenant, an owner or a provider gets one item per
 * live token, each decided keep / revoke / reassign by its reviewer through the tokens' own
 * operations, in the token's unit of work (the change, the decision and their ledger entries commit
 * together); the pass (review.pass.ts) reminds before the deadline and escalates what is still open
 * at it. A tenant administrator works on their own tenant's campaigns, and on their tenant's items
 * of the platform's campaigns (over several tenants); another tenant's campaign, or a platform
 * campaign holding none of their items, answers 404 review_not_found.
 */
export function createReviewService(deps: ReviewServiceDeps) {
  const { storage, ledger, clock, tokens } = deps;
  const repo = createReviewRepo(storage.dialect);
  const maxItems = deps.limits?.maxItems ?? REVIEW_LIMITS.maxItems;
  const createPage = deps.limits?.createPage ?? CREATE_PAGE;

  async function visibleCampaign(db: Db, principal: Principal, id: string): Promise<CampaignRow> {
    const row = await repo.campaign(db, id);
    if (!row) throw new CustodyError('review_not_found');
    if (principal.tenantId !== null && row.tenant_id !== principal.tenantId) {
      // A platform campaign (no tenant) shows a tenant administrator their tenant's items only
      // (those whose owner is unknown are theirs to decide); another tenant's campaign never.
      if (row.tenant_id !== null || !(await repo.hasItemsOf(db, id, principal.tenantId))) throw new CustodyError('review_not_found');
    }
    return row;
  }

  const scopeOf = (c: CampaignRow): ReviewScope => ({ tenantId: c.tenant_id, owner: c.owner, providerId: c.provider_id });

  /**
   * Writes a campaign's items, a page of live tokens per transaction, from where its creation got
   * to (creation_cursor), then opens it with its `review.created` entry. Each page moves the
   * cursor by compare-and-set, so a resumed creation and the one it resumes never both write a
   * page. False when someone else moved it meanwhile (and so carries on with it).
   */
  async function populate(campaign: CampaignRow): Promise<boolean> {
    const owners = ownersByName((await deps.directory.data()).owners);
    let after = campaign.creation_cursor;
    for (;;) {
      const page = await tokens.reviews.pageInScope(storage.db, scopeOf(campaign), after, createPage);
      if (page.length === 0) break;
      const at = clock.now();
      const rows: ItemRow[] = page.map((t) => {
        const reviewer = reviewerFor(t.owner, owners);
        return {
          id: newId('reviewItem', at.getTime()),
          campaign_id: campaign.id,
          tenant_id: t.tenantId,
          token_id: t.id,
          reviewer: reviewer.name,
          reviewer_kind: reviewer.kind,
          status: 'open',
          decided_at: null,
          decided_by: null,
          justification: null,
          reason: null,
          new_owner: null,
          reminded_at: null,
          created_at: at.toISOString(),
        };
      });
      const from = after;
      const last = page[page.length - 1]!.id;
      const wrote = await storage.db.transaction().execute(async (trx) => {
        if (!(await repo.advanceCreation(trx, campaign.id, from, last))) return false;
        await repo.insertItems(trx, rows);
        return true;
      });
      if (!wrote) return false;
      after = last;
      if (page.length < createPage) break;
    }
    await storage.db.transaction().execute(async (trx) => {
      if (!(await repo.setStatus(trx, campaign.id, 'creating', 'open', clock.now().toISOString()))) return;
      const progress = progressOf((await repo.counts(trx, [campaign.id])).get(campaign.id)!);
      await ledger.append(trx, {
        actor: campaign.created_by,
        action: 'review.created',
        tenantId: campaign.tenant_id,
        subjectId: campaign.id,
        data: {
          campaignId: campaign.id,
          name: campaign.name,
          scope: { tenantId: campaign.tenant_id, owner: campaign.owner, providerId: campaign.provider_id },
          dueAt: campaign.due_at,
          remindAt: campaign.remind_at,
          items: progress.total,
          reviewers: await repo.reviewerKinds(trx, campaign.id),
        },
      });
    });
    return true;
  }

  /** Closes an open campaign once none of its items is open (items never return to open), with its `review.closed` entry. */
  async function closeIfDone(campaignId: string): Promise<boolean> {
    if (await repo.hasOpenItems(storage.db, campaignId)) return false;
    return storage.db.transaction().execute(async (trx) => {
      const at = clock.now().toISOString();
      if (!(await repo.setStatus(trx, campaignId, 'open', 'closed', at))) return false;
      const row = (await repo.campaign(trx, campaignId))!;
      const progress = progressOf((await repo.counts(trx, [campaignId])).get(campaignId)!);
      await ledger.append(trx, { actor: REVIEWS_ACTOR, action: 'review.closed', tenantId: row.tenant_id, subjectId: campaignId, data: { campaignId, name: row.name, dueAt: row.due_at, progress } });
      return true;
    });
  }

  const passes = createReviewPass({ ...deps, repo, populate, closeIfDone });

  /** A campaign with its progress; a tenant administrator's counts are of their tenant's items. */
  async function campaignView(db: Db, row: CampaignRow, principal?: Principal): Promise<ReviewCampaign> {
    return toCampaign(row, (await repo.counts(db, [row.id], principal?.tenantId ?? null)).get(row.id)!);
  }

  return {
    ...passes,

    async create(principal: Principal, input: CreateCampaignInput): Promise<ReviewCampaign> {
      if (principal.tenantId !== null) {
        // A tenant administrator reviews their own tenant: named, never implied (nor another's, which is hidden like a missing one).
        if (!input.tenantId) throw new CustodyError('tenant_required', `A tenant administrator's campaign covers their own tenant: set tenantId to ${principal.tenantId}.`);
        if (input.tenantId !== principal.tenantId) throw new CustodyError('tenant_not_found');
      }
      if (!input.tenantId && !input.owner && !input.providerId) throw new CustodyError('review_scope_required');
      if (input.tenantId) await deps.tenants.findVisible(storage.db, principal, input.tenantId);
      if (input.providerId) await deps.providers.findRow(storage.db, input.providerId);
      const now = clock.now();
      const dueProblem = dueAtProblem(input.dueAt, now);
      if (dueProblem) throw new CustodyError('validation_failed', `dueAt ${dueProblem}.`, [{ path: 'body/dueAt', message: dueProblem }]);
      const scope: ReviewScope = { tenantId: input.tenantId ?? null, owner: input.owner ?? null, providerId: input.providerId ?? null };
      const size = await tokens.reviews.countInScope(storage.db, scope);
      if (size === 0) throw new CustodyError('review_scope_empty');
      if (size > maxItems) {
        throw new CustodyError('review_too_large', `The scope covers ${size.toLocaleString('en')} live tokens; one campaign holds at most ${maxItems.toLocaleString('en')}. Narrow it by owner or provider and run several campaigns.`);
      }
      const dueAt = new Date(input.dueAt).toISOString();
      const createdAt = now.toISOString();
      const remindDays = input.remindDaysBefore ?? REVIEW_LIMITS.defaultRemindDaysBefore;
      const row: CampaignRow = {
        id: newId('reviewCampaign', now.getTime()),
        name: input.name,
        tenant_id: scope.tenantId ?? null,
        owner: scope.owner ?? null,
        provider_id: scope.providerId ?? null,
        status: 'creating',
        due_at: dueAt,
        remind_days_before: remindDays,
        remind_at: remindAtOf(dueAt, remindDays, createdAt),
        reminded_at: null,
        creation_cursor: null,
        created_by: principal.actor,
        created_at: createdAt,
        closed_at: null,
      };
      await repo.insertCampaign(storage.db, row);
      await populate(row);
      return campaignView(storage.db, (await repo.campaign(storage.db, row.id))!);
    },

    async list(principal: Principal, q: { tenantId?: string; status?: CampaignStatus; beforeId?: string; limit: number }): Promise<{ items: ReviewCampaign[]; nextCursor: string | null }> {
      // Another tenant is answered as everywhere else: not found.
      if (principal.tenantId !== null && q.tenantId && q.tenantId !== principal.tenantId) throw new CustodyError('tenant_not_found');
      const rows = await repo.listCampaigns(storage.db, {
        tenantId: principal.tenantId ?? q.tenantId ?? null,
        status: q.status,
        beforeId: q.beforeId,
        limit: q.limit + 1,
        ...(principal.tenantId !== null ? { withPlatformItemsOf: principal.tenantId } : {}),
      });
      const page = rows.slice(0, q.limit);
      const counts = await repo.counts(storage.db, page.map((r) => r.id), principal.tenantId);
      return { items: page.map((r) => toCampaign(r, counts.get(r.id)!)), nextCursor: rows.length > q.limit ? encodeCursor(page[page.length - 1]!.id) : null };
    },

    async get(principal: Principal, id: string): Promise<ReviewCampaign> {
      return campaignView(storage.db, await visibleCampaign(storage.db, principal, id), principal);
    },

    async items(principal: Principal, campaignId: string, q: { status?: ItemStatus; reviewer?: string; afterId?: string; limit: number }): Promise<{ items: ReviewItem[]; nextCursor: string | null }> {
      await visibleCampaign(storage.db, principal, campaignId);
      const rows = await repo.listItems(storage.db, campaignId, { ...q, limit: q.limit + 1, tenantId: principal.tenantId });
      const page = rows.slice(0, q.limit);
      return { items: page.map(toItem), nextCursor: rows.length > q.limit ? encodeCursor(page[page.length - 1]!.id) : null };
    },

    /**
     * Decides an item through the tokens' own operations, in the token's unit of work: keep
     * re-justifies it (as POST /v1/tokens/{id}/justify), revoke revokes it (the outbox's hook
     * queues the upstream revocation), reassign moves it to an active owner. The item's decision and
     * `review.decided` commit with the token's change and its own ledger entry, or nothing does.
     */
    async decide(principal: Principal, campaignId: string, itemId: string, input: DecisionInput) {
      const problems = decisionProblems(input);
      if (problems.length > 0) throw new CustodyError('validation_failed', `The ${input.decision} decision is not valid: ${problems.map((p) => `${p.path.replace('body/', '')} ${p.message}`).join('; ')}.`, problems);
      const campaign = await visibleCampaign(storage.db, principal, campaignId);
      let newOwner: string | null = null;
      if (input.decision === 'reassign') {
        const owner = ownersByName((await deps.directory.data()).owners).get(input.newOwner!.toLowerCase());
        // A tenant administrator may not read the owners directory: a deactivated owner is answered as a missing one, so the answer tells them nothing more.
        if (owner && !owner.active && principal.tenantId !== null) throw new CustodyError('owner_not_found', `"${input.newOwner}" is not an active owner in the owners directory; reassign to an active owner (ask the platform's security team which).`);
        if (!owner) throw new CustodyError('owner_not_found', `"${input.newOwner}" is not in the owners directory; add them first (custody owners add, POST /v1/owners).`);
        if (!owner.active) throw new CustodyError('owner_inactive', `"${owner.name}" is deactivated; reassign the token to an active owner.`);
        newOwner = owner.name;
      }
      // Read before the unit of work opens (on SQLite nothing outside it can be read while it runs).
      const ops = await tokens.reviews.prepare();
      const decided = await tokens.unitOfWork(async (work) => {
        const item = await repo.item(work.trx, campaignId, itemId, true);
        if (!item || (principal.tenantId !== null && item.tenant_id !== principal.tenantId)) throw new CustodyError('review_item_not_found');
        if (item.status !== 'open') {
          throw new CustodyError('review_item_decided', `Item ${itemId} is ${item.status} (${item.decided_at} by ${item.decided_by ?? 'unknown'}); a decision is final. Change token ${item.token_id} itself if something else is needed.`);
        }
        const token = await ops.current(work, item.token_id);
        if (!token || !holdsPrivilege(token.state)) {
          throw new CustodyError('review_token_ended', `Token ${item.token_id} is ${token?.state ?? 'gone'}: it was ended outside this review, so there is nothing left to decide. The item is escalated at the deadline (${campaign.due_at}) like every undecided one.`);
        }
        const actor = principal.actor;
        const at = clock.now().toISOString();
        const justification = input.decision === 'keep' ? input.justification!.trim() : null;
        const reason = input.decision === 'keep' ? null : input.reason!.trim();
        const data: Record<string, unknown> = { campaignId, itemId, tokenId: item.token_id, decision: input.decision };
        if (input.decision === 'keep') {
          data.justification = justification;
          data.reviewDueAt = await ops.justify(work, item.token_id, actor, justification!);
        } else if (input.decision === 'revoke') {
          data.reason = reason;
          await ops.revoke(work, item.token_id, actor, `access review ${campaignId}: ${reason}`);
        } else {
          if (token.owner.toLowerCase() === newOwner!.toLowerCase()) {
            throw new CustodyError('validation_failed', `Token ${item.token_id} is already owned by "${token.owner}": name another owner, or keep it.`, [{ path: 'body/newOwner', message: 'must differ from the token’s owner' }]);
          }
          Object.assign(data, { reason, from: token.owner, newOwner });
          await ops.changeOwner(work, item.token_id, newOwner!, actor, `access review ${campaignId}: ${reason}`);
        }
        const changes = { status: STATUS_OF[input.decision], decided_at: at, decided_by: actor, justification, reason, new_owner: newOwner };
        if (!(await repo.decide(work.trx, itemId, changes))) throw new CustodyError('review_item_decided', `Item ${itemId} was decided meanwhile; read it again.`);
        await ledger.append(work.trx, { actor, action: 'review.decided', tenantId: item.tenant_id, subjectId: item.token_id, data });
        return { ...item, ...changes };
      });
      if (campaign.status === 'open') await closeIfDone(campaignId);
      const t = await tokens.get(principal, decided.token_id);
      return { item: toItem(decided), token: { id: t.id, state: t.state, owner: t.owner, purpose: t.purpose, reviewDueAt: t.reviewDueAt } };
    },

    /**
     * Review figures for the compliance report: campaigns created in [from, to) and their items
     * (scope.tenantId: that tenant's items, in whatever campaign; null: all).
     */
    async stats(scope: { tenantId: string | null }, from: Date, to: Date): Promise<ReviewStats> {
      const { campaigns, counts } = await repo.stats(storage.db, scope.tenantId, from.toISOString(), to.toISOString());
      return statsOf(campaigns, counts);
    },
  };
}

export type ReviewService = ReturnType<typeof createReviewService>;
