import { describe, expect, it } from 'vitest';
import type { GatewayToken } from './gateway.types.ts';
import { createTokenCache } from './token-cache.ts';

function token(state: GatewayToken['state'], updatedAt = 't1'): GatewayToken {
  return {
    id: 'tok_1',
    tenantId: 'ten_1',
    providerId: 'prv_1',
    state,
    workloads: ['w'],
    grantedScopes: [],
    effectiveScopes: null,
    wantedScopes: [],
    accessExpiresAt: null,
    accessIssuedAt: null,
    hasRefreshToken: false,
    updatedAt,
    provider: { id: 'prv_1', apiBaseUrls: [], scopeRules: [], unmappedCalls: 'deny', allowPrivateNetwork: false, allowPathParameters: false, updatedAt: 'p1' },
  };
}

/** A loader whose reads the test completes by hand, to stage races. */
function manualLoader() {
  const reads: { resolve: (t: GatewayToken | null) => void }[] = [];
  return {
    reads,
    load: () => new Promise<GatewayToken | null>((resolve) => reads.push({ resolve })),
  };
}

describe('the gateway token cache', () => {
  it('serves from memory within recheckMs and reads again after it', async () => {
    let now = 0;
    let loads = 0;
    const cache = createTokenCache({ load: async () => (loads++, token('active')), recheckMs: 1000, nowMs: () => now });
    await cache.get('tok_1');
    await cache.get('tok_1');
    expect(loads).toBe(1);
    now = 1000;
    await cache.get('tok_1');
    expect(loads).toBe(2);
  });

  it('shares one read among concurrent callers', async () => {
    const l = manualLoader();
    const cache = createTokenCache({ load: l.load, recheckMs: 1000 });
    const a = cache.get('tok_1');
    const b = cache.get('tok_1');
    expect(l.reads).toHaveLength(1);
    l.reads[0]!.resolve(token('active'));
    expect((await a)?.state).toBe('active');
    expect((await b)?.state).toBe('active');
  });

  it('never lets a read that started before an invalidation serve callers after it', async () => {
    const l = manualLoader();
    const cache = createTokenCache({ load: l.load, recheckMs: 60_000 });
    const before = cache.get('tok_1'); // reads the pre-revocation state
    cache.invalidate('tok_1'); // the revoke commits here
    const after = cache.get('tok_1'); // must not join the stale read
    expect(l.reads).toHaveLength(2);
    l.reads[0]!.resolve(token('active'));
    l.reads[1]!.resolve(token('revoked', 't2'));
    expect((await before)?.state).toBe('active');
    expect((await after)?.state).toBe('revoked');
    // The stale read did not enter the cache either.
    expect((await cache.get('tok_1'))?.state).toBe('revoked');
    expect(l.reads).toHaveLength(2);
  });

  it('tells credential caches to forget when a re-read shows the record changed', async () => {
    let now = 0;
    let version = 't1';
    const changed: string[] = [];
    const cache = createTokenCache({ load: async () => token('active', version), recheckMs: 10, nowMs: () => now, onChanged: (id) => changed.push(id) });
    await cache.get('tok_1');
    now = 20;
    await cache.get('tok_1');
    expect(changed).toEqual([]);
    version = 't2';
    now = 40;
    await cache.get('tok_1');
    expect(changed).toEqual(['tok_1']);
  });
});
