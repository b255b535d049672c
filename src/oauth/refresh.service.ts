import * as oauth from 'oauth4webapi';
import type { AlertService } from '../alerts/alert.service.ts';
import type { ProviderService } from '../providers/provider.service.ts';
import type { Clock } from '../shared/clock.ts';
import { CustodyError } from '../shared/errors.ts';
import { Secret } from '../shared/secret.ts';
import type { Storage } from '../storage/database.ts';
import type { TokenService } from '../tokens/token.service.ts';
import { issuerClient, isTransient, retryAfterMs } from './oauth.client.ts';
import type { RefreshOptions, RefreshResult } from './oauth.types.ts';

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
}

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
        { kind: 'revoked_at_issuer', severity: 'warning', tenantId: change.tenantId, subjectId: tokenId, message: `The issuer refused to refresh ${tokenId} (invalid_grant): the customer revoked it upstream. It is now revoked in Custody.`, data: { detail } },
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

    return slots.run(() => storage.dialect.withNamedLock(storage.db, `custody:refresh:${tokenId}`, async () => {
      const row = await loadView(tokenId);
      // Someone else (another process) refreshed while we waited for the lock: their result is ours.
      if (row.refreshFingerprint !== before.refreshFingerprint) return { tokenId, refreshed: false, rotated: false, accessExpiresAt: row.accessExpiresAt };
      if (row.state !== 'active' || !row.hasRefreshToken) throw new CustodyError('refresh_not_possible');
      if (opts.ifExpiringWithinMs !== undefined && !expiresWithin(row.accessExpiresAt, opts.ifExpiringWithinMs)) {
        return { tokenId, refreshed: false, rotated: false, accessExpiresAt: row.accessExpiresAt };
      }
      const oldRefresh = (await tokens.revealCredentials(tokenId)).refresh;
      if (!oldRefresh) throw new CustodyError('refresh_not_possible');
      let result: oauth.TokenEndpointResponse;
      try {
        result = await callIssuer(tokenId, row.providerId, oldRefresh, opts.scopes);
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
      await tokens.unitOfWork(async (work) => {
        // Without narrowing, the response's scope is what the grant now holds.
        const scopes = !opts.scopes && responseScopes ? responseScopes : null;
        await tokens.replaceCredentials(work, tokenId, row.refreshFingerprint, { access, refresh: rotated ? newRefresh : null, accessExpiresAt, scopes }, {
          actor: 'system:refresh',
          data: { rotated, accessExpiresAt, ...(opts.scopes ? { narrowedTo: opts.scopes } : {}), ...(scopes ? { scopes } : {}) },
        });
        await deps.providers.noteRefreshRotation(work.trx, row.providerId, rotated);
      });
      return { tokenId, refreshed: true, rotated, accessExpiresAt };
    }));
  }

  /** One refresh per token at a time; concurrent callers asking for the same scopes share it. */
  function refresh(tokenId: string, opts: RefreshOptions = {}): Promise<RefreshResult> {
    const key = `${opts.scopes ? [...opts.scopes].sort().join(' ') : '*'}|${opts.ifExpiringWithinMs ?? ''}`;
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
   * The access token to attach to a call, refreshed first when it expires within the skew. For
   * the gateway; the secret never leaves the process.
   */
  async function accessToken(tokenId: string): Promise<Secret> {
    const row = await loadView(tokenId);
    if (row.state !== 'active') throw new CustodyError('refresh_not_possible', `Token ${tokenId} is ${row.state}.`);
    if (expiresWithin(row.accessExpiresAt, deps.refreshSkewMs) && row.hasRefreshToken) {
      await refresh(tokenId, { ifExpiringWithinMs: deps.refreshSkewMs });
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
