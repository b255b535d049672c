import type { ProviderAccessView } from '../providers/provider.types.ts';
import type { TokenAccessView } from '../tokens/token.operations.ts';
import type { GatewayToken } from './gateway.types.ts';

/**
 * The gateway's view of tokens, cached so a call costs no database read. Invariants:
 * - an entry is used for at most `recheckMs` after it was read; then it is read again (the
 *   fallback that bounds how long a lost notification can keep a revoked token usable);
 * - `invalidate` drops the entry and any read in flight, and a read that started before an
 *   invalidation never enters the cache, so a call that starts after `invalidate` returns always
 *   reads the committed state.
 */
export interface TokenCache {
  get(tokenId: string): Promise<GatewayToken | null>;
  /** The cached view when it is fresh enough to use, without waiting; undefined when it must be read. */
  peek(tokenId: string): GatewayToken | null | undefined;
  invalidate(tokenId: string): void;
  /** Drops every token of a provider (the provider changed what the gateway allows). */
  invalidateProvider(providerId: string): void;
  invalidateAll(): void;
  readonly size: number;
}

/** What the cache reads a token's view through: the token's and its provider's owners. */
export interface GatewayViewSources {
  token(tokenId: string): Promise<TokenAccessView | null>;
  provider(providerId: string): Promise<ProviderAccessView | null>;
}

/** The gateway's view of one token: the token's access view with its provider's. */
export async function loadGatewayToken(sources: GatewayViewSources, tokenId: string): Promise<GatewayToken | null> {
  const token = await sources.token(tokenId);
  if (!token) return null;
  const provider = await sources.provider(token.providerId);
  return provider ? { ...token, provider } : null;
}

export function createTokenCache(deps: {
  load: (tokenId: string) => Promise<GatewayToken | null>;
  recheckMs: number;
  maxEntries?: number;
  nowMs?: () => number;
  /** Called when a token's record changed or was invalidated (so credential caches can forget). */
  onChanged?: (tokenId: string) => void;
}): TokenCache {
  const nowMs = deps.nowMs ?? (() => performance.now());
  const maxEntries = deps.maxEntries ?? 100_000;
  const entries = new Map<string, { token: GatewayToken | null; readAt: number }>();
  const inflight = new Map<string, Promise<GatewayToken | null>>();
  let epoch = 0;

  function read(tokenId: string): Promise<GatewayToken | null> {
    const startedEpoch = epoch;
    const previous = entries.get(tokenId)?.token ?? null;
    const pending = deps.load(tokenId).then(
      (token) => {
        if (inflight.get(tokenId) === pending) inflight.delete(tokenId);
        if (epoch === startedEpoch) {
          if (entries.size >= maxEntries && !entries.has(tokenId)) entries.delete(entries.keys().next().value!);
          entries.set(tokenId, { token, readAt: nowMs() });
          if (previous && (!token || token.updatedAt !== previous.updatedAt)) deps.onChanged?.(tokenId);
        }
        return token;
      },
      (err: unknown) => {
        if (inflight.get(tokenId) === pending) inflight.delete(tokenId);
        throw err;
      },
    );
    inflight.set(tokenId, pending);
    return pending;
  }

  function fresh(tokenId: string) {
    const hit = entries.get(tokenId);
    return hit && nowMs() - hit.readAt < deps.recheckMs ? hit : undefined;
  }

  return {
    get(tokenId) {
      const hit = fresh(tokenId);
      if (hit) return Promise.resolve(hit.token);
      return inflight.get(tokenId) ?? read(tokenId);
    },
    peek(tokenId) {
      return fresh(tokenId)?.token;
    },
    invalidate(tokenId) {
      epoch++;
      entries.delete(tokenId);
      inflight.delete(tokenId);
      deps.onChanged?.(tokenId);
    },
    invalidateProvider(providerId) {
      epoch++;
      inflight.clear();
      for (const [id, entry] of entries) {
        if (entry.token?.providerId !== providerId) continue;
        entries.delete(id);
        deps.onChanged?.(id);
      }
    },
    invalidateAll() {
      epoch++;
      for (const id of entries.keys()) deps.onChanged?.(id);
      entries.clear();
      inflight.clear();
    },
    get size() {
      return entries.size;
    },
  };
}
