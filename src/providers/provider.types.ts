export interface ScopeRule {
  method: string;
  pathPattern: string;
  scope: string;
}

export interface ProviderRecord {
  id: string;
  name: string;
  issuer: string | null;
  authorizationEndpoint: string | null;
  tokenEndpoint: string;
  revocationEndpoint: string | null;
  introspectionEndpoint: string | null;
  clientId: string;
  hasClientSecret: boolean;
  apiBaseUrls: string[];
  scopeRules: ScopeRule[];
  unmappedCalls: 'allow' | 'deny';
  development: boolean;
  allowPrivateNetwork: boolean;
  revocation: { supported: boolean; verified: boolean; verifiedAt: string | null };
  /** What the issuer supports; null where it is not known yet (refresh rotation is learned on the first refresh). */
  supports: { pkceS256: boolean | null; refreshRotation: boolean | null; revocation: boolean; introspection: boolean };
  discoveredAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface CreateProviderInput {
  name: string;
  issuer?: string;
  authorizationEndpoint?: string;
  /** Required unless `issuer` is given, in which case discovery supplies it. */
  tokenEndpoint?: string;
  revocationEndpoint?: string;
  introspectionEndpoint?: string;
  clientId: string;
  clientSecret?: string;
  apiBaseUrls: string[];
  scopeRules?: ScopeRule[];
  unmappedCalls?: 'allow' | 'deny';
  development?: boolean;
  allowPrivateNetwork?: boolean;
}

/** What the gateway needs of a provider to forward a call (no secrets). */
export interface ProviderAccessView {
  id: string;
  apiBaseUrls: string[];
  scopeRules: ScopeRule[];
  unmappedCalls: 'allow' | 'deny';
  allowPrivateNetwork: boolean;
  /** Moves whenever the provider changes: caches compare it. */
  updatedAt: string;
}

/** What RFC 8414 / OpenID discovery yields; implemented by the OAuth capability. */
export interface DiscoveredProvider {
  issuer: string;
  authorizationEndpoint: string | null;
  tokenEndpoint: string | null;
  revocationEndpoint: string | null;
  introspectionEndpoint: string | null;
  metadata: { code_challenge_methods_supported?: string[] } & Record<string, unknown>;
}

export type DiscoverIssuer = (issuer: string, opts: { allowHttp: boolean }) => Promise<DiscoveredProvider>;
