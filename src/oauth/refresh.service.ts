import * as oauth from 'oauth4webapi';
import type { AlertRepo } from '../alerts/alert.repo.ts';
import { systemPrincipal } from '../auth/roles.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { ProviderService } from '../providers/provider.service.ts';
import type { Clock } from '../shared/clock.ts';
import { CustodyError } from '../shared/errors.ts';
import { Secret } from '../shared/secret.ts';
import type { Storage } from '../storage/database.ts';
import type { TokenService } from '../tokens/token.service.ts';
import type { Vault } from '../vault/vault.service.ts';
import { issuerClient, isTransient, retryAfterMs } from './oauth.client.ts';
import { createOAuthRepo } from './oauth.repo.ts';
import type { RefreshOptions, RefreshResult } from './oauth.types.ts';

export interface RefreshDeps {
  storage: Storage;
  vault: Vault;
  ledger: LedgerService;
  providers: ProviderService;
  tokens: TokenService;
  alerts: AlertRepo;
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
  const { storage, vault, ledger, tokens, clock } = deps;
  const repo = createOAuthRepo();
  const flights = new Map<string, { key: string; promise: Promise<RefreshResult> }>();
  // On PostgreSQL the cross-process lock holds a pool connection while the refresh uses another;
  // bounding concurrent refreshes (of different tokens) keeps them from exhausting the pool.
  const slots = createSemaphore(deps.maxConcurrent ?? 4);
  const counters = { refreshes: 0 };

  function expiresWithin(expiresAt: string | null, ms: number): boolean {
    return expiresAt !== null && Date.parse(expiresAt) - clock.now().getTime() < ms;
  }

  async function loadRow(tokenId: string) {
    return tokens.findVisibleRow(storage.db, systemPrincipal('oauth'), tokenId);
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

  /** The customer revoked the grant at the issuer: revoke the record (actor issuer) and alert. */
  async function revokeByIssuer(tokenId: string, detail: string): Promise<void> {
    const reason = 'the issuer refused the refresh (invalid_grant): the grant was revoked at the issuer';
    const change = await storage.db.transaction().execute(async (trx) => {
      const row = await tokens.findVisibleRow(trx, systemPrincipal('oauth'), tokenId);
      if (row.state === 'revoked' || row.state === 'expired') return null;
      const c = await tokens.transitionRow(trx, row, 'revoke', ISSUER_ACTOR, reason);
      await deps.alerts.raise(
        trx,
        { kind: 'revoked_at_issuer', severity: 'warning', tenantId: row.tenant_id, subjectId: tokenId, message: `The issuer refused to refresh ${tokenId} (invalid_grant): the customer revoked it upstream. It is now revoked in Custody.`, data: { detail } },
        clock.now(),
      );
      return c;
    });
    if (change) tokens.notify([change]);
  }

  async function refreshNow(tokenId: string, opts: RefreshOptions): Promise<RefreshResult> {
    const before = await loadRow(tokenId);
    if (before.state !== 'active' || !before.refresh_token_enc) throw new CustodyError('refresh_not_possible', `Token ${tokenId} is ${before.state}${before.refresh_token_enc ? '' : ' and has no refresh token'}: it cannot be refreshed.`);
    const granted = JSON.parse(before.granted_scopes) as string[];
    const extra = (opts.scopes ?? []).filter((s) => !granted.includes(s));
    if (extra.length > 0) throw new CustodyError('scope_not_granted', `A refresh may only narrow the granted scopes; not granted: ${extra.join(', ')}.`);

    return slots.run(() => storage.dialect.withNamedLock(storage.db, `custody:refresh:${tokenId}`, async () => {
      const row = await loadRow(tokenId);
      // Someone else (another process) refreshed while we waited for the lock: their result is ours.
      if (row.refresh_fp !== before.refresh_fp) return { tokenId, refreshed: false, rotated: false, accessExpiresAt: row.access_expires_at };
      if (row.state !== 'active' || !row.refresh_token_enc) throw new CustodyError('refresh_not_possible');
      if (opts.ifExpiringWithinMs !== undefined && !expiresWithin(row.access_expires_at, opts.ifExpiringWithinMs)) {
        return { tokenId, refreshed: false, rotated: false, accessExpiresAt: row.access_expires_at };
      }
      const key = await vault.loadDataKey(storage.db, row.tenant_id, tokenId);
      const oldRefresh = vault.decrypt(key, 'refresh_token', row.refresh_token_enc);
      let result: oauth.TokenEndpointResponse;
      try {
        result = await callIssuer(tokenId, row.provider_id, oldRefresh, opts.scopes);
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
      await storage.db.transaction().execute(async (trx) => {
        const changes = {
          access_token_enc: vault.encrypt(key, 'access_token', access),
          access_fp: vault.fingerprint(access),
          access_expires_at: accessExpiresAt,
          updated_at: at.toISOString(),
          ...(rotated ? { refresh_token_enc: vault.encrypt(key, 'refresh_token', newRefresh), refresh_fp: vault.fingerprint(newRefresh) } : {}),
          // Without narrowing, the response's scope is what the grant now holds.
          ...(!opts.scopes && responseScopes ? { granted_scopes: JSON.stringify(responseScopes) } : {}),
        };
        const q = trx.updateTable('tokens').set(changes).where('id', '=', tokenId).where('state', '=', 'active');
        const r = await (row.refresh_fp === null ? q.where('refresh_fp', 'is', null) : q.where('refresh_fp', '=', row.refresh_fp)).executeTakeFirst();
        if (Number(r.numUpdatedRows) !== 1) throw new CustodyError('illegal_transition', `Token ${tokenId} changed while it was being refreshed; read it again.`);
        await ledger.append(trx, {
          actor: 'system:refresh',
          action: 'token.refreshed',
          tenantId: row.tenant_id,
          subjectId: tokenId,
          data: { rotated, accessExpiresAt, ...(opts.scopes ? { narrowedTo: opts.scopes } : {}), ...(!opts.scopes && responseScopes ? { scopes: responseScopes } : {}) },
        });
        await repo.noteRotation(trx, row.provider_id, rotated);
        await tokens.recordUpdated(trx, tokenId);
      });
      tokens.notifyUpdated(tokenId);
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
    let row = await loadRow(tokenId);
    if (row.state !== 'active') throw new CustodyError('refresh_not_possible', `Token ${tokenId} is ${row.state}.`);
    if (expiresWithin(row.access_expires_at, deps.refreshSkewMs) && row.refresh_token_enc) {
      await refresh(tokenId, { ifExpiringWithinMs: deps.refreshSkewMs });
      row = await loadRow(tokenId);
    }
    const key = await vault.loadDataKey(storage.db, row.tenant_id, tokenId);
    return vault.decrypt(key, 'access_token', row.access_token_enc);
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
