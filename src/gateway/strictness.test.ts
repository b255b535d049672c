import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { startGatewayFixture, type GatewayFixture } from '../../test/support/gateway-fixture.ts';

/**
 * What the gateway authorises is what the provider gets: a path parameter, a method override or
 * a URL-rewrite header cannot turn a call the token's scope allows into one it does not.
 * Rules: GET /items/** needs `read`, anything under /admin needs `admin`; the token holds `read`.
 */
describeEachDatabase('gateway strictness', (kind) => {
  let f: GatewayFixture;
  let token: string;
  let lenientToken: string;
  const rules = [
    { method: 'GET' as const, pathPattern: '/items/**', scope: 'read' },
    { method: '*' as const, pathPattern: '/admin/**', scope: 'admin' },
  ];

  beforeAll(async () => {
    f = await startGatewayFixture(kind);
    token = await f.createToken(await f.createProvider({ scopeRules: rules }), { scopes: ['read'] });
    lenientToken = await f.createToken(await f.createProvider({ scopeRules: rules, allowPathParameters: true }), { scopes: ['read'] });
  });
  afterAll(() => f?.close());

  const echoOf = (r: { json: () => unknown }) => r.json() as { method: string; url: string; headers: Record<string, string> };

  it("refuses ';' path parameters, the /items/..;/admin trick among them, naming the provider flag that allows them", async () => {
    for (const path of ['/items/..;/admin/users', '/items/x;jsessionid=1', '/items/%3B/admin', '/items/a%3bb']) {
      const r = await f.call(token, path);
      expect(r.status, path).toBe(403);
      expect(r.json().error.code).toBe('target_not_allowed');
      expect(r.json().error.message).toContain('allowPathParameters');
    }
  });

  it("forwards ';' for a provider whose API uses path parameters (still checked against the scope rules)", async () => {
    const r = await f.call(lenientToken, '/items/a;v=2');
    expect(r.status).toBe(200);
    expect(echoOf(r).url).toBe('/api/items/a;v=2');
  });

  it('drops method-override and URL-rewrite headers: the provider sees the method and path the gateway checked', async () => {
    const overrides = {
      'x-http-method-override': 'DELETE',
      'x-http-method': 'DELETE',
      'x-method-override': 'DELETE',
      'x-original-method': 'DELETE',
      'x-original-url': '/api/admin/users',
      'x-rewrite-url': '/api/admin/users',
      'x-override-url': '/api/admin/users',
      'x-original-uri': '/api/admin/users',
      'x-envoy-original-path': '/api/admin/users',
    };
    const r = await f.call(token, '/items/1', { headers: { ...overrides, 'x-trace': 'kept' } });
    expect(r.status).toBe(200);
    const echo = echoOf(r);
    expect(echo.method).toBe('GET');
    expect(echo.url).toBe('/api/items/1');
    for (const name of Object.keys(overrides)) expect(echo.headers[name], name).toBeUndefined();
    expect(echo.headers['x-trace']).toBe('kept');
  });
});
