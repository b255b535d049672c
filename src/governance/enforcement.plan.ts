import type { FindingStatus, FindingType } from './finding.types.ts';
import type { PolicyValues } from './policy.rules.ts';

/**
 * Enforcement's rules (issue 14) as plain functions: which findings it acts on, where each finding
 * stands (its stage), and what the next step is. Every enforcement gives notice first and waits
 * the policy's grace, except for a scope that should never have been granted; audit mode takes the
 * same steps as would-be ledger entries and changes nothing.
 *
 * Stages: null (nothing done yet) → `notified` (a notice is out, its deadline ahead) → `suspended`;
 * in audit mode null → `would_notify` → `would_suspend`.
 */
export const ENFORCEMENT_STAGES = ['notified', 'suspended', 'would_notify', 'would_suspend'] as const;
export type EnforcementStage = (typeof ENFORCEMENT_STAGES)[number];

/** The finding types enforcement acts on, and whether they wait for a grace. */
const AFTER_NOTICE: readonly FindingType[] = ['dormant', 'review_overdue', 'reauthorization_due', 'approver_inactive', 'owner_orphaned', 'long_lived_credential'];
export const ENFORCED: ReadonlySet<FindingType> = new Set<FindingType>(['forbidden_scope', ...AFTER_NOTICE]);
/** Suspended at once (with a notice saying so): it should never have been granted. */
export const AT_ONCE: ReadonlySet<FindingType> = new Set<FindingType>(['forbidden_scope']);

const DAY_MS = 86_400_000;

/** What the finding's record says about its enforcement. */
export interface EnforcementState {
  stage: EnforcementStage | null;
  nextActionAt: string | null;
}

/**
 * Where a live finding's enforcement should stand, decided whenever the finding is judged (its
 * token changed, a sweep): armed (`nextActionAt` set) while there is something to do, disarmed
 * while the finding is excepted or the token is not active. A token active again after a policy
 * suspension (the customer reauthorised, or the security team resumed it) with the cause still
 * there starts over: a new notice and a new grace. Switching audit to enforce turns would-be steps
 * into real ones, from the start.
 */
export function armedState(type: FindingType, status: FindingStatus, tokenState: string | null, mode: PolicyValues['mode'], current: EnforcementState, now: string): EnforcementState {
  if (!ENFORCED.has(type) || tokenState === null) return { stage: null, nextActionAt: null };
  const { stage } = current;
  if (status === 'excepted' || status === 'resolved' || tokenState !== 'active') {
    // Held: an exception, or a token someone else suspended. A notice given is forgotten (the
    // customer could not act on it meanwhile): when it ends, a new notice and a full grace.
    return { stage: forgetNotice(stage), nextActionAt: null };
  }
  if (stage === 'suspended') return { stage: null, nextActionAt: now };
  if (mode === 'enforce' && (stage === 'would_notify' || stage === 'would_suspend')) return { stage: null, nextActionAt: now };
  if (stage === 'would_suspend') return current;
  return { stage, nextActionAt: current.nextActionAt ?? now };
}

/** A hold forgets a notice (real or would-be): when enforcement may act again, a new one and a full grace. */
export function forgetNotice(stage: EnforcementStage | null): EnforcementStage | null {
  return stage === 'notified' || stage === 'would_notify' ? null : stage;
}

export type EnforcementStep =
  /** Give notice; suspend at `deadline` (now, for what is suspended at once). */
  | { kind: 'notify'; deadline: string; suspendNow: boolean }
  | { kind: 'suspend' }
  | { kind: 'would_notify'; deadline: string }
  | { kind: 'would_suspend' }
  /** Not yet: look again at `at`. */
  | { kind: 'wait'; at: string }
  /** Nothing to do until something changes (the finding or its token is judged again). */
  | { kind: 'hold' };

/**
 * The next step for a due finding. `noticeDeadline` is the deadline of the notice already given
 * (stage `notified`); an audit-mode `would_notify` keeps its would-be deadline in `nextActionAt`.
 */
export function nextStep(type: FindingType, state: EnforcementState, mode: PolicyValues['mode'], graceDays: number, noticeDeadline: string | null, now: string): EnforcementStep {
  const atOnce = AT_ONCE.has(type);
  const deadline = atOnce ? now : new Date(new Date(now).getTime() + graceDays * DAY_MS).toISOString();
  switch (state.stage) {
    case null:
      return mode === 'enforce' ? { kind: 'notify', deadline, suspendNow: atOnce } : { kind: 'would_notify', deadline };
    case 'notified': {
      const due = noticeDeadline ?? now;
      if (due > now) return { kind: 'wait', at: due };
      return mode === 'enforce' ? { kind: 'suspend' } : { kind: 'would_suspend' };
    }
    case 'would_notify': {
      const due = state.nextActionAt ?? now;
      if (due > now) return { kind: 'wait', at: due };
      return mode === 'enforce' ? { kind: 'notify', deadline, suspendNow: atOnce } : { kind: 'would_suspend' };
    }
    default:
      return { kind: 'hold' };
  }
}

/** Who is told of a notice: the owner and the approver; for a lost approver or owner, the administrators. */
export interface NoticeRecipient {
  kind: 'owner' | 'approver' | 'tenant_admins' | 'platform_admins';
  name: string;
  /** Where to reach them, when the directories know (an owner's contact, an approver's email). */
  address: string | null;
}

export function noticeRecipients(type: FindingType, token: { tenantId: string; owner: string; ownerContact: string | null; approverSubject: string | null; approverEmail: string | null }): NoticeRecipient[] {
  // The platform's own matters (who owns it, why it is needed) stay with the platform.
  if (type === 'owner_orphaned') return [{ kind: 'platform_admins', name: 'platform administrators', address: null }];
  const out: NoticeRecipient[] = [{ kind: 'owner', name: token.owner, address: token.ownerContact }];
  if (type === 'review_overdue') return out;
  if (type === 'approver_inactive') out.push({ kind: 'tenant_admins', name: `administrators of ${token.tenantId}`, address: null });
  else if (token.approverSubject) out.push({ kind: 'approver', name: token.approverSubject, address: token.approverEmail });
  return out;
}

/** Finding types whose notice carries a reauthorisation link (the others are the platform's to fix). */
export const LINKED: ReadonlySet<FindingType> = new Set<FindingType>(['dormant', 'reauthorization_due', 'approver_inactive', 'long_lived_credential', 'forbidden_scope']);

/** How a policy suspension for these findings is lifted, for the token's state reason. */
export function suspensionReason(types: readonly FindingType[]): string {
  const linked = types.some((t) => LINKED.has(t));
  const how = linked ? 'the customer reauthorises through the notice’s link, or the security team resumes it' : 'fix the cause (justify, reassign), then the security team resumes it';
  return `policy: ${types.join(', ')} (notice given; to restore: ${how})`;
}

const WHAT_TO_DO: Record<string, string> = {
  dormant: 'Use it, or have the customer reauthorise it through the link',
  review_overdue: 'Its owner re-justifies the purpose (POST /v1/tokens/{id}/justify, custody tokens justify)',
  reauthorization_due: 'The customer reauthorises it through the link',
  approver_inactive: "One of the customer's current administrators reauthorises it through the link",
  owner_orphaned: 'A platform administrator reassigns it to an active owner',
  long_lived_credential: 'The customer reauthorises it through the link, for a credential that expires',
  forbidden_scope: 'The customer reauthorises it through the link, without the forbidden scopes',
};

/** The notice's text: what was found, what will happen when, and how to prevent or undo it. */
export function noticeMessage(type: FindingType, tokenId: string, reasons: readonly { message: string }[], deadline: string, suspendNow: boolean, hasLink: boolean): string {
  const why = reasons.map((r) => r.message).join(' ');
  const what = suspendNow ? `Token ${tokenId} has been suspended by policy (${type}).` : `Token ${tokenId} will be suspended by policy (${type}) on ${deadline}.`;
  const todo = (WHAT_TO_DO[type] ?? 'Resolve the finding').replace('{id}', tokenId);
  const link = LINKED.has(type) && !hasLink ? ' (no reauthorisation link could be made: its provider runs no consent flow; the security team can resume it)' : '';
  return `${what} ${why} ${suspendNow ? 'To restore it' : 'To prevent this'}: ${todo}${link}.`;
}
