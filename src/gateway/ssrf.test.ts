import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { rawRequest } from '../../test/support/echo-upstream.ts';
import { startGatewayFixture, type GatewayFixture } from '../../test/support/gateway-fixture.ts';

/**
 * The SSRF corpus: every form must be refused (403 target_not_allowed) or, where the form is
 * harmless by construction, provably confined to the provider's declared origin and base path.
 */

// Provider API hosts (providers WITHOUT allowPrivateNetwork). Each names a loopback, private,
// link-local, metadata or otherwise internal address, directly or in an encoded form.
const INTERNAL_HOSTS = [
  '127.0.0.1',
  '127.1',
  '2130706433', // decimal 127.0.0.1
  '0x7f.1', // hex + short form
  '0x7f000001',
  '017700000001', // octal
  '0177.0.0.1',
  '0',
  '0.0.0.0',
  '10.0.0.1',
  '0x0a.0.0.1',
  '172.16.5.4',
  '192.168.1.1',
  '100.64.0.1',
  '169.254.169.254', // cloud metadata
  '2852039166', // decimal 169.254.169.254
  '224.0.0.1',
  '255.255.255.255',
  '[::1]',
  '[::]',
  '[::ffff:127.0.0.1]',
  '[::ffff:7f00:1]',
  '[0:0:0:0:0:ffff:a9fe:a9fe]', // mapped metadata
  '[::ffff:10.0.0.1]',
  '[fe80::1]',
  '[fc00::1]',
  '[fd12:3456::1]',
  '[64:ff9b::7f00:1]', // NAT64 of loopback
  '[2002:7f00:1::1]', // 6to4 of loopback
  'localhost', // a DNS name that resolves to loopback
  'localhost.',
];

// Paths (sent byte for byte) that try to leave the base path /api of the loopback provider.
const ESCAPING_PATHS = [
  '/..',
  '/../admin',
  '/invoices/../../admin',
  '/%2e%2e/admin',
  '/%2E%2E/admin',
  '/.%2e/admin',
  '/%2e./admin',
  '/invoices/%2e%2e/%2e%2e/admin',
  '/invoices/..%2f..%2fadmin',
  '/invoices/%2f%2fevil.example',
  '/invoices/%5c..%5cadmin',
  '/%252e%252e/admin', // double-encoded
  '/invoices/./x',
  '//evil.example/x',
  '/invoices/%00',
  '/invoices\\..\\admin',
];

describeEachDatabase('gateway SSRF corpus', (kind) => {
  let f: GatewayFixture;
  let internal: http.Server;
  let internalHits = 0;
  let internalOrigin: string;

  beforeAll(async () => {
    f = await startGatewayFixture(kind);
    // Stands in for an internal service: nothing may ever reach it through the gateway.
    internal = http.createServer((_req, res) => {
      internalHits++;
      res.end('internal secret');
    });
    await new Promise<void>((r) => internal.listen(0, '127.0.0.1', r));
    internalOrigin = `http://127.0.0.1:${(internal.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => internal.close(r));
    await f.close();
  });

  it(`has a corpus of at least 30 forms`, () => {
    expect(INTERNAL_HOSTS.length + ESCAPING_PATHS.length).toBeGreaterThanOrEqual(30);
  });

  it.each(INTERNAL_HOSTS)('refuses a provider API host of %s with 403 target_not_allowed', async (host) => {
    const providerId = await f.createProvider({ apiBaseUrls: [`https://${host}/v1`], development: false, allowPrivateNetwork: false });
    const token = await f.createToken(providerId);
    const r = await f.call(token, '/invoices/1');
    expect(r.status, r.text).toBe(403);
    expect(r.json().error.code).toBe('target_not_allowed');
  });

  it('refuses a name resolving to loopback even on a plain-http development provider', async () => {
    const port = new URL(internalOrigin).port;
    const providerId = await f.createProvider({ apiBaseUrls: [`http://localhost:${port}/`], development: true, allowPrivateNetwork: false });
    const token = await f.createToken(providerId);
    const r = await f.call(token, '/invoices/1');
    expect(r.status).toBe(403);
    expect(r.json().error.code).toBe('target_not_allowed');
    expect(internalHits).toBe(0);
  });

  it.each(ESCAPING_PATHS)('refuses the path %s with 403 target_not_allowed, forwarding nothing', async (path) => {
    const before = f.upstream.received.length;
    const r = await rawRequest(f.port, `GET /gw/${f.tokenA}${path} HTTP/1.1`, { authorization: `Bearer ${f.keyA}` });
    expect(r.status, r.body).toBe(403);
    expect(JSON.parse(r.body).error.code).toBe('target_not_allowed');
    expect(f.upstream.received.length).toBe(before);
  });

  it('keeps @-tricks in the path on the declared origin', async () => {
    const r = await f.call(f.tokenA, `/invoices/@evil.example`);
    expect(r.status).toBe(200);
    expect(r.json().url).toBe('/api/invoices/@evil.example');
    expect(r.json().headers.host).toBe(`127.0.0.1:${f.upstream.port}`);
  });

  it('refuses a provider whose API URL carries @-credentials (user@host) with 400 validation_failed', async () => {
    const r = await f.h.app.inject({
      method: 'POST',
      url: '/v1/providers',
      headers: { authorization: `Bearer ${f.adminKey}` },
      payload: { name: 'at-trick', tokenEndpoint: 'https://issuer.example.com/token', clientId: 'c', apiBaseUrls: ['https://api.example.com@169.254.169.254/'] },
    });
    expect(r.statusCode).toBe(400);
    expect(r.json().error.code).toBe('validation_failed');
  });

  it('ignores a spoofed Host header and refuses an undeclared x-custody-api-base', async () => {
    const spoofed = await rawRequest(f.port, `GET /gw/${f.tokenA}/invoices/1 HTTP/1.1`, { authorization: `Bearer ${f.keyA}`, Host: '169.254.169.254' });
    expect(spoofed.status).toBe(200);
    expect(JSON.parse(spoofed.body).headers.host).toBe(`127.0.0.1:${f.upstream.port}`);
    const base = await f.call(f.tokenA, '/invoices/1', { headers: { 'x-custody-api-base': `${internalOrigin}/` } });
    expect(base.status).toBe(403);
    expect(base.json().error.code).toBe('target_not_allowed');
    expect(internalHits).toBe(0);
  });

  it('does not follow redirects: the 302 goes back to the workload and the target is never contacted', async () => {
    const r = await f.call(f.tokenA, `/redirect?to=${encodeURIComponent(`${internalOrigin}/latest/meta-data/`)}`);
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe(`${internalOrigin}/latest/meta-data/`);
    expect(r.text).not.toContain('internal secret');
    expect(internalHits).toBe(0);
  });
});
