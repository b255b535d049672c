import { describe, expect, it } from 'vitest';
import { addressAllowed, classifyAddress, ipv6Bytes } from './address-policy.ts';

describe('address classification', () => {
  it.each([
    ['8.8.8.8', 'public'],
    ['93.184.216.34', 'public'],
    ['2606:4700:4700::1111', 'public'],
    ['127.0.0.1', 'private'],
    ['127.255.255.254', 'private'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.0.1', 'private'],
    ['100.64.0.1', 'private'],
    ['::1', 'private'],
    ['fc00::1', 'private'],
    ['fd00:1234::5', 'private'],
    ['::ffff:127.0.0.1', 'private'],
    ['::ffff:7f00:1', 'private'],
    ['::ffff:8.8.8.8', 'private'],
    ['64:ff9b::a00:1', 'private'],
    ['2002:0a00:0001::1', 'private'],
    ['169.254.169.254', 'forbidden'],
    ['169.254.0.1', 'forbidden'],
    ['::ffff:169.254.169.254', 'forbidden'],
    ['::ffff:a9fe:a9fe', 'forbidden'],
    ['0.0.0.0', 'forbidden'],
    ['::', 'forbidden'],
    ['fe80::1', 'forbidden'],
    ['fe80::1%eth0', 'forbidden'],
    ['224.0.0.1', 'forbidden'],
    ['255.255.255.255', 'forbidden'],
    ['ff02::1', 'forbidden'],
    ['2001:db8::1', 'forbidden'],
    ['not-an-ip', 'forbidden'],
    ['[::1]', 'private'],
    // Cloud metadata services: never reachable, even with allowPrivateNetwork.
    ['fd00:ec2::254', 'forbidden'],
    ['100.100.100.200', 'forbidden'],
    ['168.63.129.16', 'forbidden'],
    ['::ffff:100.100.100.200', 'forbidden'],
    // Translated forms carry their IPv4 address's class.
    ['64:ff9b:1::a9fe:a9fe', 'forbidden'],
    ['::ffff:0:a9fe:a9fe', 'forbidden'],
    ['::ffff:0:7f00:1', 'private'],
    ['fd00:ec2::253', 'private'],
    ['100.100.100.201', 'private'],
  ])('classifies %s as %s', (address, kind) => {
    expect(classifyAddress(address).kind).toBe(kind);
  });

  it('does not count 172.15/172.32 or 100.63/100.128 as private', () => {
    for (const a of ['172.15.255.255', '172.32.0.0', '100.63.255.255', '100.128.0.0', '11.0.0.1']) expect(classifyAddress(a).kind).toBe('public');
  });

  it('lets allowPrivateNetwork reach private addresses but never forbidden ones', () => {
    expect(addressAllowed('127.0.0.1', false).ok).toBe(false);
    expect(addressAllowed('127.0.0.1', true).ok).toBe(true);
    expect(addressAllowed('169.254.169.254', true).ok).toBe(false);
    for (const metadata of ['fd00:ec2::254', '100.100.100.200', '168.63.129.16']) expect(addressAllowed(metadata, true).ok).toBe(false);
    expect(addressAllowed('8.8.8.8', false).ok).toBe(true);
  });

  it('expands IPv6 text forms to bytes, with an embedded IPv4 tail', () => {
    expect(ipv6Bytes('::1')).toEqual([...new Array(15).fill(0), 1]);
    expect(ipv6Bytes('::ffff:1.2.3.4').slice(10)).toEqual([0xff, 0xff, 1, 2, 3, 4]);
    expect(ipv6Bytes('fe80::1:2')).toEqual([0xfe, 0x80, ...new Array(10).fill(0), 0, 1, 0, 2]);
  });
});
