import type { ConsentScopePolicy } from './oauth.types.ts';

/**
 * Scope minimisation at grant time (issue 14), as plain functions: which scopes a consent asks the
 * issuer for under the tenant's policy, and what the issuer granted beyond that.
 */

/** Custody's own scopes: openid (the ID token that names the approver), email (to record it), offline_access (a refresh token). */
export const BASE_SCOPES: readonly string[] = ['openid', 'email', 'offline_access'];

export interface ScopeSelection {
  /** What the consent asks for. */
  scopes: string[];
  /** What was asked of Custody but left out: not in the policy's allowed list, or forbidden. */
  dropped: { notAllowed: string[]; forbidden: string[] };
}

/**
 * The scopes a consent asks for: Custody's own plus the API scopes wanted, keeping only those the
 * policy allows for the provider (its own scopes are not the allowed list's business) and none it
 * forbids — except openid, without which no approver can be established and no consent recorded.
 */
export function selectConsentScopes(wanted: readonly string[], policy: ConsentScopePolicy): ScopeSelection {
  const scopes: string[] = [];
  const notAllowed: string[] = [];
  const forbidden: string[] = [];
  for (const scope of new Set([...BASE_SCOPES, ...wanted])) {
    if (scope !== 'openid' && policy.forbidden.includes(scope)) forbidden.push(scope);
    else if (!BASE_SCOPES.includes(scope) && policy.allowed !== null && !policy.allowed.includes(scope)) notAllowed.push(scope);
    else scopes.push(scope);
  }
  return { scopes, dropped: { notAllowed, forbidden } };
}

/** What the issuer granted beyond what was asked (an issuer may add scopes of its own accord). */
export function excessScopes(asked: readonly string[], granted: readonly string[]): string[] {
  return granted.filter((s) => !asked.includes(s));
}
