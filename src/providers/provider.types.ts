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
  revocation: { supported: boolean; verifiedAt: string | null };
  createdAt: string;
  updatedAt: string;
}

export interface CreateProviderInput {
  name: string;
  issuer?: string;
  authorizationEndpoint?: string;
  tokenEndpoint: string;
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
