import { isIP } from 'node:net';

/**
 * Which addresses the gateway may connect to. Pure: it classifies an IP address (already in
 * canonical form, as the WHATWG URL parser and the resolver give it) and never touches the network.
 *
 * `public` is reachable for every provider. `private` (loopback, RFC 1918, unique-local, CGNAT…)
 * is reachable only for a provider marked `allowPrivateNetwork`. `forbidden` (metadata and
 * link-local, unspecified, multicast, broadcast, reserved) is never reachable: no legitimate API
 * lives there, and the cloud metadata service is the classic SSRF prize.
 */
export type AddressClass = 'public' | 'private' | 'forbidden';

export interface Classification {
  kind: AddressClass;
  /** Why, in words, for the usage record and the logs. */
  range: string;
}

type V4Range = [number, number, number, AddressClass, string];

// [first octet, second octet mask check fn via prefix] expressed as [base, prefixLength] on 32 bits.
const V4_RANGES: [string, number, AddressClass, string][] = [
  // Cloud metadata services outside link-local, first: they sit inside ranges a provider with
  // allowPrivateNetwork may reach (CGNAT), or in public space (Azure's wireserver).
  ['100.100.100.200', 32, 'forbidden', 'cloud-metadata (Alibaba)'],
  ['168.63.129.16', 32, 'forbidden', 'cloud-metadata (Azure)'],
  ['0.0.0.0', 8, 'forbidden', 'this-network'],
  ['10.0.0.0', 8, 'private', 'rfc1918'],
  ['100.64.0.0', 10, 'private', 'cgnat'],
  ['127.0.0.0', 8, 'private', 'loopback'],
  ['169.254.0.0', 16, 'forbidden', 'link-local/metadata'],
  ['172.16.0.0', 12, 'private', 'rfc1918'],
  ['192.0.0.0', 24, 'forbidden', 'ietf-protocol'],
  ['192.0.2.0', 24, 'forbidden', 'documentation'],
  ['192.88.99.0', 24, 'forbidden', '6to4-relay'],
  ['192.168.0.0', 16, 'private', 'rfc1918'],
  ['198.18.0.0', 15, 'private', 'benchmarking'],
  ['198.51.100.0', 24, 'forbidden', 'documentation'],
  ['203.0.113.0', 24, 'forbidden', 'documentation'],
  ['224.0.0.0', 4, 'forbidden', 'multicast'],
  ['240.0.0.0', 4, 'forbidden', 'reserved/broadcast'],
];

function v4ToInt(address: string): number {
  return address.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

const V4_TABLE: V4Range[] = V4_RANGES.map(([base, prefix, kind, range]) => {
  const size = 2 ** (32 - prefix);
  const start = v4ToInt(base);
  return [start, start + size - 1, prefix, kind, range];
});

function classifyV4(address: string): Classification {
  const n = v4ToInt(address);
  for (const [start, end, , kind, range] of V4_TABLE) if (n >= start && n <= end) return { kind, range };
  return { kind: 'public', range: 'public' };
}

/** Expands an IPv6 text form (with optional embedded IPv4 tail) to 16 bytes. */
export function ipv6Bytes(address: string): number[] {
  let text = address.toLowerCase();
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    tail = text
      .slice(lastColon + 1)
      .split('.')
      .map(Number);
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = text.includes('::') ? text.split('::') : [text, undefined];
  const parse = (s: string | undefined) => (s ? s.split(':').filter((x) => x !== '').map((h) => parseInt(h, 16)) : []);
  const left = parse(head);
  const right = parse(rest);
  const words = rest === undefined ? left : [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
  const bytes = words.flatMap((w) => [(w >> 8) & 0xff, w & 0xff]);
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes;
}

const AWS_IMDS_V6 = ipv6Bytes('fd00:ec2::254').join(',');

function classifyV6(address: string): Classification {
  const b = ipv6Bytes(address);
  const zero = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  const v4 = () => b.slice(12, 16).join('.');
  if (zero(0, 16)) return { kind: 'forbidden', range: 'unspecified' };
  if (zero(0, 15) && b[15] === 1) return { kind: 'private', range: 'loopback' };
  // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d): judged as the IPv4 address they carry.
  if (zero(0, 10) && b[10] === 0xff && b[11] === 0xff) return innerV4(v4(), 'ipv4-mapped');
  if (zero(0, 12)) return innerV4(v4(), 'ipv4-compatible');
  // IPv4-translated (::ffff:0:a.b.c.d, RFC 2765): the IPv4 address it carries.
  if (zero(0, 8) && b[8] === 0xff && b[9] === 0xff && b[10] === 0 && b[11] === 0) return innerV4(v4(), 'ipv4-translated');
  // NAT64 (64:ff9b::/96, and the local-use 64:ff9b:1::/48 of RFC 8215) and 6to4 (2002::/16) reach an IPv4 address by translation.
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(4, 12)) return innerV4(v4(), 'nat64');
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && b[4] === 0x00 && b[5] === 0x01) return innerV4(v4(), 'nat64-local');
  if (b[0] === 0x20 && b[1] === 0x02) return innerV4(b.slice(2, 6).join('.'), '6to4');
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0x00 && b[3] === 0x00) return { kind: 'forbidden', range: 'teredo' };
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0x0d && b[3] === 0xb8) return { kind: 'forbidden', range: 'documentation' };
  // AWS's instance metadata service over IPv6 (fd00:ec2::254), inside the unique-local range.
  if (b.join(',') === AWS_IMDS_V6) return { kind: 'forbidden', range: 'cloud-metadata (AWS)' };
  if ((b[0]! & 0xfe) === 0xfc) return { kind: 'private', range: 'unique-local' };
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return { kind: 'forbidden', range: 'link-local' };
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0xc0) return { kind: 'private', range: 'site-local' };
  if (b[0] === 0xff) return { kind: 'forbidden', range: 'multicast' };
  if (b[0] === 0x01 && zero(1, 8)) return { kind: 'forbidden', range: 'discard' };
  return { kind: 'public', range: 'public' };
}

function innerV4(address: string, via: string): Classification {
  const inner = classifyV4(address);
  // A translated form of a public address is still an unusual way to name a host: treat it as
  // private so only a provider that opted into private networks can use it.
  if (inner.kind === 'public') return { kind: 'private', range: via };
  return { kind: inner.kind, range: `${via} ${inner.range}` };
}

/** Classifies an IP address; anything that is not a valid address is forbidden. */
export function classifyAddress(address: string): Classification {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const family = isIP(bare);
  if (family === 4) return classifyV4(bare);
  if (family === 6) return classifyV6(bare);
  return { kind: 'forbidden', range: 'not-an-address' };
}

/** Whether a provider with (or without) `allowPrivateNetwork` may connect to this address. */
export function addressAllowed(address: string, allowPrivateNetwork: boolean): { ok: boolean; range: string; kind: AddressClass } {
  const c = classifyAddress(address);
  return { ok: c.kind === 'public' || (c.kind === 'private' && allowPrivateNetwork), range: c.range, kind: c.kind };
}

/** Why a target was refused, and what (if anything) would allow it: for the caller's error message. */
export function refusalMessage(host: string, range: string, kind: AddressClass, providerId: string): string {
  if (kind === 'private') {
    return (
      `The provider API host ${host} is a ${range} address, which the gateway reaches only for a provider with allowPrivateNetwork: true ` +
      `(custody providers update ${providerId} --allow-private-network, or PATCH /v1/providers/${providerId} {"allowPrivateNetwork": true}).`
    );
  }
  return `The provider API host ${host} is a ${range} address, which the gateway never reaches: no provider setting allows it.`;
}
