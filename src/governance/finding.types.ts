/**
 * The kinds of finding Governance raises (issue 13), as plain data. Each has a default severity
 * and a mapping to OWASP NHI Top 10 (2025), NIST CSF 2.0 and NIST AI RMF (finding.mappings.ts).
 */
export const FINDING_TYPES = [
  'unmanaged',
  'overprivileged',
  'unobserved',
  'dormant',
  'review_overdue',
  'reauthorization_due',
  'no_owner',
  'owner_orphaned',
  'no_approver',
  'approver_inactive',
  'no_purpose',
  'long_lived_credential',
  'no_revocation_path',
  'revocation_unverified',
  'forbidden_scope',
  'shared_token',
  'unknown_workload',
  'excess_grant',
  'scope_narrowed',
] as const;
export type FindingType = (typeof FINDING_TYPES)[number];

export const FINDING_SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type FindingSeverity = (typeof FINDING_SEVERITIES)[number];

export const FINDING_STATUSES = ['open', 'acknowledged', 'excepted', 'resolved'] as const;
export type FindingStatus = (typeof FINDING_STATUSES)[number];
