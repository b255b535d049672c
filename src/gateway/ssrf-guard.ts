import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { Agent, type Dispatcher } from 'undici';
import { addressAllowed, type AddressClass } from './address-policy.ts';

/**
 * Connection-level SSRF defence. Every connection the gateway opens goes through `lookup` below:
 * the hostname is resolved once, every address it resolves to is classified, and the socket
 * connects to the address that was checked (undici hands the address we return to
 * net/tls.connect), so a DNS answer that changes between check and connect (rebinding) cannot
 * slip through. IP literals never reach a resolver, so they are checked before dispatch.
 * Two pools exist: one for providers that may reach private networks and one for all others, so
 * a connection opened under the permissive rule is never reused under the strict one.
 */
export type Resolver = (hostname: string) => Promise<{ address: string; family: number }[]>;

export const TARGET_REFUSED = 'CUSTODY_TARGET_REFUSED';

export class TargetRefusedError extends Error {
  readonly code = TARGET_REFUSED;
  constructor(readonly host: string, readonly range: string, readonly kind: AddressClass) {
    super(`connection to ${host} refused: ${range} address`);
    this.name = 'TargetRefusedError';
  }
}

export const systemResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

type LookupCallback = (err: Error | null, address: string | { address: string; family: number }[], family?: number) => void;

export interface SsrfGuard {
  /** The pool for a provider; its connections are pinned to checked addresses. */
  dispatcherFor(allowPrivateNetwork: boolean): Dispatcher;
  /** Refuses an IP-literal host that the rule does not allow (names are checked at connect). */
  checkLiteralHost(hostname: string, allowPrivateNetwork: boolean): LiteralVerdict;
  close(): Promise<void>;
}

export function pinnedLookup(resolve: Resolver, allowPrivateNetwork: boolean) {
  return (hostname: string, options: { all?: boolean; family?: number } | number, callback: LookupCallback) => {
    const all = typeof options === 'object' && options.all === true;
    // 'localhost.' and 'localhost' are the same name; resolve the canonical form.
    resolve(hostname.replace(/\.$/, '')).then(
      (addresses) => {
        if (addresses.length === 0) return callback(Object.assign(new Error(`${hostname} did not resolve`), { code: 'ENOTFOUND' }), '');
        // Every answer must pass: a name that resolves to one public and one private address is
        // refused, so the choice of address can never be steered towards the private one.
        for (const a of addresses) {
          const verdict = addressAllowed(a.address, allowPrivateNetwork);
          if (!verdict.ok) return callback(new TargetRefusedError(hostname, verdict.range, verdict.kind), '');
        }
        const chosen = addresses[0]!;
        if (all) return callback(null, [{ address: chosen.address, family: chosen.family }]);
        return callback(null, chosen.address, chosen.family);
      },
      (err: Error) => callback(err, ''),
    );
  };
}

type LiteralVerdict = { ok: true } | { ok: false; range: string; kind: AddressClass };

function checkLiteral(hostname: string, allowPrivateNetwork: boolean): LiteralVerdict {
  const bare = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  if (isIP(bare) === 0) return { ok: true };
  const verdict = addressAllowed(bare, allowPrivateNetwork);
  return verdict.ok ? { ok: true } : { ok: false, range: verdict.range, kind: verdict.kind };
}

export function createSsrfGuard(options: { resolve?: Resolver; connectionsPerOrigin?: number; connectTimeoutMs?: number } = {}): SsrfGuard {
  const resolve = options.resolve ?? systemResolver;
  const make = (allowPrivateNetwork: boolean) =>
    new Agent({
      connections: options.connectionsPerOrigin ?? 256,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 120_000,
      pipelining: 1,
      connect: { lookup: pinnedLookup(resolve, allowPrivateNetwork) as never, timeout: options.connectTimeoutMs ?? 10_000 },
    });
  const strict = make(false);
  const permissive = make(true);
  // Verdicts on literal hosts, by rule and host: providers declare a handful of hosts, asked on every call.
  const verdicts = [new Map<string, LiteralVerdict>(), new Map<string, LiteralVerdict>()] as const;
  return {
    dispatcherFor: (allowPrivateNetwork) => (allowPrivateNetwork ? permissive : strict),
    checkLiteralHost(hostname, allowPrivateNetwork) {
      const known = verdicts[allowPrivateNetwork ? 1 : 0];
      let verdict = known.get(hostname);
      if (verdict === undefined) {
        verdict = checkLiteral(hostname, allowPrivateNetwork);
        if (known.size >= 10_000) known.clear();
        known.set(hostname, verdict);
      }
      return verdict;
    },
    async close() {
      await Promise.all([strict.close(), permissive.close()]);
    },
  };
}

/** The guard's refusal in an error's cause chain, if it is one. */
export function targetRefusalOf(err: unknown): TargetRefusedError | null {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) {
    if (e.code === TARGET_REFUSED) return e instanceof TargetRefusedError ? e : null;
  }
  return null;
}

/** Whether an error (or its cause chain) is the guard refusing a connection. */
export function isTargetRefused(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) {
    if (e.code === TARGET_REFUSED) return true;
  }
  return false;
}
