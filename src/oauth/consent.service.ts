import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import * as oauth from 'oauth4webapi';
import type { Principal, Role } from '../auth/roles.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { ProviderService } from '../providers/provider.service.ts';
import type { Clock } from '../shared/clock.ts';
import type { Logger } from '../shared/logger.ts';
import { CustodyError } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import { Secret } from '../shared/secret.ts';
import type { Db, Storage } from '../storage/database.ts';
import type { ProvidersTable } from '../storage/schema.ts';
import type { TenantService } from '../tenants/tenant.service.ts';
import type { ConsentApproval, IssuedCredentials } from '../tokens/token.operations.ts';
import type { TokenService } from '../tokens/token.service.ts';
import { consentMayLift, type SuspensionPolicy } from '../tokens/token.suspension.ts';
import type { Vault } from '../vault/vault.service.ts';
import { bindingClearCookie, bindingCookieName, bindingMatches, bindingSetCookie, cookieScopeOf, newBrowserBinding } from './browser-binding.ts';
import { issuerClient, type IssuerClient, type ProviderMetadata } from './oauth.client.ts';
import { createOAuthRepo } from './oauth.repo.ts';
import type { ConsentOutcome, ConsentScopePolicy, StartConsentInput, StartedConsent } from './oauth.types.ts';
import { BASE_SCOPES, excessScopes, selectConsentScopes, type ScopeSelection } from './scope-minimisation.rules.ts';

export interface ConsentDeps {
  storage: Storage;
  vault: Vault;
  ledger: LedgerService;
  tenants: TenantService;
  providers: ProviderService;
  tokens: TokenService;
  clock: Clock;
  publicUrl: string;
  requestTimeoutMs: number;
  flowTtlMs: number;
  /** Which suspensions a customer's consent may lift (token.suspension.ts). */
  suspensionPolicy: SuspensionPolicy;
  /** What the tenant's policy lets a consent ask of a provider (governance); absent: no restriction. */
  scopePolicy?: (tenantId: string, providerId: string) => Promise<ConsentScopePolicy>;
  /**
   * Whether the account is recorded as having left the tenant (approver offboarding, src/signals):
   * its consent must not re-approve the tokens it approved, nor approve new ones. Absent: never.
   */
  approverDeactivated?: (db: Db, tenantId: string, issuer: string, subject: string, email: string | null) => Promise<boolean>;
  logger?: Logger;
}

export const OAUTH_ACTOR = 'system:oauth';
/** Mail domains anyone can have an address at: a shared one says nothing about whose customer an account is. */
const PUBLIC_MAIL_DOMAINS = new Set(['gmail.com', 'googlemail.com', 'outlook.com', 'hotmail.com', 'live.com', 'msn.com', 'yahoo.com', 'icloud.com', 'me.com', 'aol.com', 'proton.me', 'protonmail.com', 'gmx.com', 'gmx.net', 'mail.com', 'yandex.com', 'zoho.com']);

class NotLiftable extends Error {}
class NotRecordable extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** An email claim the issuer says it verified (email_verified true), else null: an unverified one names nobody. */
function verifiedEmail(claims: { email?: unknown; email_verified?: unknown }): string | null {
  return typeof claims.email === 'string' && claims.email_verified === true ? claims.email : null;
}

class ConsentFailure extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/**
 * Customer consent: authorization code + PKCE (S256) with state and nonce. The approver is the
 * subject of the ID token, verified against the issuer's keys. A consent either produces a
 * complete record (new, or a suspended one renewed in place) or nothing but a ledger entry.
 */
export function createConsentService(deps: ConsentDeps) {
  const { storage, vault, ledger, tokens, clock } = deps;
  const repo = createOAuthRepo();
  const redirectUri = `${deps.publicUrl}/oauth/callback`;
  // Cookies are Secure (and __Host-) whenever Custody is reached over https, scoped to its public URL.
  const cookieScope = cookieScopeOf(deps.publicUrl);
  const jwksCache = new Map<string, JWTVerifyGetKey>();
  const refusedListeners: ((reason: string) => void)[] = [];

  function jwksFor(uri: string): JWTVerifyGetKey {
    let jwks = jwksCache.get(uri);
    if (!jwks) jwksCache.set(uri, (jwks = createRemoteJWKSet(new URL(uri), { timeoutDuration: deps.requestTimeoutMs })));
    return jwks;
  }

  /**
   * Starts a flow on behalf of `startedBy` (visibility already checked; its role decides which
   * suspensions the consent may lift), bound to the browser that
   * will be sent to the issuer (see browser-binding.ts). `also` writes in the same transaction
   * (a connect link marks itself opened).
   */
  async function beginFlow(startedBy: { actor: string; role: Role | null }, input: StartConsentInput, also?: (trx: Db, flowId: string) => Promise<void>): Promise<StartedConsent> {
    const provider = await deps.providers.findRow(storage.db, input.providerId);
    if (!provider.issuer || !provider.authorization_endpoint) throw new CustodyError('consent_not_supported');
    const at = clock.now();
    const id = newId('oauthFlow', at.getTime());
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const nonce = oauth.generateRandomNonce();
    // Scope minimisation: only what the tenant's policy allows of this provider, nothing it forbids.
    const { scopes, dropped } = selectConsentScopes(input.scopes ?? [], (await deps.scopePolicy?.(input.tenantId, input.providerId)) ?? { allowed: null, forbidden: [] });
    const droppedScopes = dropped.notAllowed.length + dropped.forbidden.length > 0 ? { droppedScopes: dropped } : {};
    const expiresAt = new Date(at.getTime() + deps.flowTtlMs).toISOString();
    const binding = newBrowserBinding(id, cookieScope);
    await storage.db.transaction().execute(async (trx) => {
      const key = await vault.createDataKey(trx, input.tenantId, id, at);
      await repo.insertFlow(trx, {
        id,
        state,
        nonce,
        provider_id: input.providerId,
        tenant_id: input.tenantId,
        owner: input.owner,
        purpose: input.purpose ?? null,
        scopes: JSON.stringify(scopes),
        started_by: startedBy.actor,
        started_by_role: startedBy.role,
        verifier_enc: vault.encrypt(key, 'pkce_verifier', new Secret(verifier)),
        created_at: at.toISOString(),
        expires_at: expiresAt,
        consumed_at: null,
        outcome: null,
        token_id: null,
        browser_hash: binding.hash,
        reauthorize_token_id: input.reauthorizeTokenId ?? null,
        authority_at: input.authorityAt ?? null,
      });
      await ledger.append(trx, { actor: startedBy.actor, action: 'oauth.consent_started', tenantId: input.tenantId, subjectId: id, data: { providerId: input.providerId, owner: input.owner, scopes, ...droppedScopes } });
      await also?.(trx, id);
    });
    const url = new URL(provider.authorization_endpoint);
    url.searchParams.set('client_id', provider.client_id);
    url.searchParams.set('redirect_uri', redirectUri);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('scope', scopes.join(' '));
    url.searchParams.set('state', state);
    url.searchParams.set('nonce', nonce);
    url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier));
    url.searchParams.set('code_challenge_method', 'S256');
    // offline_access needs an explicit consent at most issuers; it also makes a reauthorisation a real re-approval.
    url.searchParams.set('prompt', 'consent');
    return {
      authorizationUrl: url.toString(),
      flowId: id,
      expiresAt,
      browserCookie: bindingSetCookie(binding, cookieScope, Math.ceil(deps.flowTtlMs / 1000)),
    };
  }

  /** A consent started through the API by `principal`; the caller's browser is the one bound to it. */
  async function start(principal: Principal, input: StartConsentInput): Promise<StartedConsent> {
    await deps.tenants.findVisible(storage.db, principal, input.tenantId);
    checkScopes(await deps.providers.findRow(storage.db, input.providerId), input.scopes ?? []);
    await checkPolicyScopes(input.tenantId, input.providerId, input.scopes ?? []);
    return beginFlow({ actor: principal.actor, role: principal.role }, input);
  }

  /** What a consent for these scopes would ask the issuer for under the tenant's policy (and what it would leave out). */
  async function scopesFor(tenantId: string, providerId: string, wanted: readonly string[]): Promise<ScopeSelection> {
    return selectConsentScopes(wanted, (await deps.scopePolicy?.(tenantId, providerId)) ?? { allowed: null, forbidden: [] });
  }

  /**
   * A new connection (a consent started, a connect link made) asking for scopes the tenant's policy
   * forbids or does not allow is refused before anyone is sent anywhere: the customer would be shown
   * scopes that are silently left out. (A reauthorisation minimises instead: that is its purpose.)
   */
  async function checkPolicyScopes(tenantId: string, providerId: string, wanted: readonly string[]): Promise<void> {
    const { dropped } = await scopesFor(tenantId, providerId, wanted);
    const refused = [...dropped.forbidden.map((s) => [s, 'forbidden by the tenant’s policy'] as const), ...dropped.notAllowed.map((s) => [s, 'not in the tenant’s allowedScopes for this provider'] as const)].filter(([s]) => wanted.includes(s));
    if (refused.length > 0) {
      throw new CustodyError(
        'validation_failed',
        `The policy does not let a consent ask for ${refused.map(([s, why]) => `"${s}" (${why})`).join(', ')}. Leave ${refused.length === 1 ? 'it' : 'them'} out, or change the policy (custody policy show --tenant ${tenantId}).`,
        refused.map(([s, why]) => ({ path: 'body/scopes', message: `"${s}" is ${why}` })),
      );
    }
  }

  /**
   * Scopes the issuer says it does not support are refused before anyone is sent to it: it would
   * silently leave them out of the grant, and calls needing them would be refused later.
   */
  function checkScopes(provider: ProvidersTable, scopes: string[]): void {
    const supported = (JSON.parse(provider.metadata ?? '{}') as ProviderMetadata).scopes_supported;
    const catalogue = (JSON.parse(provider.scope_catalogue ?? '[]') as { name: string }[]).map((e) => e.name);
    const undeclared = catalogue.length === 0 ? [] : scopes.filter((s) => !catalogue.includes(s) && !BASE_SCOPES.includes(s));
    if (undeclared.length > 0) {
      throw new CustodyError(
        'validation_failed',
        `The provider's scope catalogue does not declare ${undeclared.map((s) => `"${s}"`).join(', ')}; it declares ${catalogue.join(', ')} (and always: ${BASE_SCOPES.join(', ')}). Ask for declared scopes, or add them to the catalogue (custody providers update --scope-catalogue).`,
        undeclared.map((s) => ({ path: 'body/scopes', message: `"${s}" is not in the provider's scope catalogue` })),
      );
    }
    if (!supported) return;
    const unknown = scopes.filter((s) => !supported.includes(s) && !BASE_SCOPES.includes(s));
    if (unknown.length > 0) {
      throw new CustodyError(
        'validation_failed',
        `The issuer does not support ${unknown.map((s) => `"${s}"`).join(', ')}; it supports ${supported.filter((s) => !BASE_SCOPES.includes(s)).join(', ') || 'no API scopes'} (and always: ${BASE_SCOPES.join(', ')}).`,
        unknown.map((s) => ({ path: 'body/scopes', message: `"${s}" is not a scope the issuer supports` })),
      );
    }
  }

  /**
   * A consent ends without a record: a page, and (for a flow Custody started, once) a ledger entry.
   * What names no flow — no state, an unknown one, the replay of a used one — is counted for
   * /metrics only: anyone can send those, and nothing anonymous writes permanent state.
   */
  async function fail(
    flow: { id: string; tenant_id: string; provider_id: string; started_by: string } | undefined,
    code: string,
    message: string,
    options: { finishFlow?: boolean } = {},
  ): Promise<ConsentOutcome> {
    if (!flow) {
      for (const listener of refusedListeners) listener(code);
      return { ok: false, error: code, message };
    }
    await storage.db.transaction().execute(async (trx) => {
      if (options.finishFlow !== false) await repo.finishFlow(trx, flow.id, `failed:${code}`, null);
      await ledger.append(trx, {
        actor: OAUTH_ACTOR,
        action: 'oauth.consent_failed',
        tenantId: flow?.tenant_id ?? null,
        subjectId: flow?.id ?? null,
        data: { error: code, message, providerId: flow?.provider_id ?? null, startedBy: flow?.started_by ?? null },
      });
    });
    return { ok: false, error: code, message, ...(flow ? { flowId: flow.id } : {}) };
  }

  /**
   * Finishes a consent from the issuer's redirect, in the browser that started it (`cookies`: the
   * request's). Never throws for what the issuer or browser sent.
   */
  async function finish(query: URLSearchParams, cookies: Map<string, string>): Promise<ConsentOutcome> {
    const state = query.get('state');
    if (!state) return fail(undefined, 'missing_state', 'The response carries no state, so it cannot be matched to a consent Custody started.');
    // The browser first: a response carried to another browser is refused without using up the flow,
    // so someone who learned the state cannot spend the consent of the browser that started it.
    const pending = await repo.findFlowByState(storage.db, state);
    if (pending && pending.consumed_at === null && pending.browser_hash && !bindingMatches(pending.browser_hash, cookies.get(bindingCookieName(pending.id, cookieScope)))) {
      const message = 'This consent was started in another browser (or its cookie was cleared). Finish a consent in the browser that opened its link; start it again from Custody.';
      // Ledgered once per flow (and the flow left usable): repeating it from elsewhere is only counted.
      if (pending.outcome !== null) return fail(undefined, 'browser_mismatch', message);
      await repo.finishFlow(storage.db, pending.id, 'refused:browser_mismatch', null);
      return fail(pending, 'browser_mismatch', message, { finishFlow: false });
    }
    const { flow, reason } = await repo.claimFlow(storage.db, state, clock.now());
    if (!flow || reason !== 'ok') {
      const message = {
        unknown: 'This consent was not started by Custody (unknown state). Start it again from Custody.',
        replayed: 'This consent response was already used. Each consent link works once; start it again from Custody.',
        expired: 'This consent took too long and expired. Start it again from Custody.',
        ok: '',
      }[reason];
      // A replay names a flow that already ended (and was ledgered then): counted, not ledgered again.
      return fail(reason === 'replayed' ? undefined : flow, reason === 'unknown' ? 'bad_state' : reason, message);
    }
    try {
      const provider = await deps.providers.findRow(storage.db, flow.provider_id);
      const c = issuerClient(provider, await deps.providers.clientSecret(flow.provider_id), deps.requestTimeoutMs);
      let params: URLSearchParams;
      try {
        params = oauth.validateAuthResponse(c.as, c.client, query, state);
      } catch (err) {
        if (err instanceof oauth.AuthorizationResponseError) throw new ConsentFailure(err.error, err.error_description ?? `The issuer answered ${err.error}.`);
        throw new ConsentFailure('invalid_response', (err as Error).message);
      }
      const key = await vault.loadDataKey(storage.db, flow.tenant_id, flow.id);
      const verifier = vault.decrypt(key, 'pkce_verifier', flow.verifier_enc);
      let result: oauth.TokenEndpointResponse;
      try {
        const response = await oauth.authorizationCodeGrantRequest(c.as, c.client, c.auth, params, redirectUri, verifier.reveal(), c.options());
        result = await oauth.processAuthorizationCodeResponse(c.as, c.client, response, { expectedNonce: flow.nonce, requireIdToken: true });
      } catch (err) {
        if (err instanceof oauth.ResponseBodyError) throw new ConsentFailure(err.error, err.error_description ?? `The issuer refused the code (${err.error}).`);
        throw new ConsentFailure('token_exchange_failed', `The code could not be exchanged: ${(err as Error).message}`);
      }
      const meta = JSON.parse(provider.metadata ?? '{}') as ProviderMetadata;
      if (!meta.jwks_uri || !result.id_token) throw new ConsentFailure('no_id_token', 'The issuer sent no verifiable ID token, so the approver cannot be established.');
      let claims: { sub?: string; email?: unknown; email_verified?: unknown; iss?: string };
      try {
        ({ payload: claims } = await jwtVerify(result.id_token, jwksFor(meta.jwks_uri), { issuer: c.as.issuer, audience: provider.client_id }));
      } catch (err) {
        throw new ConsentFailure('invalid_id_token', `The ID token did not verify: ${(err as Error).message}`);
      }
      if (!claims.sub) throw new ConsentFailure('invalid_id_token', 'The ID token names no subject.');
      const email = verifiedEmail(claims) ?? (await emailFromUserInfo(c, claims.sub, result.access_token));
      return await store(flow, provider.id, c, result, { subject: claims.sub, email, issuer: claims.iss ?? c.as.issuer });
    } catch (err) {
      if (err instanceof ConsentFailure) return fail(flow, err.code, err.message);
      throw err;
    }
  }

  /**
   * The approver's email from the issuer's userinfo endpoint (OpenID Connect), for an ID token
   * without a verified one: the answer must name the same subject, and the email counts only if
   * the issuer says it verified it. Best effort: without an endpoint, or if it fails, the approver
   * is recorded by subject alone (the email is a label; the subject is the identity).
   */
  async function emailFromUserInfo(c: IssuerClient, subject: string, accessToken: string): Promise<string | null> {
    if (!c.as.userinfo_endpoint) return null;
    try {
      const response = await oauth.userInfoRequest(c.as, c.client, accessToken, c.options());
      return verifiedEmail(await oauth.processUserInfoResponse(c.as, c.client, subject, response));
    } catch (err) {
      deps.logger?.warn({ issuer: c.as.issuer, err: (err as Error).message }, 'userinfo request failed; the approver is recorded without an email');
      return null;
    }
  }

  /**
   * The role the consent's starter acts with against a suspension made at `suspendedAt`: theirs if
   * it was vouched for (a link made, a consent started) after the suspension, else none — a link
   * the security team made before an incident does not lift the incident's suspension.
   */
  function roleAt(flow: { started_by_role?: Role | null; authority_at?: string | null; created_at: string }, suspendedAt: string): Role | null {
    return (flow.authority_at ?? flow.created_at) >= suspendedAt ? (flow.started_by_role ?? null) : null;
  }

  /**
   * A reauthorisation by an account other than the token's: refused unless it can be shown to be
   * the same customer's — another tenant's administrator (an account holding this provider's
   * tokens for other tenants only) never; otherwise a verified email at the previous approver's own
   * (not a public mail) domain, or a link made by platform staff (admin, security), who vouch for
   * the new approver. A fresh account at the issuer proves nothing by itself.
   */
  async function otherAccountRefusal(
    work: Parameters<Parameters<TokenService['unitOfWork']>[0]>[0],
    target: { id: string; approverEmail: string | null },
    providerId: string,
    flow: { tenant_id: string; started_by_role?: Role | null },
    approver: { subject: string; email: string | null },
  ): Promise<{ code: string; message: string } | null> {
    const tenantsOfAccount = await tokens.tenantsOfSubject(work, providerId, approver.subject);
    if (tenantsOfAccount.length > 0 && !tenantsOfAccount.includes(flow.tenant_id)) {
      return { code: 'wrong_tenant_account', message: `The account that approved (${approver.subject}) belongs to another customer of this platform, not to the one that holds token ${target.id}. Sign in at the issuer as an administrator of this customer, with a new link (this one is used up).` };
    }
    const domain = (email: string | null) => (email && email.includes('@') ? email.slice(email.lastIndexOf('@') + 1).toLowerCase() : null);
    const before = domain(target.approverEmail);
    if (before && !PUBLIC_MAIL_DOMAINS.has(before) && domain(approver.email) === before) return null;
    if (flow.started_by_role === 'admin' || flow.started_by_role === 'security') return null;
    return {
      code: 'approver_not_shown',
      message: `The account that approved (${approver.subject}${approver.email ? `, ${approver.email}` : ''}) is not the one that approved token ${target.id} before, and nothing shows it belongs to the same customer${before ? ` (a verified email at ${before} would)` : ''}. Ask for a new link (this one is used up) and sign in as the previous approver, or ask the platform's security team for a link that vouches for the new approver.`,
    };
  }

  /**
   * Records what the consent produced, whole, in one unit of work: continue a suspended record of
   * the same tenant, provider and subject (reauthorisation in place), or make a new one linked to
   * an expired or revoked predecessor; the flow's outcome commits with it. The record to continue
   * is found inside that unit of work, so a concurrent change (another consent, a revocation) is
   * seen, not raced. If nothing can be recorded, the credentials the issuer has just issued are
   * revoked there, so no grant lives on outside the inventory.
   */
  async function store(
    flow: { id: string; tenant_id: string; owner: string; purpose: string | null; scopes: string; started_by: string; started_by_role?: Role | null; reauthorize_token_id?: string | null; authority_at?: string | null; created_at: string },
    providerId: string,
    client: IssuerClient,
    result: oauth.TokenEndpointResponse,
    approver: { subject: string; email: string | null; issuer: string },
  ): Promise<ConsentOutcome> {
    const at = clock.now();
    const asked = JSON.parse(flow.scopes) as string[];
    const credentials: IssuedCredentials = {
      access: new Secret(result.access_token),
      refresh: result.refresh_token ? new Secret(result.refresh_token) : null,
      accessExpiresAt: typeof result.expires_in === 'number' ? new Date(at.getTime() + result.expires_in * 1000).toISOString() : null,
      scopes: result.scope ? result.scope.split(' ').filter(Boolean) : asked,
    };
    // An issuer that grants more than was asked: kept on the record (excess_grant).
    const excess = excessScopes(asked, credentials.scopes);
    if (excess.length > 0) credentials.excessScopes = excess;
    const approval: ConsentApproval = { ...approver, startedBy: flow.started_by, flowId: flow.id };
    // What the issuer did not grant of what was asked (it may drop scopes it does not know).
    const notGranted = asked.filter((s) => !credentials.scopes.includes(s));
    try {
      const outcome = await tokens.unitOfWork(async (work) => {
        if (await deps.approverDeactivated?.(work.trx, flow.tenant_id, approver.issuer, approver.subject, approver.email)) {
          throw new NotRecordable('approver_deactivated', `The account that approved (${approver.subject}) is recorded as having left this customer (approver offboarding), so its approval cannot be accepted. Another administrator of the customer must approve, with a new link (this one is used up).`);
        }
        if (flow.reauthorize_token_id) {
          // A reauthorisation link: this record, renewed in place, by an administrator of its tenant.
          const target = await tokens.reauthorisationTarget(work, flow.reauthorize_token_id);
          if (!target || target.tenantId !== flow.tenant_id || target.providerId !== providerId) throw new NotRecordable('token_gone', 'The token this link reauthorises no longer exists.');
          if (target.state !== 'active' && target.state !== 'suspended') throw new NotRecordable('token_final', `Token ${target.id} was ${target.state} meanwhile; a ${target.state} token is final. Ask for a new consent link.`);
          if (approver.subject !== target.subject && approver.subject !== target.approverSubject) {
            const refusal = await otherAccountRefusal(work, target, providerId, flow, approver);
            if (refusal) throw new NotRecordable(refusal.code, refusal.message);
          }
          if (target.state === 'suspended') {
            const may = consentMayLift(target.suspensionKind, roleAt(flow, target.stateChangedAt), deps.suspensionPolicy);
            if (!may.ok) throw new NotLiftable(`This connection stays suspended: ${may.reason.replace('{id}', target.id)}. Nothing was changed.`);
            await tokens.reauthorise(work, target.id, approval, credentials);
          } else {
            await tokens.renewApproval(work, target.id, approval, credentials);
          }
          await repo.finishFlow(work.trx, flow.id, 'reauthorised', target.id);
          return { ok: true as const, tokenId: target.id, reauthorised: true };
        }
        const suspended = await tokens.findForSubject(flow.tenant_id, providerId, approver.subject, ['suspended'], work);
        if (suspended) {
          const may = consentMayLift(suspended.suspension_kind ?? null, roleAt(flow, suspended.state_changed_at), deps.suspensionPolicy);
          if (!may.ok) throw new NotLiftable(`This connection stays suspended: ${may.reason.replace('{id}', suspended.id)}. Nothing was changed.`);
          await tokens.reauthorise(work, suspended.id, approval, credentials);
          await repo.finishFlow(work.trx, flow.id, 'reauthorised', suspended.id);
          return { ok: true as const, tokenId: suspended.id, reauthorised: true };
        }
        const predecessor = await tokens.findForSubject(flow.tenant_id, providerId, approver.subject, ['expired', 'revoked'], work);
        const tokenId = await tokens.createFromConsent(
          work,
          { tenantId: flow.tenant_id, providerId, owner: flow.owner, purpose: flow.purpose, predecessorId: predecessor?.id ?? null },
          approval,
          credentials,
        );
        // A predecessor revoked (or expired) while suspended leaves its hold to its successor: a
        // security suspension is not lifted by revoking the token and connecting again. The new
        // record starts suspended with that kind unless this consent may lift it.
        let held: string | undefined;
        if (predecessor?.suspension_kind) {
          const may = consentMayLift(predecessor.suspension_kind, roleAt(flow, predecessor.state_changed_at), deps.suspensionPolicy);
          if (!may.ok) {
            held = `it inherits the suspension its predecessor ${predecessor.id} ended under: ${may.reason.replace('{id}', tokenId)}`;
            const row = await work.lockedRow(tokenId);
            await work.transition(row!, 'suspend', approval.startedBy, `held: ${held}`, { suspensionKind: predecessor.suspension_kind });
          }
        }
        await repo.finishFlow(work.trx, flow.id, 'created', tokenId);
        return { ok: true as const, tokenId, reauthorised: false, ...(held ? { held } : {}) };
      });
      return { ...outcome, flowId: flow.id, granted: credentials.scopes, notGranted };
    } catch (err) {
      await revokeAtIssuer(client, credentials);
      if (err instanceof NotLiftable) throw new ConsentFailure('suspension_not_liftable', `${err.message} What the issuer issued has been revoked there.`);
      if (err instanceof NotRecordable) throw new ConsentFailure(err.code, `${err.message} Nothing was changed; what the issuer issued has been revoked there.`);
      const reason = err instanceof CustodyError ? err.message : 'the record could not be written';
      throw new ConsentFailure('not_recorded', `The approval could not be recorded (${reason}); what the issuer issued has been revoked there. Start it again from Custody.`);
    }
  }

  /** Best effort: revokes credentials no record holds (refresh token first: at most issuers that ends the grant). */
  async function revokeAtIssuer(c: IssuerClient, credentials: IssuedCredentials): Promise<void> {
    if (!c.as.revocation_endpoint) return;
    for (const [value, hint] of [[credentials.refresh, 'refresh_token'], [credentials.access, 'access_token']] as const) {
      if (!value) continue;
      try {
        await oauth.processRevocationResponse(await oauth.revocationRequest(c.as, c.client, c.auth, value.reveal(), { additionalParameters: { token_type_hint: hint }, ...c.options() }));
      } catch {
        // Nothing more to do here: the failure is in the ledger, and the credential expires on its own.
      }
    }
  }

  return {
    start,
    beginFlow,
    checkScopes,
    checkPolicyScopes,
    scopesFor,
    /** For /metrics: a callback refused without naming a flow (no state, an unknown one, a replay). */
    onAnonymousRefusal(listener: (reason: string) => void) {
      refusedListeners.push(listener);
    },
    finish,
    redirectUri,
    /** `Set-Cookie` that removes a flow's browser binding once the callback has used it. */
    clearBrowserCookie: (flowId: string) => bindingClearCookie(flowId, cookieScope),
  };
}

export type ConsentService = ReturnType<typeof createConsentService>;
