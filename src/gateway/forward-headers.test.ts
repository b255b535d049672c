import { describe, expect, it } from 'vitest';
import { downstreamResponseHeaders, upstreamRequestHeaders } from './forward-headers.ts';

describe('headers crossing the gateway', () => {
  it("drops the caller's credentials, host, hop-by-hop and Connection-named headers", () => {
    const out = upstreamRequestHeaders({
      authorization: 'Bearer cus_key',
      cookie: 'custody=1',
      host: 'custody.local',
      connection: 'keep-alive, X-Private',
      'x-private': 'p',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      te: 'trailers',
      upgrade: 'websocket',
      'proxy-authorization': 'Basic x',
      'x-forwarded-for': '10.0.0.1',
      forwarded: 'for=10.0.0.1',
      'x-custody-api-base': 'https://x',
      expect: '100-continue',
      'content-type': 'application/json',
      'content-length': '2',
      accept: 'application/json',
      'x-request-id': 'r1',
    });
    expect(out).toEqual({ 'content-type': 'application/json', 'content-length': '2', accept: 'application/json', 'x-request-id': 'r1' });
  });

  it('drops Set-Cookie and hop-by-hop headers from the provider, keeps the rest', () => {
    const out = downstreamResponseHeaders({
      'set-cookie': ['a=1', 'b=2'],
      connection: 'close, x-hop',
      'x-hop': '1',
      'transfer-encoding': 'chunked',
      'content-type': 'text/plain',
      location: '/next',
      'x-ratelimit-remaining': '10',
    });
    expect(out).toEqual({ 'content-type': 'text/plain', location: '/next', 'x-ratelimit-remaining': '10' });
  });
});
