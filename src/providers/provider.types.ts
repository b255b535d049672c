import type { Static } from 'typebox';
import type { ScopeCatalogueEntrySchema, ScopeRuleSchema } from './provider.contract.ts';

export type { CreateProviderInput, ProviderRecord, UpdateProviderInput } from './provider.contract.ts';

export type ScopeRule = Static<typeof ScopeRuleSchema>;
export type ScopeCatalogueEntry = Static<typeof ScopeCatalogueEntrySchema>;

/** What the gateway needs of a provider to forward a call (no secrets). */
export interface ProviderAccessView {
  id: string;
  apiBaseUrls: string[];
  scopeRules: ScopeRule[];
  unmappedCalls: 'allow' | 'deny';
  allowPrivateNetwork: boolean;
  /** Whether the API's paths may carry ';' path parameters (refused by default: see target-path.ts). */
  allowPathParameters: boolean;
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
