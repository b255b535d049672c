import type { ErrorDetail } from '../shared/errors.ts';
import type { CreateProviderInput, ScopeCatalogueEntry } from './provider.types.ts';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
/** Query parameters that carry a credential: a URL is shown to every reader and ledgered, so none may hold one. */
const CREDENTIAL_PARAM = /secret|passw|pwd|token|api[-_]?key|^key$|^sig(nature)?$|^auth/i;

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
    const credentialParams = [...url.searchParams.keys()].filter((k) => CREDENTIAL_PARAM.test(k));
    if (credentialParams.length > 0) {
      problems.push({ path, message: `must not carry a credential in its query string (${credentialParams.join(', ')}): give the client secret as clientSecret, which is encrypted and never shown` });
    }
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
  // Paths as request validation names them (body/…), so a caller reads one form.
  check('body/issuer', input.issuer, 'endpoint');
  check('body/authorizationEndpoint', input.authorizationEndpoint, 'endpoint');
  check('body/tokenEndpoint', input.tokenEndpoint, 'endpoint');
  check('body/revocationEndpoint', input.revocationEndpoint, 'endpoint');
  check('body/introspectionEndpoint', input.introspectionEndpoint, 'endpoint');
  input.apiBaseUrls.forEach((u, i) => check(`body/apiBaseUrls/${i}`, u, 'api'));
  (input.scopeRules ?? []).forEach((r, i) => {
    if (!r.pathPattern.startsWith('/')) problems.push({ path: `body/scopeRules/${i}/pathPattern`, message: 'must start with /' });
  });
  problems.push(...checkScopeCatalogue(input.scopeCatalogue));
  return problems;
}

/** A scope catalogue names each scope once (its sensitivity must be unambiguous). */
export function checkScopeCatalogue(catalogue: readonly ScopeCatalogueEntry[] | undefined): ErrorDetail[] {
  const seen = new Set<string>();
  const problems: ErrorDetail[] = [];
  (catalogue ?? []).forEach((entry, i) => {
    if (seen.has(entry.name)) problems.push({ path: `body/scopeCatalogue/${i}/name`, message: `"${entry.name}" is listed more than once; give each scope one sensitivity` });
    seen.add(entry.name);
  });
  return problems;
}
