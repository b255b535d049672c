import { EncryptJWT, jwtDecrypt } from 'jose';
import * as oauth from 'oauth4webapi';
import type { SsoConfig } from '../config/sso-config.ts';
import type { Clock } from '../shared/clock.ts';
import { CustodyError } from '../shared/errors.ts';
import type { Db } from '../storage/database.ts';
import { GLOBAL_SCOPE, type Vault } from '../vault/vault.service.ts';
import type { SessionService, SsoIdentity } from './session.service.ts';
import type { SsoFailure } from './session.contract.ts';

/**
 * Single sign-on to the console through an OpenID Connect issuer (issue 17): authorization code
 * with PKCE, state and nonce; the ID token's issuer, audience, nonce and signature validated by
 * oauth4webapi; its role claim mapped to a role and tenant by CUSTODY_SSO_ROLES.
 *
 * Nothing is written before the person is authenticated: the flow's state, nonce and PKCE
 * verifier travel in a short-lived cookie encrypted and authenticated (JWE, dir + A256GCM) under a
 * key every instance shares (a system data key of the vault), so any instance can finish a flow
 * another began, and a cookie that was altered, forged or is past its 10 minutes is refused.
 */

/** The failure code of an error from the flow, or null when it is not one (anything else is a bug: rethrown). */
export function ssoFailureOf(err: unknown): SsoFailure | null {
  return (err as { ssoCode?: SsoFailure } | null)?.ssoCode ?? null;
}

export const SSO_FLOW_TTL_SECONDS = 600;
export const SSO_START_PATH = '/v1/session/sso/start';
export const SSO_CALLBACK_PATH = '/v1/session/sso/callback';
const FLOW_KEY_OWNER = 'sys:console-sso-flow';
const FLOW_AUDIENCE = 'custody-console-sso-flow';
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** The key of the flow cookie: a system data key of the vault (wrapped by the keyring, re-wrapped by key rotation), made once. */
export async function ssoFlowKey(vault: Vault, db: Db, now: Date): Promise<Uint8Array> {
  try {
    return (await vault.loadDataKey(db, GLOBAL_SCOPE, FLOW_KEY_OWNER)).key;
  } catch (err) {
    if (!(err as Error).message.startsWith('no data key')) throw err;
  }
  try {
    await db.transaction().execute((trx) => vault.ensureDataKey(trx, GLOBAL_SCOPE, FLOW_KEY_OWNER, now));
  } catch {
    // Another instance made it at the same moment: read theirs below.
  }
  return (await vault.loadDataKey(db, GLOBAL_SCOPE, FLOW_KEY_OWNER)).key;
}

export interface SsoFlowDeps {
  config: SsoConfig;
  /** CUSTODY_PUBLIC_URL: the callback is under it. */
  publicUrl: string;
  /** 32 bytes shared by every instance (ssoFlowKey). */
  flowKey: Uint8Array;
  clock: Clock;
  sessions: Pick<SessionService, 'signInWithSso'>;
  timeoutMs: number;
}

interface FlowClaims {
  state: string;
  nonce: string;
  verifier: string;
}

export function createSsoFlow(deps: SsoFlowDeps) {
  const { config, clock } = deps;
  const issuerUrl = new URL(config.issuer);
  const insecure = issuerUrl.protocol === 'http:' && LOOPBACK.has(issuerUrl.hostname);
  const redirectUri = `${deps.publicUrl}${SSO_CALLBACK_PATH}`;
  const client: oauth.Client = { client_id: config.clientId };
  const clientAuth = config.clientSecret ? oauth.ClientSecretBasic(config.clientSecret.reveal()) : oauth.None();
  const issuerHost = issuerUrl.host;
  let discovered: Promise<oauth.AuthorizationServer> | null = null;

  const options = () => ({ signal: AbortSignal.timeout(deps.timeoutMs), ...(insecure ? { [oauth.allowInsecureRequests]: true } : {}) });

  /** The issuer's metadata, read once (a failed read is retried at the next sign-in). */
  function server(): Promise<oauth.AuthorizationServer> {
    discovered ??= (async () => {
      const response = await oauth.discoveryRequest(issuerUrl, { algorithm: 'oidc', ...options() });
      const as = await oauth.processDiscoveryResponse(issuerUrl, response);
      if (!as.authorization_endpoint || !as.token_endpoint || !as.jwks_uri) throw new Error('the issuer publishes no authorization endpoint, token endpoint or JWKS');
      return as;
    })().catch((err: unknown) => {
      discovered = null;
      throw err;
    });
    return discovered;
  }

  function failed(code: SsoFailure, message: string, cause?: unknown): CustodyError {
    const error = new CustodyError('sso_failed', message);
    (error as Error & { ssoCode?: SsoFailure }).ssoCode = code;
    if (cause !== undefined) (error as Error & { reason?: string }).reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    return error;
  }

  async function sealFlow(flow: FlowClaims): Promise<string> {
    const now = Math.floor(clock.now().getTime() / 1000);
    return new EncryptJWT({ ...flow })
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
      .setAudience(FLOW_AUDIENCE)
      .setIssuedAt(now)
      .setExpirationTime(now + SSO_FLOW_TTL_SECONDS)
      .encrypt(deps.flowKey);
  }

  async function openFlow(cookie: string | null): Promise<FlowClaims> {
    if (!cookie) throw failed('flow_missing', 'The sign-in took too long or was started in another browser (its cookie is missing); start again.');
    try {
      const { payload } = await jwtDecrypt(cookie, deps.flowKey, { audience: FLOW_AUDIENCE, currentDate: clock.now(), keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] });
      const { state, nonce, verifier } = payload as Partial<FlowClaims>;
      if (typeof state !== 'string' || typeof nonce !== 'string' || typeof verifier !== 'string') throw new Error('incomplete flow cookie');
      return { state, nonce, verifier };
    } catch (err) {
      throw failed('flow_invalid', 'The sign-in could not be verified (expired or altered); start again.', err);
    }
  }

  /** Which role and tenant the claims map to: the first mapping, in configured order, whose value the claim holds. */
  function identityOf(claims: oauth.IDToken): SsoIdentity {
    const raw = claims[config.roleClaim];
    const values = Array.isArray(raw) ? raw.filter((v): v is string => typeof v === 'string') : typeof raw === 'string' ? [raw] : [];
    const mapping = config.roles.find((m) => values.includes(m.value));
    const who = typeof claims.email === 'string' ? claims.email : typeof claims.preferred_username === 'string' ? claims.preferred_username : typeof claims.name === 'string' ? claims.name : claims.sub;
    if (!mapping) throw failed('not_mapped', `${who} is not allowed to use Custody: none of their ${config.roleClaim} is mapped to a role. Ask a Custody administrator to add one to CUSTODY_SSO_ROLES.`);
    return { actor: `sso:${issuerHost}:${claims.sub}`, name: who, role: mapping.role, tenantId: mapping.tenantId };
  }

  return {
    issuer: config.issuer,
    /** Where the person is sent, and the sealed flow to keep in the browser's cookie meanwhile. */
    async start(): Promise<{ location: string; flowCookie: string }> {
      let as: oauth.AuthorizationServer;
      try {
        as = await server();
      } catch (err) {
        throw failed('issuer_unreachable', 'The single sign-on issuer could not be reached; try again later.', err);
      }
      const flow: FlowClaims = { state: oauth.generateRandomState(), nonce: oauth.generateRandomNonce(), verifier: oauth.generateRandomCodeVerifier() };
      const url = new URL(as.authorization_endpoint!);
      const scopes = ['openid', 'email', 'profile'];
      // The role claim often needs its own scope (groups); ask for it only where the issuer offers it.
      if (as.scopes_supported?.includes(config.roleClaim) && !scopes.includes(config.roleClaim)) scopes.push(config.roleClaim);
      url.searchParams.set('client_id', config.clientId);
      url.searchParams.set('redirect_uri', redirectUri);
      url.searchParams.set('response_type', 'code');
      url.searchParams.set('scope', scopes.join(' '));
      url.searchParams.set('state', flow.state);
      url.searchParams.set('nonce', flow.nonce);
      url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(flow.verifier));
      url.searchParams.set('code_challenge_method', 'S256');
      return { location: url.toString(), flowCookie: await sealFlow(flow) };
    },

    /** The issuer's redirect back: validates it, exchanges the code, maps the person and opens a session. Throws sso_failed. */
    async finish(callback: URL, flowCookie: string | null) {
      const flow = await openFlow(flowCookie);
      let as: oauth.AuthorizationServer;
      try {
        as = await server();
      } catch (err) {
        throw failed('issuer_unreachable', 'The single sign-on issuer could not be reached; try again later.', err);
      }
      let params: URLSearchParams;
      try {
        params = oauth.validateAuthResponse(as, client, callback.searchParams, flow.state);
      } catch (err) {
        if (err instanceof oauth.AuthorizationResponseError) {
          throw failed('issuer_refused', `The issuer did not sign you in (${err.error}${err.error_description ? `: ${err.error_description}` : ''}).`, err);
        }
        throw failed('answer_mismatch', 'The answer from the issuer does not belong to this sign-in; start again.', err);
      }
      let claims: oauth.IDToken;
      try {
        const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, redirectUri, flow.verifier, options());
        const result = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: flow.nonce, requireIdToken: true });
        // Checked although the token came straight from the issuer over TLS: a second lock, and the only one over loopback http.
        await oauth.validateApplicationLevelSignature(as, response, options());
        claims = oauth.getValidatedIdTokenClaims(result)!;
        // An issuer that follows OpenID Connect's code flow strictly puts only the subject in the ID
        // token; the rest is at its userinfo endpoint (answered for that same subject, or refused).
        if (claims[config.roleClaim] === undefined && as.userinfo_endpoint) {
          const answer = await oauth.userInfoRequest(as, client, result.access_token, options());
          const info = await oauth.processUserInfoResponse(as, client, claims.sub, answer);
          claims = { ...info, ...claims, [config.roleClaim]: info[config.roleClaim], ...(claims.email === undefined && typeof info.email === 'string' ? { email: info.email } : {}) };
        }
      } catch (err) {
        throw failed('answer_invalid', 'The issuer’s answer could not be verified (the code was already used, expired, or the ID token is invalid); start again.', err);
      }
      return deps.sessions.signInWithSso(identityOf(claims));
    },
  };
}

export type SsoFlow = ReturnType<typeof createSsoFlow>;
