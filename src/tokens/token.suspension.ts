import type { Role } from '../auth/roles.ts';

/**
 * Who suspended a token, which decides who may lift it (DESIGN §9):
 * - `security`: the security team or an administrator, for an incident;
 * - `customer`: the customer's own administrator (tenant_admin);
 * - `policy`: governance (dormancy, an overdue review);
 * - `signal`: an incoming security event (Shared Signals, a leak report).
 * Suspensions recorded before kinds existed count as `security`: the safest reading.
 */
export const SUSPENSION_KINDS = ['security', 'customer', 'policy', 'signal'] as const;
export type SuspensionKind = (typeof SUSPENSION_KINDS)[number];

/** The roles that may resume any suspension (POST /v1/tokens/{id}/resume). */
const RESUMING_ROLES: readonly Role[] = ['admin', 'security'];

/** The kind of a suspension made by hand by a principal of this role. */
export function suspensionKindFor(role: Role): SuspensionKind {
  return role === 'tenant_admin' ? 'customer' : 'security';
}

export interface SuspensionPolicy {
  /** The kinds a customer's new consent may lift (reauthorisation in place). */
  consentLifts: readonly SuspensionKind[];
}

export const DEFAULT_SUSPENSION_POLICY: SuspensionPolicy = { consentLifts: ['customer', 'policy'] };

/**
 * Whether a new consent may lift a suspension: always when a role that may resume started it;
 * otherwise only for the kinds the policy lets consent lift. A security suspension is not undone
 * by the customer approving again.
 */
export function consentMayLift(kind: SuspensionKind | null, startedByRole: Role | null, policy: SuspensionPolicy): { ok: true } | { ok: false; reason: string } {
  const effective = kind ?? 'security';
  if (startedByRole !== null && RESUMING_ROLES.includes(startedByRole)) return { ok: true };
  if (policy.consentLifts.includes(effective)) return { ok: true };
  const by = { security: 'the security team', customer: "the customer's administrator", policy: 'a governance policy', signal: 'a security signal' }[effective];
  return { ok: false, reason: `it was suspended by ${by} (a ${effective} suspension), which a customer's consent does not lift; the security team resumes it (POST /v1/tokens/{id}/resume)` };
}

/** The kinds a setting names, checked: the unknown ones are returned for the configuration error. */
export function parseSuspensionKinds(given: readonly string[]): { kinds: SuspensionKind[]; unknown: string[] } {
  const kinds = given.filter((k): k is SuspensionKind => (SUSPENSION_KINDS as readonly string[]).includes(k));
  return { kinds, unknown: given.filter((k) => !kinds.includes(k as SuspensionKind)) };
}
