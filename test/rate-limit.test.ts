import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressKey, createBuckets } from '../src/http/rate-limit.ts';
import { describeEachDatabase } from './support/databases.ts';
import { bearer, keyFor, startHarness, type Harness } from './support/harness.ts';

describe('rate-limit buckets', () => {
  it('lets a client burst to its limit, then refills at the limit’s pace, and says how long to wait', () => {
    let t = 0;
    const buckets = createBuckets(60, () => t);
    for (let i = 0; i < 60; i++) expect(buckets.take('a')).toBe(0);
    expect(buckets.take('a')).toBe(1);
    expect(buckets.take('b')).toBe(0);
    t += 1_000;
    expect(buckets.take('a')).toBe(0);
    expect(buckets.take('a')).toBeGreaterThanOrEqual(1);
  });

  it('counts an IPv6 /64 as one address, and an IPv4-mapped address as its IPv4 one', () => {
    expect(addressKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2::9')).toBe(addressKey('2001:db8:1:2:ffff::1'));
    expect(addressKey('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(addressKey('10.0.0.1')).toBe('10.0.0.1');
    // However the /64 is written (compressed, zero-padded, upper case, with a zone), it is one key;
    // two different /64s are never one.
    const same = ['2001:db8:1::5', '2001:db8:1:0:1:2:3:4', '2001:0db8:0001:0000:ffff::1', '2001:DB8:1::9%eth0'];
    expect(new Set(same.map(addressKey))).toEqual(new Set(['2001:db8:1:0::/64']));
    expect(addressKey('2001::5:1:2:3:4')).not.toBe(addressKey('2001::6:1:2:3:4'));
  });
});

describeEachDatabase('rate limits over HTTP', (kind) => {
  let h: Harness;
  let keyA: string;
  let keyB: string;

  beforeAll(async () => {
    h = await startHarness(kind, { env: { CUSTODY_RATE_LIMIT_PER_ADDRESS: '40', CUSTODY_RATE_LIMIT_PER_KEY: '10' } });
    keyA = await keyFor(h, 'auditor');
    keyB = await keyFor(h, 'auditor');
  });
  afterAll(() => h?.close());

  it('answers 429 rate_limited with Retry-After per API key, leaving other keys alone', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await h.app.inject({ url: '/v1/tenants', headers: bearer(keyA), remoteAddress: `10.0.1.${i}` })).statusCode);
    expect(statuses.slice(0, 10).every((s) => s === 200)).toBe(true);
    const refused = await h.app.inject({ url: '/v1/tenants', headers: bearer(keyA), remoteAddress: '10.0.2.1' });
    expect(refused.statusCode).toBe(429);
    expect(refused.json().error).toMatchObject({ code: 'rate_limited', message: expect.stringContaining('this API key') });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect((await h.app.inject({ url: '/v1/tenants', headers: bearer(keyB), remoteAddress: '10.0.2.2' })).statusCode).toBe(200);
  });

  it('answers 429 per source address before any key is checked: the callback, /metrics and wrong keys alike', async () => {
    const from = (url: string, headers: Record<string, string> = {}) => h.app.inject({ url, headers, remoteAddress: '192.0.2.77' });
    let last = 0;
    for (let i = 0; i < 40; i++) last = (await from(i % 2 ? '/oauth/callback?state=x' : '/metrics')).statusCode;
    expect(last).not.toBe(429);
    // The bucket refills at 40 a minute: on a slow machine a request may have been refilled by now,
    // so flood until the limit answers (a handful of requests at most), never more than 20.
    let flooded = await from('/v1/tenants', bearer('cus_01J00000000000000000000000_' + 'x'.repeat(43)));
    for (let i = 0; i < 20 && flooded.statusCode !== 429; i++) flooded = await from('/v1/tenants', bearer('cus_01J00000000000000000000000_' + 'x'.repeat(43)));
    expect(flooded.statusCode).toBe(429);
    // Health probes from the same (limited) address still answer: a refused probe would take a healthy instance out.
    expect((await from('/healthz')).statusCode).toBe(200);
    expect((await from('/readyz')).statusCode).toBe(200);
    expect(flooded.json().error.message).toContain('this address');
    let page = await from('/oauth/callback?state=y');
    for (let i = 0; i < 20 && page.statusCode !== 429; i++) page = await from('/oauth/callback?state=y');
    expect(page.statusCode).toBe(429);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.headers['retry-after']).toBeDefined();
    // Another address is not held up.
    expect((await h.app.inject({ url: '/metrics', remoteAddress: '192.0.2.78' })).statusCode).toBe(200);
  });
});
