/**
 * The practical test of DESIGN §4, as a plain function over plain data. A token is managed only
 * while all three conditions hold; each failing check yields a reason a person can act on.
 * The repository mirrors these rules as a SQL predicate for `managed=` filtering; a test asserts
 * that the two agree.
 */
export interface PracticalTestPolicy {
  /** A token unused (or, never used, issued) longer than this is dormant. */
  dormantAfterDays: number;
}

export interface PracticalTestInput {
  state: string;
  upstreamRevocation: 'rfc7009' | 'none';
  revocationVerified: boolean;
  approverSubject: string | null;
  approverActive: boolean;
  purpose: string | null;
  reviewDueAt: string | null;
  lastUsedAt: string | null;
  issuedAt: string;
}

export type ManagedReasonCode =
  | 'no_revocation_path'
  | 'revocation_unverified'
  | 'no_approver'
  | 'approver_inactive'
  | 'no_purpose'
  | 'review_overdue'
  | 'dormant';

export interface ManagedReason {
  code: ManagedReasonCode;
  condition: 'revocable' | 'approved' | 'justified';
  message: string;
}

export interface PracticalTestResult {
  /** null for a revoked or expired token: it holds no privilege, so it is neither managed nor unmanaged. */
  managed: boolean | null;
  reasons: ManagedReason[];
}

const DAY_MS = 86_400_000;

export function dormancyCutoff(now: Date, policy: PracticalTestPolicy): string {
  return new Date(now.getTime() - policy.dormantAfterDays * DAY_MS).toISOString();
}

/** Expired and revoked tokens hold no standing privilege: the test applies to live ones only. */
export const LIVE_STATES = ['active', 'suspended'] as const;

/** Whether a token in this state holds privilege at all (revoked and expired ones do not). */
export function holdsPrivilege(state: string): boolean {
  return (LIVE_STATES as readonly string[]).includes(state);
}

export function practicalTest(t: PracticalTestInput, now: Date, policy: PracticalTestPolicy): PracticalTestResult {
  const reasons: ManagedReason[] = [];
  if (!holdsPrivilege(t.state)) return { managed: null, reasons };
  if (t.upstreamRevocation === 'none') {
    reasons.push({ code: 'no_revocation_path', condition: 'revocable', message: 'The provider has no known upstream revocation path; the token can only be blocked in the gateway.' });
  } else if (!t.revocationVerified) {
    reasons.push({ code: 'revocation_unverified', condition: 'revocable', message: "The provider's revocation endpoint has not yet been verified by a confirmed revocation." });
  }
  if (!t.approverSubject) {
    reasons.push({ code: 'no_approver', condition: 'approved', message: 'No customer-side approver is recorded.' });
  } else if (!t.approverActive) {
    reasons.push({ code: 'approver_inactive', condition: 'approved', message: 'The approver is no longer active at the customer.' });
  }
  if (!t.purpose) {
    reasons.push({ code: 'no_purpose', condition: 'justified', message: 'No business purpose is recorded.' });
  }
  if (t.reviewDueAt && t.reviewDueAt <= now.toISOString()) {
    reasons.push({ code: 'review_overdue', condition: 'justified', message: `The purpose review was due ${t.reviewDueAt}.` });
  }
  const lastActivity = t.lastUsedAt ?? t.issuedAt;
  if (lastActivity < dormancyCutoff(now, policy)) {
    reasons.push({
      code: 'dormant',
      condition: 'justified',
      message: t.lastUsedAt ? `Not used since ${t.lastUsedAt} (policy: ${policy.dormantAfterDays} days).` : `Never used since issue at ${t.issuedAt} (policy: ${policy.dormantAfterDays} days).`,
    });
  }
  return { managed: reasons.length === 0, reasons };
}
