import type { ReviewCampaign, ReviewItem } from './review.contract.ts';
import type { CampaignRow, ItemRow, StatusCounts } from './review.repo.ts';
import { progressOf, reminderNoticeId } from './review.rules.ts';

/** The review tables' rows as the API shows them. */

export function toCampaign(r: CampaignRow, counts: StatusCounts): ReviewCampaign {
  return {
    id: r.id,
    name: r.name,
    tenantId: r.tenant_id,
    owner: r.owner,
    providerId: r.provider_id,
    status: r.status,
    dueAt: r.due_at,
    remindDaysBefore: Number(r.remind_days_before),
    remindAt: r.remind_at,
    remindersSentAt: r.reminded_at,
    createdBy: r.created_by,
    createdAt: r.created_at,
    closedAt: r.closed_at,
    progress: progressOf(counts),
  };
}

export function toItem(r: ItemRow): ReviewItem {
  return {
    id: r.id,
    campaignId: r.campaign_id,
    tenantId: r.tenant_id,
    tokenId: r.token_id,
    reviewer: { kind: r.reviewer_kind, name: r.reviewer },
    status: r.status,
    decidedAt: r.decided_at,
    decidedBy: r.decided_by,
    justification: r.justification,
    reason: r.reason,
    newOwner: r.new_owner,
    remindedAt: r.reminded_at,
    reminderNoticeId: r.reminded_at ? reminderNoticeId(r.id, r.reminded_at) : null,
    createdAt: r.created_at,
  };
}
