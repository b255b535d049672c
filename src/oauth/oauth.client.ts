import * as oauth from 'oauth4webapi';
import type { ProvidersTable } from '../storage/schema.ts';
import type { DiscoveredProvider } from '../providers/provider.types.ts';
import type { Secret } from '../shared/secret.ts';

/**
 * The bridge between a stored provider and oauth4webapi. All protocol work (PKCE, state, token
 * responses, RFC 7009 revocation, RFC 7662 introspection, RFC 8414 discovery) is the library's;
 * this file only builds its inputs. Plain http is allowed only for `development` providers, whose
 * URLs provider.rules.ts already confines to loopback.
 */
export interface IssuerClient {
  as: oauth.AuthorizationServer;
  client: oauth.Client;
  auth: oauth.ClientAuth;
  /** Options for every request: a timeout and, for development providers only, plain http. */
  options(): { signal: AbortSignal; [oauth.allowInsecureRequests]?: boolean };
}

export interface ProviderMetadata {
  jwks_uri?: string;
  /** OpenID Connect userinfo: where the approver's email is read when the ID token lacks a verified one. */
  userinfo_endpoint?: string;
  code_challenge_methods_supported?: string[];
  grant_types_supported?: string[];
  scopes_supported?: string[];
  token_endpoint_auth_methods_supported?: string[];
  authorization_response_iss_parameter_supported?: boolean;
}

export function issuerClient(row: ProvidersTable, clientSecret: Secret | null, timeoutMs: number): IssuerClient {
  const meta = JSON.parse(row.metadata ?? '{}') as ProviderMetadata;
  const as: oauth.AuthorizationServer = {
    // oauth4webapi needs an issuer identifier; a provider registered without one still has a token endpoint.
    issuer: row.issuer ?? new URL(row.token_endpoint).origin,
    token_endpoint: row.token_endpoint,
    ...(row.authorization_endpoint ? { authorization_endpoint: row.authorization_endpoint } : {}),
    ...(row.revocation_endpoint ? { revocation_endpoint: row.revocation_endpoint } : {}),
    ...(row.introspection_endpoint ? { introspection_endpoint: row.introspection_endpoint } : {}),
    ...(meta.jwks_uri ? { jwks_uri: meta.jwks_uri } : {}),
    ...(meta.userinfo_endpoint ? { userinfo_endpoint: meta.userinfo_endpoint } : {}),
    ...(meta.authorization_response_iss_parameter_supported ? { authorization_response_iss_parameter_supported: true } : {}),
  };
  const methods = meta.token_endpoint_auth_methods_supported ?? [];
  let auth: oauth.ClientAuth;
  if (clientSecret === null) auth = oauth.None();
  else if (methods.length > 0 && !methods.includes('client_secret_basic') && methods.includes('client_secret_post')) auth = oauth.ClientSecretPost(clientSecret.reveal());
  else auth = oauth.ClientSecretBasic(clientSecret.reveal());
  const insecure = row.development === 1;
  return {
    as,
    client: { client_id: row.client_id },
    auth,
    options: () => ({ signal: AbortSignal.timeout(timeoutMs), ...(insecure ? { [oauth.allowInsecureRequests]: true } : {}) }),
  };
}

export type { DiscoveredProvider };

/** RFC 8414 / OpenID discovery: OpenID Connect's well-known document first, then OAuth's. */
export async function discoverIssuer(issuer: string, opts: { allowHttp: boolean; timeoutMs: number }): Promise<DiscoveredProvider> {
  const url = new URL(issuer);
  let lastError: unknown;
  for (const algorithm of ['oidc', 'oauth2'] as const) {
    try {
      const response = await oauth.discoveryRequest(url, {
        algorithm,
        signal: AbortSignal.timeout(opts.timeoutMs),
        ...(opts.allowHttp ? { [oauth.allowInsecureRequests]: true } : {}),
      });
      const as = await oauth.processDiscoveryResponse(url, response);
      return {
        issuer: as.issuer,
        authorizationEndpoint: as.authorization_endpoint ?? null,
        tokenEndpoint: as.token_endpoint ?? null,
        revocationEndpoint: as.revocation_endpoint ?? null,
        introspectionEndpoint: as.introspection_endpoint ?? null,
        metadata: <ProviderMetadata & Record<string, unknown>>{
          ...(as.jwks_uri ? { jwks_uri: as.jwks_uri } : {}),
          ...(as.userinfo_endpoint ? { userinfo_endpoint: as.userinfo_endpoint } : {}),
          ...(as.code_challenge_methods_supported ? { code_challenge_methods_supported: as.code_challenge_methods_supported } : {}),
          ...(as.grant_types_supported ? { grant_types_supported: as.grant_types_supported } : {}),
          ...(as.scopes_supported ? { scopes_supported: as.scopes_supported } : {}),
          ...(as.token_endpoint_auth_methods_supported ? { token_endpoint_auth_methods_supported: as.token_endpoint_auth_methods_supported } : {}),
          ...(as.authorization_response_iss_parameter_supported ? { authorization_response_iss_parameter_supported: true } : {}),
        },
      };
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

/** A failure worth retrying: the network, a timeout, 429 or 5xx. */
export function isTransient(err: unknown): boolean {
  if (err instanceof oauth.ResponseBodyError) return err.status === 429 || err.status >= 500;
  if (err instanceof oauth.OperationProcessingError) {
    const status = (err.cause as { status?: number } | undefined)?.status;
    return typeof status === 'number' && (status === 429 || status >= 500);
  }
  if (err instanceof oauth.AuthorizationResponseError || err instanceof oauth.WWWAuthenticateChallengeError) return false;
  // fetch failures (TypeError), aborts and timeouts (DOMException)
  return err instanceof TypeError || (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError'));
}

/** Seconds or an HTTP date, as RFC 9110 allows; null when absent or unreadable. */
export function retryAfterMs(header: string | null, now: Date): number | null {
  if (!header) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - now.getTime());
}
