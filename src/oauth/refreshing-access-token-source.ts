import type { AccessTokenSource } from '../gateway/access-token-source.ts';
import type { Clock } from '../shared/clock.ts';
import type { RefreshService } from './refresh.service.ts';

/**
 * The gateway's access tokens, refreshed shortly before they expire. While the token is fresh the
 * stored (cached) credential is used; within `skewMs` of expiry the call goes through
 * RefreshService.accessToken, which refreshes once for all concurrent callers (and, on
 * PostgreSQL, for all processes) and answers with the new credential.
 */
export function createRefreshingAccessTokenSource(deps: { stored: AccessTokenSource; refresh: RefreshService; clock: Clock; skewMs: number }): AccessTokenSource {
  return {
    async accessTokenFor(token) {
      const expiring = token.accessExpiresAt !== null && Date.parse(token.accessExpiresAt) - deps.clock.now().getTime() < deps.skewMs;
      if (!expiring) return deps.stored.accessTokenFor(token);
      deps.stored.forget(token.id);
      return deps.refresh.accessToken(token.id);
    },
    forget(tokenId) {
      deps.stored.forget(tokenId);
    },
  };
}
