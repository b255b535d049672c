import { isIP } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CustodyError } from '../shared/errors.ts';

export interface RateLimits {
  /** Requests a minute from one source address (an IPv6 /64 counts as one); 0: no limit. */
  perAddressPerMinute: number;
  /** Requests a minute with one API key; 0: no limit. */
  perKeyPerMinute: number;
}

/** Buckets kept at most; past it the oldest goes (its client starts afresh: lenient, never stuck). */
const MAX_BUCKETS = 100_000;

/**
 * Token buckets by key: each holds up to `perMinute` requests and refills at `perMinute` a
 * minute, so a client may burst to its limit and then goes at the limit's pace. In memory, per
 * instance, bounded.
 */
export function createBuckets(perMinute: number, now: () => number = () => performance.now()) {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const ratePerMs = perMinute / 60_000;
  return {
    /** Takes one request from `key`'s bucket: 0 when allowed, else the seconds until one is. */
    take(key: string): number {
      const t = now();
      let b = buckets.get(key);
      if (b === undefined) {
        if (buckets.size >= MAX_BUCKETS) buckets.delete(buckets.keys().next().value!);
        buckets.set(key, (b = { tokens: perMinute, at: t }));
      } else {
        b.tokens = Math.min(perMinute, b.tokens + (t - b.at) * ratePerMs);
        b.at = t;
      }
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return 0;
      }
      return Math.max(1, Math.ceil((1 - b.tokens) / ratePerMs / 1000));
    },
    /** What `take` would answer, without taking: 0 when a request would be allowed, else the seconds until one is. */
    peek(key: string): number {
      const b = buckets.get(key);
      if (b === undefined) return 0;
      const tokens = Math.min(perMinute, b.tokens + (now() - b.at) * ratePerMs);
      return tokens >= 1 ? 0 : Math.max(1, Math.ceil((1 - tokens) / ratePerMs / 1000));
    },
    get size() {
      return buckets.size;
    },
  };
}

/** The address a limit counts by: an IPv4 address, or the /64 an IPv6 address is in (one host's usual share). */
export function addressKey(ip: string): string {
  const bare = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
  if (isIP(bare) !== 6) return bare;
  // Expanded to its eight groups first: `2001:db8:1::5` and `2001:db8:1:0:1:2:3:4` are one /64,
  // `2001::5:1:2:3:4` and `2001::6:1:2:3:4` are two.
  const noZone = bare.split('%')[0]!;
  let groups: string[];
  if (noZone.includes('::')) {
    const [head, tail] = noZone.split('::') as [string, string];
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  } else groups = noZone.split(':');
  return `${groups.slice(0, 4).map((g) => (parseInt(g, 16) || 0).toString(16)).join(':')}::/64`;
}

/**
 * Rate limits for every route Fastify serves (the API, the consent callback and links, /metrics;
 * the gateway has its own fair shares): per source address before anything else runs, so a flood
 * of unauthenticated requests is refused before keys are checked or bodies parsed; then per API
 * key, once the key is known. A refusal is 429 `rate_limited` with `Retry-After`.
 * Call after installAuth: hooks run in the order they are added.
 */
export function installRateLimits(app: FastifyInstance, limits: RateLimits, addressHook: 'before-auth' | 'after-auth'): void {
  const refuse = (reply: FastifyReply, seconds: number, what: string) => {
    reply.header('retry-after', String(seconds));
    throw new CustodyError('rate_limited', `Too many requests ${what}; retry in ${seconds} s.`);
  };
  if (addressHook === 'before-auth' && limits.perAddressPerMinute > 0) {
    const byAddress = createBuckets(limits.perAddressPerMinute);
    app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      // Health probes (a load balancer's, often from one shared address) are never limited: they
      // cost nothing (/readyz answers from a one-second cache) and a refused probe takes a healthy
      // instance out of service.
      if (request.url === '/healthz' || request.url === '/readyz') return;
      const wait = byAddress.take(addressKey(request.ip));
      if (wait > 0) refuse(reply, wait, 'from this address');
    });
  }
  if (addressHook === 'after-auth' && limits.perKeyPerMinute > 0) {
    const byKey = createBuckets(limits.perKeyPerMinute);
    app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      // A key, or a person signed in to the console through single sign-on (who holds no key).
      const p = request.principal;
      const keyId = p?.keyId ?? (p?.actor.startsWith('sso:') ? p.actor : null);
      if (!keyId) return;
      const wait = byKey.take(keyId);
      if (wait > 0) refuse(reply, wait, 'with this API key');
    });
  }
}
