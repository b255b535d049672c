import { describe, expect, it } from 'vitest';
import { prng } from '../../test/support/prng.ts';
import { joinTarget, splitGatewayUrl } from './target-path.ts';

const BASE = 'https://api.example.com/v1';

describe('joining a caller path onto the API base', () => {
  it('joins under the base path and keeps the query byte for byte', () => {
    const r = joinTarget(BASE, '/invoices/INV%2D7', 'a=1&b=%20x');
    expect(r.ok && `${r.origin}${r.requestPath}`).toBe('https://api.example.com/v1/invoices/INV%2D7?a=1&b=%20x');
    expect(r.ok && r.segments).toEqual(['invoices', 'INV-7']);
    const quoted = joinTarget(BASE, '/x', "q='a'&b=%27");
    expect(quoted.ok && quoted.requestPath).toBe("/v1/x?q='a'&b=%27");
  });

  it('handles a base with a trailing slash, a root base and an empty path', () => {
    expect(joinTarget('https://api.example.com/v1/', '/x', '').ok && true).toBe(true);
    const root = joinTarget('https://api.example.com', '/x', '');
    expect(root.ok && root.requestPath).toBe('/x');
    const empty = joinTarget(BASE, '', '');
    expect(empty.ok && empty.requestPath).toBe('/v1');
  });

  it('allows a trailing slash but no other empty segment', () => {
    expect(joinTarget(BASE, '/items/', '').ok).toBe(true);
    expect(joinTarget(BASE, '//evil.example/x', '').ok).toBe(false);
    expect(joinTarget(BASE, '/a//b', '').ok).toBe(false);
  });

  it.each([
    '/..',
    '/.',
    '/a/../..',
    '/%2e%2e',
    '/%2E%2e/x',
    '/.%2E',
    '/a/%2f/b',
    '/a%2Fb',
    '/a%5cb',
    '/%252e%252e',
    '/%252F',
    '/a%00',
    '/a%0d%0aHost:%20evil',
    '/a\\b',
    '/a b',
    '/%zz',
    'relative',
    '/a#frag',
  ])('refuses %s', (path) => {
    expect(joinTarget(BASE, path, '').ok).toBe(false);
  });

  it('refuses a query carrying spaces, control characters or a fragment', () => {
    expect(joinTarget(BASE, '/x', 'a=1 HTTP/1.1').ok).toBe(false);
    expect(joinTarget(BASE, '/x', 'a=1#x').ok).toBe(false);
  });

  it('keeps "@" and ":" inside the path on the base origin', () => {
    const r = joinTarget(BASE, '/@evil.example:80/x', '');
    expect(r.ok && r.host).toBe('api.example.com');
    expect(r.ok && new URL(`${r.origin}${r.requestPath}`).host).toBe('api.example.com');
  });

  it('gives a target a URL parser reads back unchanged: same origin, same path, under the base (seeded fuzz)', () => {
    // joinTarget does not parse its result again; this is the check that it need not.
    const seed = Number(process.env.CUSTODY_FUZZ_SEED ?? Date.now() % 1_000_000);
    const rand = prng(seed);
    const pieces = ['a', 'Z', '0', '7', '.', '..', '%', '%2e', '%2E', '%2f', '%5c', '%25', '%41', '%zz', '@', ':', ';', '=', '~', '-', '_', '!', '$', "'", '(', '*', '+', ',', '&', '\\', ' ', '#', '?', '//', '%00', 'é'];
    const bases = ['https://api.example.com/v1', 'https://api.example.com/v1/', 'https://api.example.com', 'http://127.0.0.1:8080/a/b', 'https://[::1]:8443/x'];
    let accepted = 0;
    for (let i = 0; i < 3_000; i++) {
      const base = rand.pick(bases);
      const segments = Array.from({ length: 1 + rand.int(4) }, () => Array.from({ length: 1 + rand.int(3) }, () => rand.pick(pieces)).join(''));
      const rawPath = `/${segments.join('/')}`;
      const rawQuery = rand.next() < 0.5 ? '' : Array.from({ length: rand.int(4) }, () => rand.pick(['a=1', 'b=%20', "q='x'", '&', '=', '%', '@', '/..'])).join('');
      const r = joinTarget(base, rawPath, rawQuery);
      if (!r.ok) continue;
      accepted++;
      const parsed = new URL(`${r.origin}${r.requestPath}`);
      const basePath = new URL(base).pathname.replace(/\/+$/, '');
      const path = r.requestPath.split('?')[0]!;
      const context = `seed ${seed}: ${base} + ${JSON.stringify(rawPath)} ? ${JSON.stringify(rawQuery)}`;
      expect(parsed.origin, context).toBe(new URL(base).origin);
      expect(parsed.host, context).toBe(r.host);
      expect(parsed.pathname, context).toBe(path);
      expect(path === basePath || path.startsWith(`${basePath}/`), context).toBe(true);
    }
    // The corpus reaches the accepting side too, not only refusals.
    expect(accepted).toBeGreaterThan(100);
  });

  it('splits a gateway URL after the token id', () => {
    expect(splitGatewayUrl('/gw/tok_1/a/b?x=1', 'tok_1')).toEqual({ rawPath: '/a/b', rawQuery: 'x=1' });
    expect(splitGatewayUrl('/gw/tok_1', 'tok_1')).toEqual({ rawPath: '', rawQuery: '' });
    expect(splitGatewayUrl('/gw/tok_12/a', 'tok_1')).toBeNull();
  });
});
