import type { Static } from 'typebox';
import type { RefreshResultSchema } from './oauth.schemas.ts';

export interface StartConsentInput {
  providerId: string;
  tenantId: string;
  owner: string;
  purpose?: string;
  /** Scopes of the provider's API, beyond openid/email/offline_access which consent always asks for. */
  scopes?: string[];
  /** A reauthorisation link's consent renews this token in place (active or suspended). */
  reauthorizeTokenId?: string;
  /** When the starter's role was vouched for (a link's creation): a suspension made later is not theirs to lift. */
  authorityAt?: string;
}

export interface StartedConsent {
  authorizationUrl: string;
  flowId: string;
  expiresAt: string;
  /** `Set-Cookie` binding the flow to the browser sent to the issuer (see browser-binding.ts). */
  browserCookie: string;
}

/** How a consent ended; `flowId` names the flow it finished, when the response matched one. */
export type ConsentOutcome = ({ ok: true; tokenId: string; reauthorised: boolean; granted: string[]; notGranted: string[]; /** Why the new connection starts suspended (a hold inherited from its predecessor). */ held?: string } | { ok: false; error: string; message: string }) & { flowId?: string };

export interface RefreshOptions {
  /** Ask for a subset of the granted scopes (scope narrowing); the grant itself keeps them all. */
  scopes?: string[];
  /** Only refresh if the access token (re-read under the lock) expires within this many ms… */
  ifExpiringWithinMs?: number;
  /** …or (short-lived access) was issued at least this many ms ago. */
  ifOlderThanMs?: number;
}

/**
 * What a tenant's policy says of refreshes (scope narrowing, issue 14): with `narrow`, a refresh
 * asks only for the granted scopes used within `windowDays`, plus `keep`.
 */
export interface RefreshNarrowing {
  narrow: boolean;
  keep: string[];
  windowDays: number;
}

/** What a tenant's policy lets a consent ask of a provider: `allowed` null is no restriction. */
export interface ConsentScopePolicy {
  allowed: string[] | null;
  forbidden: string[];
}

/** What a refresh did (derived from its schema): `refreshed` is false when another caller or process did it meanwhile. */
export type RefreshResult = Static<typeof RefreshResultSchema>;
