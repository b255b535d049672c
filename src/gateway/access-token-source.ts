import type { Db } from '../storage/database.ts';
import type { Secret } from '../shared/secret.ts';
import type { Vault } from '../vault/vault.service.ts';
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
  /** Drops anything remembered about the token: it changed state, or its credential changed. */
  forget(tokenId: string): void;
}

/**
 * Decrypts the stored access token once per token and keeps it in memory until told to forget
 * (the gateway forgets on every state change and whenever the record's updatedAt moves).
 */
export function createStoredAccessTokenSource(deps: { db: Db; vault: Vault }): AccessTokenSource {
  const cache = new Map<string, Promise<Secret>>();

  async function load(token: GatewayToken): Promise<Secret> {
    const row = await deps.db.selectFrom('tokens').select(['access_token_enc']).where('id', '=', token.id).executeTakeFirstOrThrow();
    const key = await deps.vault.loadDataKey(deps.db, token.tenantId, token.id);
    return deps.vault.decrypt(key, 'access_token', row.access_token_enc);
  }

  return {
    accessTokenFor(token) {
      let pending = cache.get(token.id);
      if (!pending) {
        pending = load(token);
        cache.set(token.id, pending);
        pending.catch(() => {
          if (cache.get(token.id) === pending) cache.delete(token.id);
        });
      }
      return pending;
    },
    forget(tokenId) {
      cache.delete(tokenId);
    },
  };
}
