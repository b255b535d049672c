import { holdsPrivilege, practicalTest, practicalTestCutoffs, reviewDueOf, type PracticalTestCutoffs } from '../tokens/token.practical-test.ts';
import type { TokenFacts } from '../tokens/token.facts.ts';
import type { FindingSeverity, FindingType } from './finding.types.ts';
import { DEFAULT_SEVERITY } from './finding.mappings.ts';
import type { PolicyValues } from './policy.rules.ts';

/**
 * What is true of a token or a workload, as plain functions over plain data (issue 13): which
 * findings it has under its tenant's effective policy at `now`, each with reasons a person can act
 * on and the data behind them. The service keeps the findings table equal to this.
 */
export interface FindingReason {
  code: string;
  message: string;
  data?: Record<string, unknown>;
}

export interface FindingCandidate {
  type: FindingType;
  severity: FindingSeverity;
  reasons: FindingReason[];
}

/** What the directories say about names a token or workload uses. */
export interface Directory {
  /** true: an active owner; false: deactivated; undefined: not in the directory (names match without regard to case). */
  ownerActive(name: string): boolean | undefined;
  /** A workload of this name for the tenant or platform-wide: active, retired, or not registered (undefined). */
  workloadStatus(tenantId: string, name: string): 'active' | 'retired' | undefined;
}

const DAY_MS = 86_400_000;
const daysBefore = (now: Date, days: number) => new Date(now.getTime() - days * DAY_MS).toISOString();
const daysAfter = (iso: string, days: number) => new Date(new Date(iso).getTime() + days * DAY_MS).toISOString();

/**
 * The instants a policy's rules compare with at `now`, computed once per policy for a whole sweep
 * (ISO strings compare as the instants they name). Reasons name dates, never "N days ago", so a
 * finding's text does not change from one day to the next and a sweep rewrites nothing.
 */
export interface RuleCutoffs extends PracticalTestCutoffs {
  dormant: string;
  window: string;
  reauthorize: string | null;
  refreshAge: string | null;
}

export function ruleCutoffs(policy: PolicyValues, now: Date): RuleCutoffs {
  return {
    ...practicalTestCutoffs(now, policy),
    dormant: daysBefore(now, policy.dormantAfterDays),
    window: daysBefore(now, policy.scopeUsageWindowDays),
    reauthorize: policy.reauthorizeEveryDays === null ? null : daysBefore(now, policy.reauthorizeEveryDays),
    refreshAge: policy.maxRefreshTokenAgeDays === null ? null : daysBefore(now, policy.maxRefreshTokenAgeDays),
  };
}

function finding(type: FindingType, reasons: FindingReason[]): FindingCandidate {
  return { type, severity: DEFAULT_SEVERITY[type], reasons };
}

const CONDITION_WORDS = { revocable: 'it cannot be shown to be revocable quickly', approved: 'it does not trace to an active human approver', justified: 'it is not justified by current business need' } as const;

/** The findings of one token (none for a revoked or expired one: it holds no privilege). */
export function tokenFindings(t: TokenFacts, policy: PolicyValues, directory: Directory, now: Date, cut: RuleCutoffs = ruleCutoffs(policy, now)): FindingCandidate[] {
  if (!holdsPrivilege(t.state)) return [];
  const out: FindingCandidate[] = [];
  const observed = t.usageChannel === 'gateway';

  // The practical test (DESIGN §4), naming which of its three conditions fail and why.
  const test = practicalTest(
    { state: t.state, upstreamRevocation: t.upstreamRevocation, revocationVerified: t.revocationVerified, approverSubject: t.approverSubject, approverActive: t.approverActive, purpose: t.purpose, reviewDueAt: t.reviewDueAt, lastUsedAt: t.lastUsedAt, issuedAt: t.issuedAt, approvedAt: t.approvedAt, usageChannel: t.usageChannel },
    now,
    policy,
    cut,
  );
  if (test.managed === false) {
    const failing = [...new Set(test.reasons.map((r) => r.condition))];
    out.push(
      finding(
        'unmanaged',
        failing.map((condition) => ({
          code: condition,
          // The checks by code: each has its own finding with the details (kept short: one per live token).
          message: `Unmanaged: ${CONDITION_WORDS[condition]} (${test.reasons.filter((r) => r.condition === condition).map((r) => r.code.replace(/_/g, ' ')).join(', ')}).`,
          data: { checks: test.reasons.filter((r) => r.condition === condition).map((r) => r.code) },
        })),
      ),
    );
  }

  if (t.inventoryOnly) {
    out.push(
      finding('no_revocation_path', [
        {
          code: 'no_credential_held',
          message: 'Imported without credentials (an inventory-only record): Custody holds no credential to block in the gateway or revoke at the issuer, so it stays valid wherever it is held until the customer revokes it. Send the customer a reauthorisation link (POST /v1/tokens/{id}/reauthorization) to bring it under management.',
          data: { providerId: t.providerId, inventoryOnly: true },
        },
      ]),
    );
  } else if (t.upstreamRevocation === 'none') {
    out.push(finding('no_revocation_path', [{ code: 'no_revocation_path', message: `Provider ${t.providerId} has no revocation endpoint: the token can only be blocked in the gateway and stays valid at the issuer. Add the provider's revocation endpoint (or its issuer, for discovery).`, data: { providerId: t.providerId } }]));
  } else if (!t.revocationVerified) {
    out.push(finding('revocation_unverified', [{ code: 'revocation_unverified', message: `Provider ${t.providerId}'s revocation endpoint has not been verified by a revocation confirmed at the issuer yet.`, data: { providerId: t.providerId } }]));
  }

  if (!t.approverSubject) {
    if (policy.requireApprover) out.push(finding('no_approver', [{ code: 'no_approver', message: 'No customer-side approver is recorded. Have the customer reauthorise it, or record who approved it.' }]));
  } else if (!t.approverActive) {
    out.push(finding('approver_inactive', [{ code: 'approver_inactive', message: `The approver ${t.approverSubject} is no longer active at the customer; a current administrator must approve it again.`, data: { approver: t.approverSubject } }]));
  }

  if (!t.purpose) {
    if (policy.requirePurpose) out.push(finding('no_purpose', [{ code: 'no_purpose', message: 'No business purpose is recorded. Its owner should state why the token exists.' }]));
  }
  if (t.reviewDueAt ? t.reviewDueAt <= cut.now : (t.approvedAt ?? t.issuedAt) <= cut.review) {
    const reviewDue = reviewDueOf(t, policy);
    out.push(finding('review_overdue', [{ code: 'review_overdue', message: `The purpose review was due ${reviewDue}${t.reviewDueAt ? '' : ` (${policy.reviewIntervalDays} days after approval)`}; its owner should re-justify it.`, data: { reviewDueAt: reviewDue } }]));
  }

  if (policy.reauthorizeEveryDays !== null && (t.approvedAt ?? t.issuedAt) <= cut.reauthorize!) {
    const since = t.approvedAt ?? t.issuedAt;
    const due = daysAfter(since, policy.reauthorizeEveryDays);
    {
      out.push(finding('reauthorization_due', [{ code: 'reauthorization_due', message: `Last approved by the customer ${since}; the policy asks for reauthorisation every ${policy.reauthorizeEveryDays} days (due ${due}).`, data: { approvedAt: since, dueAt: due } }]));
    }
  }

  if (!observed) {
    out.push(finding('unobserved', [{ code: 'unobserved', message: 'The platform uses this token outside the gateway, so its use is not observed: dormancy and unused scopes cannot be judged. Route its use through the gateway.' }]));
  } else {
    // The newer of the last use and the last (re)approval: a customer's reauthorisation starts the clock again.
    const lastActivity = t.lastUsedAt && t.lastUsedAt > t.issuedAt ? t.lastUsedAt : t.issuedAt;
    if (lastActivity < cut.dormant) {
      out.push(
        finding('dormant', [
          {
            code: 'dormant',
            message:
              lastActivity === t.lastUsedAt
                ? `Not used since ${t.lastUsedAt}; the policy allows ${policy.dormantAfterDays} days without use.`
                : `Not used since it was ${t.lastUsedAt ? 'last approved' : 'issued'} (${t.issuedAt}); the policy allows ${policy.dormantAfterDays} days without use.`,
            data: { lastUsedAt: t.lastUsedAt, dormantAfterDays: policy.dormantAfterDays },
          },
        ]),
      );
    }
    // Privilege creep: judged once the token has been held for a whole window and was used in it
    // (a token not used at all is dormant, which says more).
    const windowStart = cut.window;
    const heldSince = t.approvedAt ?? t.issuedAt;
    if (heldSince <= windowStart && t.lastUsedAt !== null && t.lastUsedAt >= windowStart) {
      const unused = t.grantedScopes.filter((s) => !(t.scopeLastUsed[s] && t.scopeLastUsed[s]! >= windowStart));
      if (unused.length > 0) {
        out.push(
          finding('overprivileged', [
            {
              code: 'unused_scopes',
              message: `${unused.length} of ${t.grantedScopes.length} granted scopes not used in the last ${policy.scopeUsageWindowDays} days: ${unused.map((s) => `${s} (${t.scopeLastUsed[s] ? `last used ${t.scopeLastUsed[s]}` : 'never used'})`).join(', ')}. Reauthorise it without them.`,
              data: { unusedScopes: unused, lastUsed: Object.fromEntries(unused.map((s) => [s, t.scopeLastUsed[s] ?? null])), windowDays: policy.scopeUsageWindowDays },
            },
          ]),
        );
      }
    }
  }

  const ownerActive = directory.ownerActive(t.owner);
  if (ownerActive === undefined) {
    out.push(finding('no_owner', [{ code: 'owner_unknown', message: `The owner "${t.owner}" is not in the owners directory, so nobody accountable can be reached. Add them (POST /v1/owners) or reassign the token.`, data: { owner: t.owner } }]));
  } else if (!ownerActive) {
    out.push(finding('owner_orphaned', [{ code: 'owner_inactive', message: `The owner "${t.owner}" was deactivated; reassign the token to an active owner (POST /v1/tokens/reassign).`, data: { owner: t.owner } }]));
  }

  const longLived: FindingReason[] = [];
  if (cut.refreshAge !== null && t.hasRefreshToken && (t.approvedAt ?? t.issuedAt) < cut.refreshAge) {
    const since = t.approvedAt ?? t.issuedAt;
    longLived.push({ code: 'refresh_token_too_old', message: `The grant (refresh token) dates from ${since}; the policy allows ${policy.maxRefreshTokenAgeDays} days. Have the customer reauthorise it.`, data: { since, maxDays: policy.maxRefreshTokenAgeDays } });
  }
  // An inventory-only record's credential is not held here: its expiry is unknown, not absent (no_revocation_path says what is missing).
  if (!t.inventoryOnly && !t.hasRefreshToken && t.accessExpiresAt === null) {
    longLived.push({ code: 'no_expiry', message: 'The access token has no expiry and no refresh token: a standing credential. Replace it with a short-lived one.' });
  }
  if (policy.maxAccessTokenTtlMinutes !== null && t.accessExpiresAt && t.accessIssuedAt) {
    const ttl = Math.round((new Date(t.accessExpiresAt).getTime() - new Date(t.accessIssuedAt).getTime()) / 60_000);
    if (ttl > policy.maxAccessTokenTtlMinutes) longLived.push({ code: 'access_ttl_too_long', message: `The access token lives ${ttl} minutes; the policy allows ${policy.maxAccessTokenTtlMinutes}.`, data: { ttlMinutes: ttl } });
  }
  if (longLived.length > 0) out.push(finding('long_lived_credential', longLived));

  const forbidden = policy.forbiddenScopes[t.providerId] ?? [];
  const held = t.grantedScopes.filter((s) => forbidden.includes(s));
  if (held.length > 0) {
    out.push(finding('forbidden_scope', [{ code: 'forbidden_scope', message: `Holds ${held.length === 1 ? 'a scope' : 'scopes'} the policy forbids for this provider: ${held.join(', ')}. It should never have been granted; reauthorise without ${held.length === 1 ? 'it' : 'them'}.`, data: { scopes: held } }]));
  }

  out.push(...scopeGrantFindings(t));

  const shared: FindingReason[] = [];
  if (observed) {
    const windowStart = cut.window;
    const users = Object.entries(t.workloadLastUsed).filter(([, at]) => at >= windowStart).map(([w]) => w).sort();
    if (users.length > 1) shared.push({ code: 'several_workloads', message: `Used by ${users.length} workloads in the last ${policy.scopeUsageWindowDays} days (${users.join(', ')}): one compromise exposes all of them. Give each workload its own token.`, data: { workloads: users } });
  }
  const served = t.servedTenants.filter((id) => id !== t.tenantId);
  if (served.length > 0) shared.push({ code: 'several_tenants', message: `Serves ${served.length + 1} tenants (its own and ${served.join(', ')}): one token carries several customers' access.`, data: { tenants: [t.tenantId, ...served] } });
  if (shared.length > 0) out.push(finding('shared_token', shared));

  const unknown: string[] = [];
  const retired: string[] = [];
  for (const w of t.workloads) {
    const status = directory.workloadStatus(t.tenantId, w);
    if (status === undefined) unknown.push(w);
    else if (status === 'retired') retired.push(w);
  }
  const them = (xs: string[]) => (xs.length === 1 ? 'it' : 'them');
  const reasons: FindingReason[] = [];
  if (unknown.length > 0) reasons.push({ code: 'not_registered', message: `Names ${unknown.length === 1 ? 'a workload' : 'workloads'} not in the workloads directory: ${unknown.join(', ')}. Register ${them(unknown)} (custody workloads add) or remove ${them(unknown)} from the token.`, data: { workloads: unknown } });
  if (retired.length > 0) reasons.push({ code: 'retired', message: `Names ${retired.length === 1 ? 'a retired workload' : 'retired workloads'}: ${retired.join(', ')}. Remove ${them(retired)} from the token (custody tokens update --remove-workload), or make ${them(retired)} active again (custody workloads update --active).`, data: { workloads: retired } });
  if (reasons.length > 0) out.push(finding('unknown_workload', reasons));
  return out;
}

/**
 * Scope minimisation (issue 14): what the issuer granted beyond what was asked (`excess_grant`), and
 * granted scopes calls needed while a narrowing refresh had left them out of the live access token
 * (`scope_narrowed`, until a reauthorisation or a refresh without narrowing covers them again).
 */
function scopeGrantFindings(t: TokenFacts): FindingCandidate[] {
  const out: FindingCandidate[] = [];
  const excess = t.excessScopes.filter((s) => t.grantedScopes.includes(s));
  if (excess.length > 0) {
    out.push(
      finding('excess_grant', [
        {
          code: 'excess_grant',
          message: `The issuer granted ${excess.length === 1 ? 'a scope' : 'scopes'} the consent did not ask for: ${excess.join(', ')}. Reauthorise it (POST /v1/tokens/${t.id}/reauthorization) so the customer approves only what was asked, or have the provider's client configured not to add ${excess.length === 1 ? 'it' : 'them'}.`,
          data: { scopes: excess },
        },
      ]),
    );
  }
  if (t.wantedScopes.length > 0) {
    const holds = t.effectiveScopes ?? t.grantedScopes;
    const missing = t.wantedScopes.filter((s) => t.grantedScopes.includes(s) && !holds.includes(s));
    if (missing.length > 0) {
      out.push(
        finding('scope_narrowed', [
          {
            code: 'scope_narrowed',
            message: `Gateway calls needed ${missing.length === 1 ? 'the scope' : 'the scopes'} ${missing.join(', ')}, granted but left out of the live access token by a narrowing refresh (unused for the policy's window), so they were refused. To widen it again, have the customer reauthorise it (POST /v1/tokens/${t.id}/reauthorization); or, if the calls are not needed, leave it narrow.`,
            data: { scopes: missing, effectiveScopes: holds },
          },
        ]),
      );
    }
  }
  return out;
}

export interface WorkloadFacts {
  id: string;
  name: string;
  tenantId: string | null;
  owner: string | null;
  active: boolean;
}

/** The findings of one workload: an owner who was deactivated, or none at all. */
export function workloadFindings(w: WorkloadFacts, directory: Directory): FindingCandidate[] {
  if (!w.active) return [];
  if (w.owner === null) return [finding('no_owner', [{ code: 'owner_missing', message: `Workload ${w.name} has no owner; name the person or team accountable for it.` }])];
  const active = directory.ownerActive(w.owner);
  if (active === undefined) return [finding('no_owner', [{ code: 'owner_unknown', message: `Workload ${w.name}'s owner "${w.owner}" is not in the owners directory.`, data: { owner: w.owner } }])];
  if (!active) return [finding('owner_orphaned', [{ code: 'owner_inactive', message: `Workload ${w.name}'s owner "${w.owner}" was deactivated; reassign it (POST /v1/tokens/reassign moves workloads too).`, data: { owner: w.owner } }])];
  return [];
}
