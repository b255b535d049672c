import type { Static } from 'typebox';
import type { Secret } from '../shared/secret.ts';
import type { TokenState } from './token.lifecycle.ts';
import type { PatchTokenBody, TokenSchema } from './token.schemas.ts';

/** The managed token as the API shows it (no credential material, ever): derived from its schema. */
export type TokenRecord = Static<typeof TokenSchema>;
export type Approver = NonNullable<TokenRecord['approver']>;
export type RevocationPath = TokenRecord['revocationPath'];
export type RevocationTimes = NonNullable<TokenRecord['revocation']>;
export type UpstreamRevocationStatus = RevocationTimes['upstream'];

export interface RegisterTokenInput {
  tenantId: string;
  providerId: string;
  owner: string;
  subject?: string;
  approver?: { subject: string; email?: string; issuer?: string; approvedAt?: string };
  purpose?: string;
  reviewDueAt?: string;
  workloads?: string[];
  scopes: string[];
  accessToken: Secret;
  refreshToken?: Secret;
  issuedAt?: string;
  accessExpiresAt?: string;
  refreshExpiresAt?: string;
  predecessorId?: string;
  /** 'direct': the platform uses the token outside the gateway, so its use is not observed. */
  usageChannel?: 'gateway' | 'direct';
  /** Tenants the token serves beyond its own (delegated-admin and marketplace models). */
  servedTenants?: string[];
  /** At consent: what the issuer granted beyond what was asked (excess_grant). */
  excessScopes?: string[];
}

export type PatchTokenInput = Static<typeof PatchTokenBody>;

export interface TokenFilter {
  tenantId?: string;
  providerId?: string;
  state?: TokenState;
  owner?: string;
  managed?: boolean;
  dormantDays?: number;
  q?: string;
  ids?: string[];
  afterId?: string;
  /** 'risk': highest risk score first, ties by id; only tokens with a score. */
  sort?: 'id' | 'risk';
  /** Risk score bounds (inclusive); either leaves out tokens without a score. */
  minRisk?: number;
  maxRisk?: number;
  /** sort=risk: continue after this (score, id). */
  afterRisk?: { score: number; id: string };
  limit: number;
}

/** Who is asking, as far as data visibility goes: a tenant-bound caller sees one tenant. */
export interface TenantScope {
  tenantId: string | null;
}

/**
 * A token named by id in a bulk revocation that this call did not revoke, and why: `not_found`
 * (no token the caller can see: another tenant's reads the same), `outside_filter` (it is not of
 * the tenant or provider also named), `not_live` (already revoked or expired), `changed_meanwhile`
 * (live, but changed by another writer while the revocation ran: revoke it again).
 */
export interface NotRevoked {
  id: string;
  why: 'not_found' | 'outside_filter' | 'not_live' | 'changed_meanwhile';
  state?: TokenState;
}
