import type { AccessTokenSource } from '../gateway/access-token-source.ts';
import type { GatewayToken } from '../gateway/gateway.types.ts';
import { nowMs, type Clock } from '../shared/clock.ts';
import type { RefreshService } from './refresh.service.ts';

/**
 * The gateway's access tokens, refreshed shortly before they expire, and (short-lived access,
 * policy `maxAccessTokenTtlMinutes`) before they reach the policy's age even when the issuer's
 * token lives longer. While the token is fresh the stored (cached) credential is used; once due
 * the call goes through RefreshService.accessToken, which refreshes once for all concurrent
 * callers (and, on PostgreSQL, for all processes) and answers with the new credential.
 */
export function createRefreshingAccessTokenSource(deps: {
  stored: AccessTokenSource;
  refresh: RefreshService;
  clock: Clock;
  skewMs: number;
  /**
   * The longest a tenant's access token may be used (ms), or null: no limit. Asked on every call,
   * so it must answer at once (the policy service's latest snapshot).
   */
  maxAccessAgeMs?: (tenantId: string) => number | null;
}): AccessTokenSource {
  // Expiry and issue times by token view (the gateway's cached views are replaced whenever the record changes).
  const times = new WeakMap<GatewayToken, { expiresAt: number | null; issuedAt: number | null }>();
  function timesOf(token: GatewayToken) {
    let t = times.get(token);
    if (!t) times.set(token, (t = { expiresAt: token.accessExpiresAt === null ? null : Date.parse(token.accessExpiresAt), issuedAt: token.accessIssuedAt === null ? null : Date.parse(token.accessIssuedAt) }));
    return t;
  }
  /** The age at which a token is refreshed: a little before the policy's limit (at most the skew, at most a quarter of it). */
  function refreshAge(token: GatewayToken): number | null {
    if (!deps.maxAccessAgeMs || !token.hasRefreshToken || token.accessIssuedAt === null) return null;
    const max = deps.maxAccessAgeMs(token.tenantId);
    return max === null ? null : max - Math.min(deps.skewMs, max / 4);
  }
  function due(token: GatewayToken): boolean {
    const t = timesOf(token);
    const now = nowMs(deps.clock);
    if (t.expiresAt !== null && t.expiresAt - now < deps.skewMs) return true;
    const age = refreshAge(token);
    return age !== null && t.issuedAt !== null && now - t.issuedAt >= age;
  }
  return {
    async accessTokenFor(token) {
      if (!due(token)) return deps.stored.accessTokenFor(token);
      deps.stored.forget(token.id);
      return deps.refresh.accessToken(token.id, { maxAgeMs: refreshAge(token) });
    },
    peek(token) {
      return due(token) ? undefined : deps.stored.peek(token);
    },
    forget(tokenId) {
      deps.stored.forget(tokenId);
    },
  };
}
