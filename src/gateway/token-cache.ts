import type { ScopeRule } from '../providers/provider.types.ts';
import type { Db } from '../storage/database.ts';
import type { TokenState } from '../tokens/token.lifecycle.ts';
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
  invalidateAll(): void;
  readonly size: number;
}

export async function loadGatewayToken(db: Db, tokenId: string): Promise<GatewayToken | null> {
  const r = await db
    .selectFrom('tokens as t')
    .innerJoin('providers as p', 'p.id', 't.provider_id')
    .select([
      't.id',
      't.tenant_id',
      't.provider_id',
      't.state',
      't.workloads',
      't.granted_scopes',
      't.access_expires_at',
      't.updated_at',
      'p.api_base_urls',
      'p.scope_rules',
      'p.unmapped_calls',
      'p.allow_private_network',
      'p.updated_at as p_updated_at',
    ])
    .where('t.id', '=', tokenId)
    .executeTakeFirst();
  if (!r) return null;
  return {
    id: r.id,
    tenantId: r.tenant_id,
    providerId: r.provider_id,
    state: r.state as TokenState,
    workloads: JSON.parse(r.workloads) as string[],
    grantedScopes: JSON.parse(r.granted_scopes) as string[],
    accessExpiresAt: r.access_expires_at,
    updatedAt: r.updated_at,
    provider: {
      id: r.provider_id,
      apiBaseUrls: JSON.parse(r.api_base_urls) as string[],
      scopeRules: JSON.parse(r.scope_rules) as ScopeRule[],
      unmappedCalls: r.unmapped_calls === 'allow' ? 'allow' : 'deny',
      allowPrivateNetwork: r.allow_private_network === 1,
      updatedAt: r.p_updated_at,
    },
  };
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
