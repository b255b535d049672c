import type { ErrorDetail } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import { ITEM_STATUSES, REVIEW_LIMITS, TENANT_ADMINS, type Decision, type ItemStatus, type ReviewerKind, type ReviewProgress, type ReviewStats } from './review.types.ts';

/**
 * Access reviews' rules as plain functions over plain data: when reminders go, who reviews an
 * item, what a decision must carry, and how progress is counted. No SQL, no HTTP.
 */

const DAY_MS = 86_400_000;

/** The problem with a campaign's deadline, if any: at least an hour ahead, at most a year. */
export function dueAtProblem(dueAt: string, now: Date): string | null {
  const due = new Date(dueAt).getTime();
  if (due < now.getTime() + REVIEW_LIMITS.minLeadMs) return `must be at least an hour ahead (after ${new Date(now.getTime() + REVIEW_LIMITS.minLeadMs).toISOString()})`;
  if (due > now.getTime() + REVIEW_LIMITS.maxLeadMs) return `must be at most a year ahead (before ${new Date(now.getTime() + REVIEW_LIMITS.maxLeadMs).toISOString()})`;
  return null;
}

/**
 * When reminders go: `days` before the deadline, or at once (the first pass after creation) when
 * that is already past.
 */
export function remindAtOf(dueAt: string, days: number, createdAt: string): string {
  const at = new Date(new Date(dueAt).getTime() - days * DAY_MS).toISOString();
  return at < createdAt ? createdAt : at;
}

/** An owner of the owners directory, as reviewer assignment reads it. */
export interface DirectoryOwner {
  name: string;
  active: boolean;
}

/**
 * Who reviews a token: its owner when the owners directory knows them and they are active (named
 * as the directory spells them); otherwise — no such owner, or one who left — the tenant's
 * administrators, who approved the token and can say whether it is still needed.
 */
export function reviewerFor(owner: string, owners: ReadonlyMap<string, DirectoryOwner>): { kind: ReviewerKind; name: string } {
  const known = owners.get(owner.toLowerCase());
  return known?.active ? { kind: 'owner', name: known.name } : { kind: 'tenant_admins', name: TENANT_ADMINS };
}

/** The owners directory keyed by lower-cased name (names match without regard to case). */
export function ownersByName(owners: readonly DirectoryOwner[]): Map<string, DirectoryOwner> {
  return new Map(owners.map((o) => [o.name.toLowerCase(), o]));
}

export interface DecisionInput {
  decision: Decision;
  justification?: string;
  newOwner?: string;
  reason?: string;
}

/**
 * What is wrong with a decision's fields, each with where: a keep carries a fresh justification
 * (which becomes the token's purpose), a revoke a reason, a reassign the new owner and a reason;
 * a field that belongs to another decision is refused rather than ignored.
 */
export function decisionProblems(input: DecisionInput): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  const blank = (v: string | undefined) => v === undefined || v.trim().length === 0;
  const needs = { keep: ['justification'], revoke: ['reason'], reassign: ['newOwner', 'reason'] }[input.decision];
  for (const field of ['justification', 'newOwner', 'reason'] as const) {
    const value = input[field];
    if (needs.includes(field)) {
      if (blank(value)) out.push({ path: `body/${field}`, message: `is required: a ${input.decision} needs ${field === 'justification' ? 'a fresh justification (why the token is still needed; it becomes its purpose)' : field === 'newOwner' ? 'the new owner (an active owner of the owners directory)' : 'a reason (recorded in the ledger)'}` });
    } else if (value !== undefined) {
      out.push({ path: `body/${field}`, message: `is not used by a ${input.decision}; leave it out` });
    }
  }
  if (input.decision === 'keep' && !blank(input.justification) && input.justification!.trim().length < REVIEW_LIMITS.minJustification) {
    out.push({ path: 'body/justification', message: `must say why the token is still needed: at least ${REVIEW_LIMITS.minJustification} characters` });
  }
  return out;
}

/** A campaign's progress from its items counted by status (statuses with no item may be absent). */
export function progressOf(counts: Partial<Record<ItemStatus, number>>): ReviewProgress {
  const n = (s: ItemStatus) => counts[s] ?? 0;
  const total = ITEM_STATUSES.reduce((sum, s) => sum + n(s), 0);
  return { total, decided: n('kept') + n('revoked') + n('reassigned'), open: n('open'), kept: n('kept'), revoked: n('revoked'), reassigned: n('reassigned'), escalated: n('escalated') };
}

/** The compliance report's figures from the campaigns counted and their items by status. */
export function statsOf(campaigns: number, counts: Partial<Record<ItemStatus, number>>): ReviewStats {
  const p = progressOf(counts);
  return { campaigns, items: p.total, decided: p.decided, kept: p.kept, revoked: p.revoked, reassigned: p.reassigned, escalated: p.escalated, open: p.open };
}

/**
 * A review reminder's notice id, made from the item's and the reminder's time: the time part (ids
 * are ULIDs: 10 characters of time, 16 random) of the moment it was given, and the item's random
 * part. The item names its reminder without storing it, notices still sort by when they were given,
 * and an item has one reminder by construction (the notices' primary key).
 */
export function reminderNoticeId(itemId: string, remindedAt: string): string {
  return `${newId('notice', Date.parse(remindedAt)).slice(0, 14)}${itemId.slice(-16)}`;
}

/** A reminder's text: what is asked, by when, how to answer, and what happens otherwise. */
export function reminderMessage(r: { campaignName: string; campaignId: string; itemId: string; tokenId: string; dueAt: string }): string {
  return (
    `Access review "${r.campaignName}" (${r.campaignId}): decide whether token ${r.tokenId} is still needed by ${r.dueAt}. ` +
    `Keep it with a fresh justification, revoke it, or reassign it (POST /v1/reviews/${r.campaignId}/items/${r.itemId}/decide, custody reviews decide). ` +
    `Undecided at the deadline, it is escalated: its review falls due and enforcement (a notice, then suspension after the grace) follows.`
  );
}

/** The reason an escalation records on the token. */
export function escalationReason(campaign: { id: string; name: string; dueAt: string }): string {
  return `access review "${campaign.name}" (${campaign.id}) not decided by its deadline ${campaign.dueAt}`;
}
