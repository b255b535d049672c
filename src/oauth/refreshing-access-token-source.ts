import type { AccessTokenSource } from '../gateway/access-token-source.ts';
import type { GatewayToken } from '../gateway/gateway.types.ts';
import { nowMs, type Clock } from '../shared/clock.ts';
import type { RefreshService } from './refresh.service.ts';

/**
 * The gateway's access tokens, refreshed shortly before they expire. While the token is fresh the
 * stored (cached) credential is used; within `skewMs` of expiry the call goes through
 * RefreshService.accessToken, which refreshes once for all concurrent callers (and, on
 * PostgreSQL, for all processes) and answers with the new credential.
 */
export function createRefreshingAccessTokenSource(deps: { stored: AccessTokenSource; refresh: RefreshService; clock: Clock; skewMs: number }): AccessTokenSource {
  // Expiry times by token view (the gateway's cached views are replaced whenever the record changes).
  const expiries = new WeakMap<GatewayToken, number>();
  function expiring(token: GatewayToken): boolean {
    if (token.accessExpiresAt === null) return false;
    let at = expiries.get(token);
    if (at === undefined) expiries.set(token, (at = Date.parse(token.accessExpiresAt)));
    return at - nowMs(deps.clock) < deps.skewMs;
  }
  return {
    async accessTokenFor(token) {
      if (!expiring(token)) return deps.stored.accessTokenFor(token);
      deps.stored.forget(token.id);
      return deps.refresh.accessToken(token.id);
    },
    peek(token) {
      return expiring(token) ? undefined : deps.stored.peek(token);
    },
    forget(tokenId) {
      deps.stored.forget(tokenId);
    },
  };
}
