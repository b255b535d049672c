import { practicalTest, type PracticalTestPolicy } from './token.practical-test.ts';
import type { TokenRow } from './token.repo.ts';
import { riskOf } from './token.risk.ts';
import type { TokenRecord, UpstreamRevocationStatus } from './token.types.ts';

/** The record the API shows for a row: no credential material, the practical test applied at `now`. */
export function toTokenRecord(r: TokenRow, usage: Map<string, string>, now: Date, policy: PracticalTestPolicy): TokenRecord {
  const grantedScopes = JSON.parse(r.granted_scopes) as string[];
  const upstream = r.p_revocation_endpoint ? 'rfc7009' : 'none';
  const verified = upstream === 'rfc7009' && r.p_revocation_verified_at !== null;
  const test = practicalTest(
    {
      state: r.state,
      upstreamRevocation: upstream,
      revocationVerified: verified,
      approverSubject: r.approver_subject,
      approverActive: r.approver_active === 1,
      purpose: r.purpose,
      reviewDueAt: r.review_due_at,
      lastUsedAt: r.last_used_at,
      issuedAt: r.issued_at,
      approvedAt: r.approved_at,
      usageChannel: r.usage_channel ?? 'gateway',
    },
    now,
    policy,
  );
  return {
    id: r.id,
    tenantId: r.tenant_id,
    providerId: r.provider_id,
    subject: r.subject,
    owner: r.owner,
    approver: r.approver_subject
      ? { subject: r.approver_subject, email: r.approver_email, issuer: r.approver_issuer, approvedAt: r.approved_at, active: r.approver_active === 1, startedBy: r.approval_started_by ?? null }
      : null,
    purpose: r.purpose,
    reviewDueAt: r.review_due_at,
    workloads: JSON.parse(r.workloads) as string[],
    usageChannel: r.usage_channel ?? 'gateway',
    servedTenants: JSON.parse(r.served_tenants ?? '[]') as string[],
    grantedScopes,
    effectiveScopes: r.effective_scopes ? (JSON.parse(r.effective_scopes) as string[]) : grantedScopes,
    excessScopes: r.excess_scopes ? (JSON.parse(r.excess_scopes) as string[]) : [],
    scopeUsage: grantedScopes.map((scope) => ({ scope, lastUsedAt: usage.get(scope) ?? null })),
    state: r.state,
    suspensionKind: r.state === 'suspended' ? (r.suspension_kind ?? 'security') : null,
    stateReason: r.state_reason,
    stateActor: r.state_actor,
    stateChangedAt: r.state_changed_at,
    issuedAt: r.issued_at,
    accessExpiresAt: r.access_expires_at,
    refreshExpiresAt: r.refresh_expires_at,
    lastUsedAt: r.last_used_at,
    lastUsedBy: r.last_used_by,
    hasRefreshToken: r.refresh_token_enc !== null,
    revocationPath: { local: 'gateway', upstream, verified },
    revocation: r.revocation_requested_at
      ? {
          requestedAt: r.revocation_requested_at,
          locallyEffectiveAt: r.revocation_effective_at ?? null,
          upstream: (r.upstream_revocation ?? 'pending') as UpstreamRevocationStatus,
          upstreamConfirmedAt: r.upstream_confirmed_at ?? null,
        }
      : null,
    managed: test.managed,
    managedReasons: test.reasons,
    risk: riskOf(r.risk_score, r.risk_components),
    predecessorId: r.predecessor_id,
    inventoryOnly: r.inventory_only === 1,
    externalId: r.external_id ?? null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}
