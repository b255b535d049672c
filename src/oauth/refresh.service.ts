import * as oauth from 'oauth4webapi';
import type { AlertService } from '../alerts/alert.service.ts';
import type { ProviderService } from '../providers/provider.service.ts';
import type { Clock } from '../shared/clock.ts';
import type { Logger } from '../shared/logger.ts';
import { CustodyError, isCustodyError } from '../shared/errors.ts';
import { Secret } from '../shared/secret.ts';
import type { Storage } from '../storage/database.ts';
import type { TokenService } from '../tokens/token.service.ts';
import { issuerClient, isTransient, retryAfterMs } from './oauth.client.ts';
import type { TokenRefreshView } from '../tokens/token.operations.ts';
import type { RefreshNarrowing, RefreshOptions, RefreshResult } from './oauth.types.ts';

export interface RefreshDeps {
  storage: Storage;
  providers: ProviderService;
  tokens: TokenService;
  alerts: AlertService;
  clock: Clock;
  requestTimeoutMs: number;
  /** Refresh when the access token has less than this left. */
  refreshSkewMs: number;
  /** Attempts for transient failures (network, timeout, 429, 5xx), with exponential backoff from retryBaseMs. */
  attempts: number;
  retryBaseMs: number;
  /** Refreshes of different tokens in flight at once in this process (default 4). */
  maxConcurrent?: number;
  /** Where a refresh for age that failed (the older access token still in use) is said. */
  logger?: Logger;
  /** The tenant's policy on narrowing scopes at refresh (governance); absent: never narrowed. */
  narrowing?: (tenantId: string) => Promise<RefreshNarrowing>;
}

const DAY_MS = 86_400_000;

export const ISSUER_ACTOR = 'issuer';

class RefusedByIssuer extends Error {}

/**
 * Refresh with refresh-token rotation. Refresh is single-flight per token: issuers that rotate
 * refresh tokens invalidate the old one on first use (and some revoke the whole grant when an old
 * one is replayed), so two concurrent refreshes of one token would destroy it. In a process,
 * callers share one promise; across processes a named lock (StorageDialect.withNamedLock) makes
 * the second refresher re-read and find the work done. The new pair is written with a compare on
 * the old refresh-token fingerprint, in one transaction with its ledger entry.
 */
export function createRefreshService(deps: RefreshDeps) {
  const { storage, tokens, clock } = deps;
  const flights = new Map<string, { key: string; promise: Promise<RefreshResult> }>();
  // On PostgreSQL the cross-process lock holds a pool connection while the refresh uses another;
  // bounding concurrent refreshes (of different tokens) keeps them from exhausting the pool.
  const slots = createSemaphore(deps.maxConcurrent ?? 4);
  const counters = { refreshes: 0 };

  function expiresWithin(expiresAt: string | null, ms: number): boolean {
    return expiresAt !== null && Date.parse(expiresAt) - clock.now().getTime() < ms;
  }

  function issuedBefore(issuedAt: string | null, ms: number): boolean {
    return issuedAt !== null && clock.now().getTime() - Date.parse(issuedAt) >= ms;
  }

  /**
   * Scope narrowing (policy `narrowScopesOnRefresh`): the granted scopes used through the gateway
   * within the window, plus the ones always kept. Undefined when nothing would be dropped, when the
   * grant has been held for less than the window, and when nothing would remain (an empty scope would make the issuer answer with its defaults).
   */
  async function narrowedScopes(view: TokenRefreshView): Promise<string[] | undefined> {
    if (!deps.narrowing) return undefined;
    const policy = await deps.narrowing(view.tenantId);
    if (!policy.narrow) return undefined;
    const since = new Date(clock.now().getTime() - policy.windowDays * DAY_MS).toISOString();
    // Use is judged over a whole window: a grant held for less has not had the chance to use its scopes.
    if (view.heldSince > since) return undefined;
    const kept = view.grantedScopes.filter((s) => policy.keep.includes(s) || (view.scopeLastUsed[s] !== undefined && view.scopeLastUsed[s]! >= since));
    if (kept.length === view.grantedScopes.length || kept.length === 0) return undefined;
    return kept;
  }

  function loadView(tokenId: string) {
    return tokens.refreshView(tokenId);
  }

  async function callIssuer(tokenId: string, providerId: string, refreshToken: Secret, scopes: string[] | undefined): Promise<oauth.TokenEndpointResponse> {
    const provider = await deps.providers.findRow(storage.db, providerId);
    const c = issuerClient(provider, await deps.providers.clientSecret(providerId), deps.requestTimeoutMs);
    let lastError: unknown;
    // A timeout or dropped connection leaves it unknown whether the issuer rotated the refresh
    // token; a later invalid_grant then proves nothing about the customer, so it is not a revocation.
    let ambiguous = false;
    for (let attempt = 1; attempt <= deps.attempts; attempt++) {
      let waitMs = deps.retryBaseMs * 2 ** (attempt - 1);
      try {
        const response = await oauth.refreshTokenGrantRequest(c.as, c.client, c.auth, refreshToken.reveal(), {
          ...(scopes ? { additionalParameters: { scope: scopes.join(' ') } } : {}),
          ...c.options(),
        });
        if (response.status === 429 || response.status >= 500) {
          waitMs = Math.max(waitMs, retryAfterMs(response.headers.get('retry-after'), clock.now()) ?? 0);
          throw new oauth.ResponseBodyError('issuer unavailable', { cause: { error: 'temporarily_unavailable' }, response });
        }
        counters.refreshes++;
        return await oauth.processRefreshTokenResponse(c.as, c.client, response);
      } catch (err) {
        if (err instanceof oauth.ResponseBodyError && err.error === 'invalid_grant') {
          if (ambiguous) throw new CustodyError('refresh_failed', `The issuer refused the refresh of ${tokenId} after an attempt whose outcome is unknown (timeout); the customer may need to approve it again.`);
          throw new RefusedByIssuer(err.error_description ?? 'invalid_grant');
        }
        if (!(err instanceof oauth.ResponseBodyError)) ambiguous = true;
        if (!isTransient(err) || attempt === deps.attempts) {
          lastError = err;
          break;
        }
        lastError = err;
        await new Promise((r) => setTimeout(r, Math.min(waitMs, 30_000)));
      }
    }
    throw new CustodyError('refresh_failed', `The issuer did not complete the refresh of ${tokenId}: ${(lastError as Error)?.message ?? 'unknown error'}. Try again later.`);
  }

  /** The customer revoked the grant at the issuer: revoke the record (actor issuer) and alert, together. */
  async function revokeByIssuer(tokenId: string, detail: string): Promise<void> {
    const reason = 'the issuer refused the refresh (invalid_grant): the grant was revoked at the issuer';
    await tokens.unitOfWork(async (work) => {
      const change = await tokens.revokeByIssuer(work, tokenId, ISSUER_ACTOR, reason);
      if (!change) return;
      await deps.alerts.raise(
        work.trx,
        { kind: 'revoked_at_issuer', severity: 'medium', tenantId: change.tenantId, subjectId: tokenId, message: `The issuer refused to refresh ${tokenId} (invalid_grant): the customer revoked it upstream. It is now revoked in Custody.`, data: { detail } },
        clock.now(),
      );
    });
  }

  async function refreshNow(tokenId: string, opts: RefreshOptions): Promise<RefreshResult> {
    const before = await loadView(tokenId);
    if (before.state !== 'active' || !before.hasRefreshToken) throw new CustodyError('refresh_not_possible', `Token ${tokenId} is ${before.state}${before.hasRefreshToken ? '' : ' and has no refresh token'}: it cannot be refreshed.`);
    const granted = before.grantedScopes;
    const extra = (opts.scopes ?? []).filter((s) => !granted.includes(s));
    if (extra.length > 0) throw new CustodyError('scope_not_granted', `A refresh may only narrow the granted scopes; not granted: ${extra.join(', ')}.`);
    // Asked for by the caller, or by the tenant's policy (narrowScopesOnRefresh).
    const byPolicy = opts.scopes ? undefined : await narrowedScopes(before);
    const requested = opts.scopes ?? byPolicy;

    return slots.run(() => storage.dialect.withNamedLock(storage.db, `custody:refresh:${tokenId}`, async () => {
      const row = await loadView(tokenId);
      // Someone else (another process) refreshed while we waited for the lock: their result is ours.
      if (row.refreshFingerprint !== before.refreshFingerprint) return { tokenId, refreshed: false, rotated: false, accessExpiresAt: row.accessExpiresAt };
      if (row.state !== 'active' || !row.hasRefreshToken) throw new CustodyError('refresh_not_possible');
      const conditional = opts.ifExpiringWithinMs !== undefined || opts.ifOlderThanMs !== undefined;
      const due = (opts.ifExpiringWithinMs !== undefined && expiresWithin(row.accessExpiresAt, opts.ifExpiringWithinMs)) || (opts.ifOlderThanMs !== undefined && issuedBefore(row.accessIssuedAt, opts.ifOlderThanMs));
      if (conditional && !due) {
        return { tokenId, refreshed: false, rotated: false, accessExpiresAt: row.accessExpiresAt };
      }
      const oldRefresh = (await tokens.revealCredentials(tokenId)).refresh;
      if (!oldRefresh) throw new CustodyError('refresh_not_possible');
      let result: oauth.TokenEndpointResponse;
      try {
        result = await callIssuer(tokenId, row.providerId, oldRefresh, requested);
      } catch (err) {
        if (err instanceof RefusedByIssuer) {
          await revokeByIssuer(tokenId, err.message);
          throw new CustodyError('refresh_refused');
        }
        throw err;
      }
      const at = clock.now();
      const access = new Secret(result.access_token);
      const newRefresh = result.refresh_token ? new Secret(result.refresh_token) : null;
      const rotated = newRefresh !== null && newRefresh.reveal() !== oldRefresh.reveal();
      const accessExpiresAt = typeof result.expires_in === 'number' ? new Date(at.getTime() + result.expires_in * 1000).toISOString() : null;
      const responseScopes = result.scope ? result.scope.split(' ').filter(Boolean) : null;
      // What the new access token holds: the response's scope, or (RFC 6749 §5.1: omitted means
      // as requested) what was asked for; without narrowing and without a scope, the whole grant.
      // The grant itself is what the customer approved and a refresh never changes it.
      const effectiveScopes = responseScopes ?? requested ?? null;
      await tokens.unitOfWork(async (work) => {
        await tokens.replaceCredentials(work, tokenId, row.refreshFingerprint, { access, refresh: rotated ? newRefresh : null, accessExpiresAt, effectiveScopes }, {
          actor: 'system:refresh',
          data: {
            rotated,
            accessExpiresAt,
            ...(requested ? { narrowedTo: requested, narrowedBy: byPolicy ? 'policy' : 'request', dropped: row.grantedScopes.filter((s) => !requested.includes(s)) } : {}),
            ...(effectiveScopes ? { effectiveScopes } : {}),
          },
        });
        await deps.providers.noteRefreshRotation(work.trx, row.providerId, rotated);
      });
      return { tokenId, refreshed: true, rotated, accessExpiresAt };
    }));
  }

  /** One refresh per token at a time; concurrent callers asking for the same scopes share it. */
  function refresh(tokenId: string, opts: RefreshOptions = {}): Promise<RefreshResult> {
    const key = `${opts.scopes ? [...opts.scopes].sort().join(' ') : '*'}|${opts.ifExpiringWithinMs ?? ''}|${opts.ifOlderThanMs ?? ''}`;
    const current = flights.get(tokenId);
    if (current && current.key === key) return current.promise;
    const after = current ? current.promise.catch(() => undefined) : Promise.resolve();
    const promise = after.then(() => refreshNow(tokenId, opts));
    flights.set(tokenId, { key, promise });
    const clear = () => {
      if (flights.get(tokenId)?.promise === promise) flights.delete(tokenId);
    };
    promise.then(clear, clear);
    return promise;
  }

  /**
   * The access token to attach to a call, refreshed first when it expires within the skew, or
   * (short-lived access, `maxAgeMs`) once it is that old. For the gateway; the secret never leaves
   * the process.
   */
  /**
   * Tokens whose refresh for age alone failed, and until when (Date.now()) no call tries again: an
   * issuer that is down must not make every call wait for a refresh's attempts. Bounded (cleared
   * when full: the worst case is one more attempt per token).
   */
  const ageRefreshPausedUntil = new Map<string, number>();
  const AGE_REFRESH_PAUSE_MS = 60_000;

  async function accessToken(tokenId: string, opts: { maxAgeMs?: number | null } = {}): Promise<Secret> {
    const row = await loadView(tokenId);
    if (row.state !== 'active') throw new CustodyError('refresh_not_possible', `Token ${tokenId} is ${row.state}.`);
    const expiring = expiresWithin(row.accessExpiresAt, deps.refreshSkewMs);
    const maxAgeMs = opts.maxAgeMs ?? undefined;
    const paused = (ageRefreshPausedUntil.get(tokenId) ?? 0) > Date.now();
    const aged = maxAgeMs !== undefined && !paused && issuedBefore(row.accessIssuedAt, maxAgeMs);
    if ((expiring || aged) && row.hasRefreshToken) {
      try {
        await refresh(tokenId, { ifExpiringWithinMs: deps.refreshSkewMs, ...(maxAgeMs !== undefined && !paused ? { ifOlderThanMs: maxAgeMs } : {}) });
        ageRefreshPausedUntil.delete(tokenId);
      } catch (err) {
        // Refreshed only for its age, the current access token still works: an issuer that is
        // briefly unavailable does not stop the calls, and calls stop trying for a minute.
        if (expiring || !isCustodyError(err) || err.code !== 'refresh_failed') throw err;
        if (ageRefreshPausedUntil.size >= 10_000) ageRefreshPausedUntil.clear();
        ageRefreshPausedUntil.set(tokenId, Date.now() + AGE_REFRESH_PAUSE_MS);
        deps.logger?.warn({ tokenId, err: err.message }, 'refresh for age (maxAccessTokenTtlMinutes) failed: the older access token is still used; calls try again in a minute');
      }
    }
    return tokens.revealAccessToken(tokenId);
  }

  return { refresh, accessToken, counters };
}

function createSemaphore(size: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  return {
    async run<T>(fn: () => Promise<T>): Promise<T> {
      if (active >= size) await new Promise<void>((resolve) => waiting.push(resolve));
      else active++;
      try {
        return await fn();
      } finally {
        const next = waiting.shift();
        if (next) next();
        else active--;
      }
    },
  };
}

export type RefreshService = ReturnType<typeof createRefreshService>;
