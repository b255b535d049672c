import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSsrfGuard, isTargetRefused, pinnedLookup, type Resolver } from './ssrf-guard.ts';

/** A resolver that knows only the names a test gives it (no real DNS). */
function fakeDns(names: Record<string, string[]>): Resolver {
  return async (hostname) => (names[hostname] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
}

function lookupOnce(resolve: Resolver, allowPrivate: boolean, host: string, all = false): Promise<{ err: Error | null; address: unknown }> {
  return new Promise((done) => pinnedLookup(resolve, allowPrivate)(host, { all }, (err, address) => done({ err, address })));
}

describe('the SSRF guard at connection time', () => {
  const dns = fakeDns({
    'api.example.com': ['93.184.216.34'],
    'rebind.example.com': ['127.0.0.1'],
    'mixed.example.com': ['93.184.216.34', '10.0.0.5'],
    'metadata.example.com': ['169.254.169.254'],
    'v6.example.com': ['::ffff:127.0.0.1'],
  });

  it('answers the checked address for a public name, in both callback shapes', async () => {
    expect(await lookupOnce(dns, false, 'api.example.com')).toEqual({ err: null, address: '93.184.216.34' });
    expect(await lookupOnce(dns, false, 'api.example.com', true)).toEqual({ err: null, address: [{ address: '93.184.216.34', family: 4 }] });
  });

  it('refuses a name resolving to loopback, to metadata, to a mapped address, or to any private address among public ones', async () => {
    for (const host of ['rebind.example.com', 'metadata.example.com', 'v6.example.com', 'mixed.example.com']) {
      const r = await lookupOnce(dns, false, host);
      expect(isTargetRefused(r.err), host).toBe(true);
    }
  });

  it('lets allowPrivateNetwork reach loopback, but never metadata', async () => {
    expect((await lookupOnce(dns, true, 'rebind.example.com')).err).toBeNull();
    expect(isTargetRefused((await lookupOnce(dns, true, 'metadata.example.com')).err)).toBe(true);
  });

  it('checks IP literals (which never reach a resolver) before dispatch', () => {
    const guard = createSsrfGuard({ resolve: dns });
    expect(guard.checkLiteralHost('127.0.0.1', false)).toEqual({ ok: false, range: 'loopback', kind: 'private' });
    expect(guard.checkLiteralHost('[::ffff:a9fe:a9fe]', true).ok).toBe(false);
    expect(guard.checkLiteralHost('93.184.216.34', false).ok).toBe(true);
    expect(guard.checkLiteralHost('api.example.com', false).ok).toBe(true);
    return guard.close();
  });

  describe('with a real connection', () => {
    let server: http.Server;
    let port: number;
    let hits = 0;
    beforeAll(async () => {
      server = http.createServer((_req, res) => {
        hits++;
        res.end('reached');
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(() => new Promise((r) => server.close(r)));

    it('refuses to connect to a name that resolves to loopback, and reaches it only when private networks are allowed', async () => {
      // The name exists only in the fake resolver: reaching the server proves the socket used the address we checked.
      const guard = createSsrfGuard({ resolve: fakeDns({ 'internal.test': ['127.0.0.1'] }) });
      const refused = await guard
        .dispatcherFor(false)
        .request({ origin: `http://internal.test:${port}`, path: '/', method: 'GET' })
        .catch((err: unknown) => err);
      expect(isTargetRefused(refused)).toBe(true);
      expect(hits).toBe(0);
      const allowed = await guard.dispatcherFor(true).request({ origin: `http://internal.test:${port}`, path: '/', method: 'GET' });
      expect(await allowed.body.text()).toBe('reached');
      expect(hits).toBe(1);
      await guard.close();
    });
  });
});
