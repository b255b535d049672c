/** Access reviews as plain data: statuses, decisions, limits, and the figures the compliance report reads. */

export const CAMPAIGN_STATUSES = ['creating', 'open', 'closed'] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];

export const ITEM_STATUSES = ['open', 'kept', 'revoked', 'reassigned', 'escalated'] as const;
export type ItemStatus = (typeof ITEM_STATUSES)[number];

export const DECISIONS = ['keep', 'revoke', 'reassign'] as const;
export type Decision = (typeof DECISIONS)[number];

/** Who reviews an item: the token's owner, or the tenant's administrators (owner unknown or inactive in the owners directory). */
export type ReviewerKind = 'owner' | 'tenant_admins';
/** The reviewer value of items the tenant's administrators review (an owner's items carry the owner's name). */
export const TENANT_ADMINS = 'tenant_admins';

/** The item status a decision leads to. */
export const STATUS_OF: Record<Decision, ItemStatus> = { keep: 'kept', revoke: 'revoked', reassign: 'reassigned' };

/** Limits and defaults (docs/reviews.md). */
export const REVIEW_LIMITS = {
  /** Items one campaign may hold: beyond, the creation is refused (review_too_large) before anything is written. */
  maxItems: 200_000,
  /** A keep's justification: at least this many characters (trimmed), so it says something. */
  minJustification: 10,
  /** Reminders go this many days before the deadline unless the campaign says otherwise. */
  defaultRemindDaysBefore: 3,
  maxRemindDaysBefore: 90,
  /** The deadline: at least an hour ahead, at most a year. */
  minLeadMs: 60 * 60_000,
  maxLeadMs: 366 * 86_400_000,
};

/**
 * Review figures for the compliance report (`reviews.stats`): campaigns whose creation falls in
 * [from, to), and their items (for a tenant: that tenant's items, in whatever campaign).
 * decided = kept + revoked + reassigned; escalated items are not decided; open = not yet either.
 */
export interface ReviewStats {
  campaigns: number;
  items: number;
  decided: number;
  kept: number;
  revoked: number;
  reassigned: number;
  escalated: number;
  open: number;
}

/** A campaign's progress: its items by status (decided = kept + revoked + reassigned). */
export interface ReviewProgress {
  total: number;
  decided: number;
  open: number;
  kept: number;
  revoked: number;
  reassigned: number;
  escalated: number;
}
