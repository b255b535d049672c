import type { Secret } from '../shared/secret.ts';
import type { GatewayToken } from './gateway.types.ts';

/**
 * Where the gateway gets the access token to attach. Today: the stored (encrypted) access token.
 * A refreshing implementation (src/oauth) plugs in behind the same interface: it may refresh
 * before answering, single-flight for all concurrent callers, and must call nothing on the
 * gateway back.
 */
export interface AccessTokenSource {
  /** The access token to attach to this call. Throws a CustodyError when none can be had. */
  accessTokenFor(token: GatewayToken): Promise<Secret>;
  /**
   * The same answer without waiting, when it is already at hand (loaded, and fresh); undefined
   * otherwise (then call accessTokenFor). The gateway asks on every call: a promise per call is
   * avoidable work on its hot path.
   */
  peek(token: GatewayToken): Secret | undefined;
  /** Drops anything remembered about the token: it changed state, or its credential changed. */
  forget(tokenId: string): void;
}

/**
 * Decrypts the stored access token (through the token's owner, `tokens.revealAccessToken`) once per token and keeps it in memory until told to forget
 * (the gateway forgets on every state change and whenever the record's updatedAt moves).
 */
export function createStoredAccessTokenSource(deps: { reveal: (tokenId: string) => Promise<Secret> }): AccessTokenSource {
  const cache = new Map<string, Promise<Secret>>();
  // The settled ones, for peek.
  const loaded = new Map<string, Secret>();

  function load(token: GatewayToken): Promise<Secret> {
    return deps.reveal(token.id);
  }

  return {
    accessTokenFor(token) {
      let pending = cache.get(token.id);
      if (!pending) {
        const loading = load(token);
        pending = loading;
        cache.set(token.id, loading);
        loading.then(
          // Only while still current: a forget that came meanwhile must not be undone.
          (secret) => {
            if (cache.get(token.id) === loading) loaded.set(token.id, secret);
          },
          () => {
            if (cache.get(token.id) === loading) cache.delete(token.id);
          },
        );
      }
      return pending;
    },
    peek(token) {
      return loaded.get(token.id);
    },
    forget(tokenId) {
      cache.delete(tokenId);
      loaded.delete(tokenId);
    },
  };
}
