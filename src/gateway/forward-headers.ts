import type { IncomingHttpHeaders } from 'node:http';

/**
 * Which headers cross the gateway. Pure. Hop-by-hop headers (RFC 9110 §7.6.1) and any header the
 * Connection header names belong to one connection and never cross. From the caller we also drop
 * its credentials (Authorization, Cookie: they are for Custody, not the provider), the Host (the
 * target decides it), Expect, forwarding headers it could spoof, method-override and URL-rewrite
 * headers (they would change what the gateway authorised), and our own control headers.
 * From the provider we drop Set-Cookie: a workload talks to Custody, so a provider cookie would
 * be stored against Custody's origin.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

const CALLER_ONLY = new Set([
  'authorization',
  'cookie',
  'host',
  'expect',
  'forwarded',
  'x-real-ip',
  'via',
  // Headers some servers and frameworks obey to change the method or the path after the gateway
  // has checked both against the token's scope: a GET the scope allows must not become a DELETE,
  // nor /items a path under /admin.
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'x-original-method',
  'x-original-url',
  'x-rewrite-url',
  'x-override-url',
  'x-original-uri',
  'x-envoy-original-path',
]);
const PROVIDER_ONLY = new Set(['set-cookie', 'set-cookie2']);

const NONE: readonly string[] = [];

/** The header names a Connection header lists (beyond keep-alive/close, which are hop-by-hop anyway). */
function connectionTokens(value: string | string[] | undefined): readonly string[] {
  if (value === undefined) return NONE;
  const text = Array.isArray(value) ? value.join(',') : value;
  const lower = text.toLowerCase();
  if (lower === 'keep-alive' || lower === 'close') return NONE;
  return lower
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
}

/** The headers that cross: never hop-by-hop ones or those the Connection header names, nor any `refused`. */
function crossing(incoming: Record<string, string | string[] | undefined>, refused: (lowerName: string) => boolean): Record<string, string | string[]> {
  const named = connectionTokens(incoming.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named.includes(lower) || refused(lower)) continue;
    out[lower] = value;
  }
  return out;
}

const callerOnly = (lower: string) => CALLER_ONLY.has(lower) || lower.startsWith('x-forwarded-') || lower.startsWith('x-custody-') || lower.startsWith('proxy-');
const providerOnly = (lower: string) => PROVIDER_ONLY.has(lower);

export function upstreamRequestHeaders(incoming: IncomingHttpHeaders): Record<string, string | string[]> {
  return crossing(incoming, callerOnly);
}

export function downstreamResponseHeaders(incoming: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  return crossing(incoming, providerOnly);
}
