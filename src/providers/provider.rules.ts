import type { ErrorDetail } from '../shared/errors.ts';
import type { CreateProviderInput } from './provider.types.ts';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Checks a provider's URLs. Endpoints must be https; plain http is accepted only for a provider
 * explicitly marked `development` and only on a loopback host, so a production deployment cannot
 * send client secrets or customer tokens in clear by a typo.
 */
export function checkProviderUrls(input: CreateProviderInput): ErrorDetail[] {
  const problems: ErrorDetail[] = [];
  const check = (path: string, value: string | undefined, kind: 'endpoint' | 'api') => {
    if (value === undefined) return;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      problems.push({ path, message: 'must be an absolute URL' });
      return;
    }
    if (url.username || url.password) problems.push({ path, message: 'must not contain credentials' });
    if (url.hash) problems.push({ path, message: 'must not contain a fragment' });
    if (kind === 'api' && url.search) problems.push({ path, message: 'an API base URL must not carry a query string' });
    if (url.protocol === 'https:') return;
    if (url.protocol === 'http:') {
      if (!input.development) problems.push({ path, message: 'must use https (plain http is allowed only for a provider marked development: true)' });
      else if (!LOOPBACK_HOSTS.has(url.hostname)) problems.push({ path, message: 'plain http is allowed only on a loopback host (localhost, 127.0.0.1, [::1])' });
      return;
    }
    problems.push({ path, message: 'must be an http(s) URL' });
  };
  check('/issuer', input.issuer, 'endpoint');
  check('/authorizationEndpoint', input.authorizationEndpoint, 'endpoint');
  check('/tokenEndpoint', input.tokenEndpoint, 'endpoint');
  check('/revocationEndpoint', input.revocationEndpoint, 'endpoint');
  check('/introspectionEndpoint', input.introspectionEndpoint, 'endpoint');
  input.apiBaseUrls.forEach((u, i) => check(`/apiBaseUrls/${i}`, u, 'api'));
  (input.scopeRules ?? []).forEach((r, i) => {
    if (!r.pathPattern.startsWith('/')) problems.push({ path: `/scopeRules/${i}/pathPattern`, message: 'must start with /' });
  });
  return problems;
}
