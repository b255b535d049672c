import { describe, expect, it } from 'vitest';
import { Secret } from '../shared/secret.ts';
import { filterTakes, indexSubscriptions, subscribersOf, validFilter } from './webhook.events.ts';
import { checkWebhookUrl } from './webhook.service.ts';
import { newWebhookSecret, signMessage, verifyMessage } from './webhook.signature.ts';

describe('Standard Webhooks signatures', () => {
  it('signs the specification’s reference vector to its published signature', () => {
    // The vector of the Standard Webhooks reference libraries ("sign function works").
    const secret = new Secret('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    expect(signMessage(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('verifies its own signatures, among several, and refuses tampering, other secrets and stale timestamps', () => {
    const secret = newWebhookSecret();
    const other = newWebhookSecret();
    const sig = signMessage(secret, 'msg_1', 1_000_000, '{"a":1}');
    const h = { id: 'msg_1', timestamp: '1000000', signature: `v1,AAAA ${sig}` };
    expect(verifyMessage(secret, h, '{"a":1}', 1_000_100)).toBe(true);
    expect(verifyMessage(secret, h, '{"a":2}', 1_000_100)).toBe(false);
    expect(verifyMessage(other, h, '{"a":1}', 1_000_100)).toBe(false);
    expect(verifyMessage(secret, h, '{"a":1}', 1_000_301)).toBe(false);
    expect(verifyMessage(secret, { ...h, timestamp: 'x' }, '{"a":1}', 1_000_000)).toBe(false);
    expect(String(secret)).toBe('[redacted]');
  });
});

describe('event filters and routing', () => {
  it('takes exact types, prefixes and everything', () => {
    expect(filterTakes(['token.revoked'], 'token.revoked')).toBe(true);
    expect(filterTakes(['token.*'], 'token.suspended')).toBe(true);
    expect(filterTakes(['token.*'], 'tokens.x')).toBe(false);
    expect(filterTakes(['*'], 'alert.raised')).toBe(true);
    expect(filterTakes(['alert.*'], 'token.revoked')).toBe(false);
    expect(['token.revoked', 'alert.*', '*', 'notice.created'].every(validFilter)).toBe(true);
    expect(['token.', '.*', 'Token.x', 'a.*.b', '', 'a b'].some(validFilter)).toBe(false);
    // A family Custody never sends is a typo that would never fire.
    expect(['bogus', 'tokens.*', 'alerts.raised'].some(validFilter)).toBe(false);
  });

  it('routes an entry to its tenant’s and the platform’s subscriptions created before it, never notices or webhooks’ own entries', () => {
    const subs = [
      { id: 'p', tenantId: null, events: ['*'], fromSeq: 0 },
      { id: 'a', tenantId: 'ten_a', events: ['token.*', 'notice.*', 'webhook.*'], fromSeq: 0 },
      { id: 'b', tenantId: 'ten_b', events: ['*'], fromSeq: 0 },
      { id: 'late', tenantId: null, events: ['*'], fromSeq: 10 },
    ];
    const index = indexSubscriptions(subs);
    const ids = (seq: number, action: string, tenantId: string | null) => subscribersOf({ seq, action, tenantId }, index).map((s) => s.id);
    expect(ids(5, 'token.revoked', 'ten_a')).toEqual(['p', 'a']);
    expect(ids(11, 'token.revoked', 'ten_a')).toEqual(['p', 'late', 'a']);
    expect(ids(5, 'tenant.created', null)).toEqual(['p']);
    expect(ids(5, 'notice.created', 'ten_a')).toEqual([]);
    expect(ids(5, 'webhook.undelivered', 'ten_a')).toEqual([]);
  });
});

describe('where a webhook may point', () => {
  it('takes https anywhere public, and http or private hosts outside production only', () => {
    expect(checkWebhookUrl('https://hooks.example.com/x?token=1', true).host).toBe('hooks.example.com');
    expect(checkWebhookUrl('http://127.0.0.1:9000/x', false).port).toBe('9000');
    for (const url of ['http://hooks.example.com/', 'https://127.0.0.1/', 'https://10.0.0.5/', 'https://localhost/', 'https://[::1]/']) expect(() => checkWebhookUrl(url, true), url).toThrow(/webhook|https|loopback|address/);
    for (const url of ['https://169.254.169.254/', 'https://[fd00:ec2::254]/', 'https://0.0.0.0/', 'https://u:p@hooks.example.com/', 'https://hooks.example.com/#x', 'file:///etc/passwd']) expect(() => checkWebhookUrl(url, false), url).toThrow();
    // Every localhost name is loopback (RFC 6761); port 0 is nowhere.
    for (const url of ['https://localhost./', 'https://foo.localhost/', 'https://FOO.LOCALHOST./x']) expect(() => checkWebhookUrl(url, true), url).toThrow(/loopback/);
    for (const url of ['https://hooks.example.com:0/', 'http://127.0.0.1:0/']) expect(() => checkWebhookUrl(url, false), url).toThrow(/port 0/);
  });
});
