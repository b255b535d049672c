import { describe, expect, it } from 'vitest';
import { decideCall } from './gateway.policy.ts';
import type { GatewayToken } from './gateway.types.ts';

describe('the gateway decision on narrowed scopes', () => {
  const token = (effectiveScopes: string[] | null): GatewayToken => ({
    id: 'tok_1',
    tenantId: 'ten_1',
    providerId: 'prv_1',
    state: 'active',
    workloads: ['w'],
    grantedScopes: ['api:read', 'api:write'],
    effectiveScopes,
    wantedScopes: [],
    accessExpiresAt: null,
    accessIssuedAt: null,
    hasRefreshToken: true,
    updatedAt: 't',
    provider: { id: 'prv_1', apiBaseUrls: ['https://api.example.com/'], scopeRules: [{ method: 'POST', pathPattern: '/items', scope: 'api:write' }, { method: 'GET', pathPattern: '/items', scope: 'api:read' }, { method: 'GET', pathPattern: '/admin', scope: 'api:admin' }], unmappedCalls: 'deny', allowPrivateNetwork: false, allowPathParameters: false, updatedAt: 'p' },
  });
  const call = (method: string, rawPath: string) => ({ tenantId: 'ten_1', workload: 'w', method, rawPath, rawQuery: '' });

  it('refuses a granted scope the live access token does not hold with scope_narrowed, and decides on effective scopes', () => {
    expect(decideCall(token(['api:read']), call('POST', '/items'))).toMatchObject({ ok: false, code: 'scope_narrowed', scope: 'api:write' });
    expect(decideCall(token(['api:read']), call('GET', '/items'))).toMatchObject({ ok: true, scope: 'api:read' });
    expect(decideCall(token(null), call('POST', '/items'))).toMatchObject({ ok: true });
    // Not granted at all stays scope_not_granted.
    expect(decideCall(token(['api:read']), call('GET', '/admin'))).toMatchObject({ ok: false, code: 'scope_not_granted' });
  });
});
