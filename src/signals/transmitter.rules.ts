import { isIP } from 'node:net';
import { addressAllowed } from '../gateway/address-policy.ts';
import type { ErrorDetail } from '../shared/errors.ts';
import type { SetAlgorithm } from './transmitter.contract.ts';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
/** `localhost`, `localhost.` or a name under it (RFC 6761 §6.3: all loopback), in any case. */
const isLoopbackName = (host: string) => /(^|\.)localhost\.?$/i.test(host);

/** Which key types can verify which algorithms (a key that fits none of the allowed ones is useless). */
const KTY_OF: Record<SetAlgorithm, string> = { RS256: 'RSA', RS384: 'RSA', RS512: 'RSA', PS256: 'RSA', PS384: 'RSA', PS512: 'RSA', ES256: 'EC', ES384: 'EC', ES512: 'EC', EdDSA: 'OKP' };

/**
 * A transmitter's key source, checked as providers' URLs are (provider.rules.ts): https, or plain
 * http only for a transmitter marked `development`, only on a loopback host, and never in a
 * production deployment — a typo must not let keys (and so the power to suspend and revoke a
 * tenant's tokens) arrive over an unauthenticated channel. The host, as the SSRF guard sees it
 * (src/gateway/address-policy.ts): an IP literal that is metadata, link-local or otherwise
 * forbidden never; private or loopback (a literal, or a `localhost` name) only for a development
 * transmitter (never in production). A name is checked again at every fetch (the guard pins the
 * address it checked), so one that resolves inside later is refused then.
 */
export function checkTransmitterKeys(
  input: { jwksUrl: string | null; jwks: { keys: { kty: string; alg?: string | undefined }[] } | null; algorithms: readonly SetAlgorithm[]; development: boolean },
  production: boolean,
): ErrorDetail[] {
  const problems: ErrorDetail[] = [];
  if ((input.jwksUrl === null) === (input.jwks === null)) problems.push({ path: 'body/jwksUrl', message: 'give exactly one of jwksUrl (where its keys are published) and jwks (the keys themselves)' });
  if (input.development && production) problems.push({ path: 'body/development', message: 'development transmitters (plain http on loopback) are not allowed in production (CUSTODY_ENV=production)' });
  if (input.jwksUrl !== null) {
    let url: URL | null = null;
    try {
      url = new URL(input.jwksUrl);
    } catch {
      problems.push({ path: 'body/jwksUrl', message: 'must be an absolute URL' });
    }
    if (url) {
      if (url.username || url.password) problems.push({ path: 'body/jwksUrl', message: 'must not contain credentials' });
      if (url.hash) problems.push({ path: 'body/jwksUrl', message: 'must not contain a fragment' });
      if (url.protocol === 'http:') {
        if (!input.development) problems.push({ path: 'body/jwksUrl', message: 'must use https (plain http is allowed only for a transmitter marked development: true, outside production)' });
        else if (!LOOPBACK_HOSTS.has(url.hostname)) problems.push({ path: 'body/jwksUrl', message: 'plain http is allowed only on a loopback host (localhost, 127.0.0.1, [::1])' });
      } else if (url.protocol !== 'https:') problems.push({ path: 'body/jwksUrl', message: 'must be an https URL' });
      const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
      const allowPrivate = input.development && !production;
      if (isIP(host) !== 0) {
        const verdict = addressAllowed(host, allowPrivate);
        if (!verdict.ok) problems.push({ path: 'body/jwksUrl', message: `its host ${host} is a ${verdict.range} address, which Custody does not fetch keys from${verdict.kind === 'private' ? ' (private and loopback addresses only for a development transmitter, outside production)' : ''}` });
      } else if (isLoopbackName(host) && !allowPrivate) problems.push({ path: 'body/jwksUrl', message: 'its host is a loopback name (localhost), allowed only for a development transmitter, outside production' });
    }
  }
  if (input.jwks !== null) {
    const usable = new Set(input.algorithms.map((a) => KTY_OF[a]));
    input.jwks.keys.forEach((k, i) => {
      if (!usable.has(k.kty)) problems.push({ path: `body/jwks/keys/${i}/kty`, message: `a ${k.kty} key verifies none of the allowed algorithms (${input.algorithms.join(', ')})` });
      if (k.alg !== undefined && !(input.algorithms as readonly string[]).includes(k.alg)) problems.push({ path: `body/jwks/keys/${i}/alg`, message: `"${k.alg}" is not among the allowed algorithms (${input.algorithms.join(', ')})` });
    });
  }
  return problems;
}

export const DEFAULT_ALGORITHMS: readonly SetAlgorithm[] = ['RS256', 'ES256'];
