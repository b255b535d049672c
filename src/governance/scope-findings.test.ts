import { describe, expect, it } from 'vitest';
import type { TokenFacts } from '../tokens/token.facts.ts';
import { tokenFindings, type Directory } from './finding.rules.ts';
import { defaultPolicy } from './policy.rules.ts';

const NOW = new Date('2026-11-28T08:00:00Z');
const directory: Directory = { ownerActive: () => true, workloadStatus: () => 'active' };

function facts(over: Partial<TokenFacts> = {}): TokenFacts {
  return {
    id: 'tok_1',
    tenantId: 'ten_1',
    providerId: 'prv_1',
    state: 'active',
    owner: 'team',
    approverSubject: 'alice',
    approverEmail: null,
    approverActive: true,
    approvedAt: '2026-11-27T08:00:00Z',
    purpose: 'sync',
    reviewDueAt: null,
    issuedAt: '2026-11-27T08:00:00Z',
    lastUsedAt: '2026-11-28T07:00:00Z',
    usageChannel: 'gateway',
    grantedScopes: ['openid', 'api:read', 'api:write'],
    excessScopes: [],
    effectiveScopes: null,
    wantedScopes: [],
    scopeLastUsed: {},
    workloads: [],
    workloadLastUsed: {},
    servedTenants: [],
    accessIssuedAt: null,
    accessExpiresAt: null,
    refreshExpiresAt: null,
    hasRefreshToken: true,
    upstreamRevocation: 'rfc7009',
    revocationVerified: true,
    ...over,
  } as TokenFacts;
}
const of = (t: TokenFacts, type: string) => tokenFindings(t, defaultPolicy(90), directory, NOW).find((f) => f.type === type);

describe('scope findings (rules)', () => {
  it('raises excess_grant naming the extra scopes the token still holds', () => {
    expect(of(facts(), 'excess_grant')).toBeUndefined();
    const f = of(facts({ excessScopes: ['api:write', 'gone'] }), 'excess_grant');
    expect(f).toMatchObject({ severity: 'medium', reasons: [{ code: 'excess_grant', data: { scopes: ['api:write'] } }] });
  });

  it('raises scope_narrowed for a wanted scope the live access token lacks, offering reauthorisation, and clears once it holds it again', () => {
    const narrowed = facts({ effectiveScopes: ['openid', 'api:read'], wantedScopes: ['api:write'] });
    const f = of(narrowed, 'scope_narrowed');
    expect(f).toMatchObject({ severity: 'low', reasons: [{ code: 'scope_narrowed', data: { scopes: ['api:write'] } }] });
    expect(f!.reasons[0]!.message).toContain('POST /v1/tokens/tok_1/reauthorization');
    expect(of({ ...narrowed, effectiveScopes: null }, 'scope_narrowed')).toBeUndefined();
    expect(of({ ...narrowed, effectiveScopes: ['openid', 'api:read', 'api:write'] }, 'scope_narrowed')).toBeUndefined();
    // A wanted scope no longer granted is not a narrowing (a reauthorisation dropped it).
    expect(of({ ...narrowed, grantedScopes: ['openid', 'api:read'] }, 'scope_narrowed')).toBeUndefined();
  });
});
