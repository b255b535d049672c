/**
 * The practical test of DESIGN §4, as a plain function over plain data. A token is managed only
 * while all three conditions hold; each failing check yields a reason a person can act on.
 * The repository mirrors these rules as a SQL predicate for `managed=` filtering; a test asserts
 * that the two agree.
 */
export interface PracticalTestPolicy {
  /** A token unused (or, never used, issued) longer than this is dormant. */
  dormantAfterDays: number;
  /** A purpose stated without a review date is due for review this long after approval (or issue). */
  reviewIntervalDays: number;
}

/**
 * The practical-test policy of each tenant (their effective governance policy): the SQL predicate
 * groups tenants whose values differ from the global ones.
 */
export interface PracticalTestPolicies {
  readonly global: PracticalTestPolicy;
  forTenant(tenantId: string): PracticalTestPolicy;
  /** Tenants whose practical-test values differ from the global ones. */
  overrides(): ReadonlyMap<string, PracticalTestPolicy>;
}

/** One policy for every tenant (tests, and a deployment with no tenant overrides). */
export function uniformPolicies(policy: PracticalTestPolicy): PracticalTestPolicies {
  return { global: policy, forTenant: () => policy, overrides: () => new Map() };
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
  /** When the customer last approved it (null: not known). */
  approvedAt: string | null;
  /** 'direct': used outside the gateway, so dormancy cannot be judged (the `unobserved` finding says so). */
  usageChannel: 'gateway' | 'direct';
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

export function dormancyCutoff(now: Date, policy: Pick<PracticalTestPolicy, 'dormantAfterDays'>): string {
  return new Date(now.getTime() - policy.dormantAfterDays * DAY_MS).toISOString();
}

/** A token approved (or issued) before this, with no review date of its own, is due for review. */
export function reviewCutoff(now: Date, policy: PracticalTestPolicy): string {
  return new Date(now.getTime() - policy.reviewIntervalDays * DAY_MS).toISOString();
}

/** When the token's purpose review is due: its own date, or the policy's interval after approval (or issue). */
export function reviewDueOf(t: Pick<PracticalTestInput, 'reviewDueAt' | 'approvedAt' | 'issuedAt'>, policy: PracticalTestPolicy): string {
  if (t.reviewDueAt) return t.reviewDueAt;
  return new Date(new Date(t.approvedAt ?? t.issuedAt).getTime() + policy.reviewIntervalDays * DAY_MS).toISOString();
}

/** Expired and revoked tokens hold no standing privilege: the test applies to live ones only. */
export const LIVE_STATES = ['active', 'suspended'] as const;
/**
 * The final states. Queries say "not terminal" rather than "in the live states": the same rows, but
 * a NOT IN cannot use the state index, so a page is read in id order and stops at its limit.
 */
export const TERMINAL_STATES = ['expired', 'revoked'] as const;

/** Whether a token in this state holds privilege at all (revoked and expired ones do not). */
export function holdsPrivilege(state: string): boolean {
  return (LIVE_STATES as readonly string[]).includes(state);
}

/** The instants a policy's conditions compare with at `now`, computed once for many tokens. */
export interface PracticalTestCutoffs {
  now: string;
  dormancy: string;
  review: string;
}

export function practicalTestCutoffs(now: Date, policy: PracticalTestPolicy): PracticalTestCutoffs {
  return { now: now.toISOString(), dormancy: dormancyCutoff(now, policy), review: reviewCutoff(now, policy) };
}

export function practicalTest(t: PracticalTestInput, now: Date, policy: PracticalTestPolicy, cutoffs: PracticalTestCutoffs = practicalTestCutoffs(now, policy)): PracticalTestResult {
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
  // Due when its own date has passed, or (without one) the review interval since approval has.
  if (t.reviewDueAt ? t.reviewDueAt <= cutoffs.now : (t.approvedAt ?? t.issuedAt) <= cutoffs.review) {
    const reviewDue = reviewDueOf(t, policy);
    reasons.push({
      code: 'review_overdue',
      condition: 'justified',
      message: t.reviewDueAt ? `The purpose review was due ${reviewDue}.` : `The purpose review was due ${reviewDue} (${policy.reviewIntervalDays} days after approval, the policy's review interval).`,
    });
  }
  // The newer of the last use and the last (re)approval: a customer's reauthorisation starts the clock again.
  const lastActivity = t.lastUsedAt && t.lastUsedAt > t.issuedAt ? t.lastUsedAt : t.issuedAt;
  // Use outside the gateway is not seen: such a token is never called dormant (it is `unobserved`).
  if (t.usageChannel === 'gateway' && lastActivity < cutoffs.dormancy) {
    reasons.push({
      code: 'dormant',
      condition: 'justified',
      message: lastActivity === t.lastUsedAt ? `Not used since ${t.lastUsedAt} (policy: ${policy.dormantAfterDays} days).` : `Not used since it was issued or last approved at ${t.issuedAt} (policy: ${policy.dormantAfterDays} days).`,
    });
  }
  return { managed: reasons.length === 0, reasons };
}
