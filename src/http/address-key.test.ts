import { describe, expect, it } from 'vitest';
import { addressKey } from './rate-limit.ts';

describe('the rate limiter’s address key', () => {
  it('keeps IPv4 addresses (and IPv4-mapped IPv6) whole', () => {
    expect(addressKey('10.0.0.5')).toBe('10.0.0.5');
    expect(addressKey('::ffff:10.0.0.5')).toBe('10.0.0.5');
  });

  it('counts an IPv6 /64 as one address however it is written', () => {
    const same = ['2001:db8:1::5', '2001:db8:1:0:1:2:3:4', '2001:0db8:0001:0000:ffff::1', '2001:DB8:1::9%eth0'];
    expect(new Set(same.map(addressKey))).toEqual(new Set(['2001:db8:1:0::/64']));
  });

  it('never merges two different /64s', () => {
    expect(addressKey('2001::5:1:2:3:4')).not.toBe(addressKey('2001::6:1:2:3:4'));
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
  });
});
