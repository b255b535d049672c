import type { Secret } from '../shared/secret.ts';
import type { TokenState } from './token.lifecycle.ts';
import type { ManagedReason } from './token.practical-test.ts';

export interface Approver {
  subject: string;
  email: string | null;
  issuer: string | null;
  approvedAt: string | null;
  active: boolean;
  /** The platform user who started the consent (null for registered or imported tokens). */
  startedBy: string | null;
}

export interface RevocationPath {
  /** Always: the gateway stops forwarding at once. */
  local: 'gateway';
  upstream: 'rfc7009' | 'none';
  verified: boolean;
}

export type UpstreamRevocationStatus = 'pending' | 'verified' | 'unverifiable' | 'failed' | 'none';

export interface RevocationTimes {
  requestedAt: string;
  locallyEffectiveAt: string | null;
  upstream: UpstreamRevocationStatus;
  upstreamConfirmedAt: string | null;
}

/** The managed token as the API shows it: no credential material, ever. */
export interface TokenRecord {
  id: string;
  tenantId: string;
  providerId: string;
  subject: string | null;
  owner: string;
  approver: Approver | null;
  purpose: string | null;
  reviewDueAt: string | null;
  workloads: string[];
  grantedScopes: string[];
  scopeUsage: { scope: string; lastUsedAt: string | null }[];
  state: TokenState;
  stateReason: string | null;
  stateActor: string | null;
  stateChangedAt: string;
  issuedAt: string;
  accessExpiresAt: string | null;
  refreshExpiresAt: string | null;
  lastUsedAt: string | null;
  lastUsedBy: string | null;
  hasRefreshToken: boolean;
  revocationPath: RevocationPath;
  /** Kill time of a revocation (null until revoked): requested → locally effective → upstream confirmed. */
  revocation: RevocationTimes | null;
  /** null for revoked and expired tokens: they hold no privilege. */
  managed: boolean | null;
  managedReasons: ManagedReason[];
  predecessorId: string | null;
  createdAt: string;
  updatedAt: string;
}

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
}

export interface PatchTokenInput {
  owner?: string;
  purpose?: string | null;
  reviewDueAt?: string | null;
  workloads?: string[];
}

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
  limit: number;
}

/** Who is asking, as far as data visibility goes: a tenant-bound caller sees one tenant. */
export interface TenantScope {
  tenantId: string | null;
}
