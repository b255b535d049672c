import { isIP } from 'node:net';
import { addressAllowed } from './address-policy.ts';

/**
 * Where Custody may send what it pushes on its own initiative (webhooks, SSF streams): one rule for
 * both, so a receiver URL one of them refuses the other refuses too. Pure: it looks at the URL only;
 * a name is checked again where it is connected to (the SSRF guard pins the checked address).
 *
 * - https; plain http only outside production (and, where `plainHttp` is 'loopback', only to a
 *   loopback host);
 * - no user name or password (the receiver authenticates Custody by signature or Authorization
 *   header, and a URL is shown and logged), no #fragment, no port 0;
 * - an IP-literal host in the classes the address policy allows (private and loopback outside
 *   production only; metadata and link-local never);
 * - in production, no loopback name: `localhost`, `localhost.` and any `*.localhost` (RFC 6761
 *   §6.3 reserves them all for loopback, and resolvers answer them so).
 */
export interface PushTargetRule {
  production: boolean;
  /** 'anywhere': plain http to any host outside production; 'loopback': to a loopback host only. */
  plainHttp: 'anywhere' | 'loopback';
}

/** `localhost`, `localhost.` or a name under it (RFC 6761 §6.3), in any case. */
export function isLoopbackName(host: string): boolean {
  return /(^|\.)localhost\.?$/i.test(host);
}

/** The URL's host without IPv6 brackets. */
export function bareHost(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/** Why the URL may not be pushed to, in words for a 400's message; null when it may. */
export function pushTargetProblem(url: URL, rule: PushTargetRule): string | null {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'it must use https';
  if (url.username || url.password) return 'it must not carry a user name or password';
  if (url.hash) return 'it must not have a #fragment';
  if (url.port === '0') return 'port 0 is not a port one can send to';
  const host = bareHost(url);
  const literal = isIP(host) !== 0;
  const loopback = isLoopbackName(host) || (literal && addressAllowed(host, true).range.includes('loopback'));
  if (url.protocol === 'http:') {
    if (rule.production) return 'it must use https';
    if (rule.plainHttp === 'loopback' && !loopback) return 'plain http is accepted for a loopback host only (outside production); use https';
  }
  if (literal) {
    const verdict = addressAllowed(host, !rule.production);
    if (!verdict.ok) return `its host ${host} is a ${verdict.range} address, which Custody does not send to${verdict.kind === 'private' ? ' in production' : ''}`;
  } else if (rule.production && loopback) return 'its host is a loopback name, which Custody does not send to in production';
  return null;
}
