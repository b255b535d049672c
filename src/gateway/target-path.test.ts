import { describe, expect, it } from 'vitest';
import { joinTarget, splitGatewayUrl } from './target-path.ts';

const BASE = 'https://api.example.com/v1';

describe('joining a caller path onto the API base', () => {
  it('joins under the base path and keeps the query byte for byte', () => {
    const r = joinTarget(BASE, '/invoices/INV%2D7', 'a=1&b=%20x');
    expect(r.ok && r.url.toString()).toBe('https://api.example.com/v1/invoices/INV%2D7?a=1&b=%20x');
    expect(r.ok && r.segments).toEqual(['invoices', 'INV-7']);
    const quoted = joinTarget(BASE, '/x', "q='a'&b=%27");
    expect(quoted.ok && quoted.requestPath).toBe("/v1/x?q='a'&b=%27");
  });

  it('handles a base with a trailing slash, a root base and an empty path', () => {
    expect(joinTarget('https://api.example.com/v1/', '/x', '').ok && true).toBe(true);
    const root = joinTarget('https://api.example.com', '/x', '');
    expect(root.ok && root.url.pathname).toBe('/x');
    const empty = joinTarget(BASE, '', '');
    expect(empty.ok && empty.url.pathname).toBe('/v1');
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
    expect(r.ok && r.url.host).toBe('api.example.com');
  });

  it('splits a gateway URL after the token id', () => {
    expect(splitGatewayUrl('/gw/tok_1/a/b?x=1', 'tok_1')).toEqual({ rawPath: '/a/b', rawQuery: 'x=1' });
    expect(splitGatewayUrl('/gw/tok_1', 'tok_1')).toEqual({ rawPath: '', rawQuery: '' });
    expect(splitGatewayUrl('/gw/tok_12/a', 'tok_1')).toBeNull();
  });
});
