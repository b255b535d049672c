import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

/**
 * A real OpenID provider (oidc-provider) on loopback for the OAuth tests and benchmarks: code +
 * PKCE, refresh with rotation, revocation (RFC 7009), introspection (RFC 7662). Its dev
 * login/consent forms are driven by `consent()` below. Request counts let tests assert "exactly one
 * refresh" at the issuer.
 */
export interface TestIssuer {
  issuer: string;
  clientId: string;
  clientSecret: string;
  provider: Provider;
  counts: { refresh: number; revocation: number; introspection: number; authorizationCode: number };
  /** The `scope` parameter of each refresh the issuer granted, in order (undefined: none sent). */
  refreshScopes: (string | undefined)[];
  close(): Promise<void>;
}

export const TEST_CLIENT_ID = 'custody-test-client';
export const TEST_CLIENT_SECRET = 'custody-test-client-secret-0123456789';

/**
 * Accounts are made up on login. Their email follows their name: `unverified-…` has an email the
 * issuer has not verified, `noemail-…` has none; any other is verified. With `idTokenClaims:
 * 'subject'`, the ID token names only the subject and the email is at the userinfo endpoint (as
 * an issuer that conforms strictly to OpenID Connect's code flow does).
 */
export async function startTestIssuer(opts: {
  redirectUris: string[];
  accessTokenTtl?: number;
  idTokenClaims?: 'email' | 'subject';
  /**
   * Scopes the issuer's code-exchange response claims beyond what it granted (an issuer that
   * over-grants). oidc-provider never grants more than the authorization request asked for, so this
   * rewrites only the `scope` field of its token response: the tokens themselves are unchanged.
   */
  claimExtraScopes?: () => string[];
}): Promise<TestIssuer> {
  const counts = { refresh: 0, revocation: 0, introspection: 0, authorizationCode: 0 };
  const refreshScopes: (string | undefined)[] = [];
  let handler: http.RequestListener = (_req, res) => res.writeHead(503).end();
  const server = http.createServer((req, res) => {
    if (req.method === 'POST' && req.url?.startsWith('/token/revocation')) counts.revocation++;
    if (req.method === 'POST' && req.url?.startsWith('/token/introspection')) counts.introspection++;
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: TEST_CLIENT_ID,
        client_secret: TEST_CLIENT_SECRET,
        redirect_uris: opts.redirectUris,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    async findAccount(_ctx: unknown, id: string) {
      const email = id.startsWith('noemail-') ? {} : { email: `${id}@customer.example`, email_verified: !id.startsWith('unverified-') };
      return { accountId: id, claims: async () => ({ sub: id, ...email }) };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    scopes: ['openid', 'offline_access', 'email', 'api:read', 'api:write'],
    // Real issuers (Google, Microsoft) put email in the ID token of a code flow; so does this one.
    conformIdTokenClaims: opts.idTokenClaims === 'subject',
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true, allowedPolicy: () => true },
      introspection: { enabled: true, allowedPolicy: () => true },
    },
    pkce: { required: () => true },
    rotateRefreshToken: true,
    ttl: { IdToken: 3600, AccessToken: opts.accessTokenTtl ?? 3600, RefreshToken: 14 * 86400, AuthorizationCode: 60, Grant: 14 * 86400, Session: 3600, Interaction: 600 },
    cookies: { keys: ['custody-test-cookie-key'] },
  });
  provider.on('grant.success', (ctx: { oidc: { params?: { grant_type?: string } } }) => {
    const grantType = ctx.oidc.params?.grant_type;
    if (grantType === 'refresh_token') {
      counts.refresh++;
      refreshScopes.push((ctx.oidc.params as { scope?: string } | undefined)?.scope);
    }
    if (grantType === 'authorization_code') counts.authorizationCode++;
  });
  // Quiet: expected protocol errors (invalid_grant in tests) are not noise worth printing.
  provider.on('server_error', () => {});
  if (opts.claimExtraScopes) {
    const extra = opts.claimExtraScopes;
    provider.use(async (ctx, next) => {
      await next();
      const body = ctx.body as { scope?: string } | undefined;
      // The code exchange only: a refresh answers truthfully.
      if (ctx.path === '/token' && ctx.oidc?.params?.grant_type === 'authorization_code' && body && typeof body.scope === 'string' && extra().length > 0) {
        body.scope = [...new Set([...body.scope.split(' '), ...extra()])].join(' ');
      }
    });
  }
  handler = provider.callback();
  return {
    issuer,
    clientId: TEST_CLIENT_ID,
    clientSecret: TEST_CLIENT_SECRET,
    provider,
    counts,
    refreshScopes,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Plays the customer administrator in a browser: follows redirects by hand with a cookie jar per
 * host (as a browser keeps them), posts the provider's login and consent forms, and returns the URL
 * the issuer sends back to Custody (`callbackPrefix…?code=…&state=…`) without opening it.
 * `deny` aborts at the first interaction instead. With `finish`, it opens that URL too (carrying
 * the cookies Custody set earlier in this browser) and returns the page Custody answers with.
 */
export async function consent(authorizationUrl: string, account: string, callbackPrefix: string, opts: { deny?: boolean } = {}): Promise<string> {
  return (await browse(authorizationUrl, account, callbackPrefix, { ...opts, finish: false })).callbackUrl;
}

/** A browser (see consent) that also opens the callback and reads Custody's final page. */
export async function openInBrowser(url: string, account: string, callbackPrefix: string, opts: { deny?: boolean } = {}): Promise<{ callbackUrl: string; status: number; html: string }> {
  return browse(url, account, callbackPrefix, { ...opts, finish: true });
}

async function browse(startUrl: string, account: string, callbackPrefix: string, opts: { deny?: boolean; finish: boolean }): Promise<{ callbackUrl: string; status: number; html: string }> {
  const jars = new Map<string, Map<string, string>>();
  const jarOf = (u: string) => {
    const host = new URL(u).host;
    let jar = jars.get(host);
    if (!jar) jars.set(host, (jar = new Map()));
    return jar;
  };
  let url = startUrl;
  let init: { method: string; body?: string } = { method: 'GET' };
  let callbackUrl = '';
  for (let hop = 0; hop < 25; hop++) {
    const jar = jarOf(url);
    const headers: Record<string, string> = { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
    if (init.method === 'POST') headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(c) || /max-age=0/i.test(c)) jar.delete(name);
      else jar.set(name, value);
    }
    if (callbackUrl) return { callbackUrl, status: res.status, html: await res.text() };
    if (res.status >= 300 && res.status < 400) {
      await res.arrayBuffer();
      const next = new URL(res.headers.get('location')!, url).toString();
      if (next.startsWith(callbackPrefix)) {
        if (!opts.finish) return { callbackUrl: next, status: res.status, html: '' };
        callbackUrl = next;
      }
      url = next;
      init = { method: 'GET' };
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`answered ${res.status} at ${url}: ${html.slice(0, 300)}`);
    // Custody's consent-link page: the person reads it and presses the button (a POST to the same address).
    if (html.includes('data-custody="continue"')) {
      init = { method: 'POST', body: '' };
      continue;
    }
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    const prompt = /name="prompt" value="([^"]+)"/.exec(html)?.[1];
    if (!action || !prompt) throw new Error(`no interaction form at ${url}`);
    const formUrl = new URL(action.replace(/&amp;/g, '&'), url);
    if (opts.deny) {
      // The dev interactions' "cancel" link: ends the request with access_denied.
      url = new URL(`${formUrl.pathname.replace(/\/(login|confirm)$/, '')}/abort`, url).toString();
      init = { method: 'GET' };
      continue;
    }
    url = formUrl.toString();
    init = { method: 'POST', body: new URLSearchParams(prompt === 'login' ? { prompt, login: account, password: 'any' } : { prompt }).toString() };
  }
  throw new Error('consent did not finish in 25 hops');
}

/** `pass` lets one request through, in its place in the queue. */
export type Fault = { kind: '503'; retryAfter?: string } | { kind: 'hang' } | { kind: 'pass' };

/**
 * A small forwarder in front of the issuer that injects faults per path: each request to a path
 * takes the next queued fault, or passes through when none is queued. `received` counts arrivals.
 */
export async function startFaultForwarder(target: string) {
  const faults = new Map<string, Fault[]>();
  const received = new Map<string, number>();
  const hung = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    received.set(path, (received.get(path) ?? 0) + 1);
    const fault = faults.get(path)?.shift();
    if (fault?.kind === '503') {
      req.resume();
      res.writeHead(503, { 'content-type': 'application/json', ...(fault.retryAfter ? { 'retry-after': fault.retryAfter } : {}) });
      res.end(JSON.stringify({ error: 'temporarily_unavailable' }));
      return;
    }
    if (fault?.kind === 'hang') {
      req.resume();
      hung.add(res);
      return;
    }
    const upstream = http.request(new URL(req.url ?? '/', target), { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    received,
    inject(path: string, ...queued: Fault[]) {
      faults.set(path, [...(faults.get(path) ?? []), ...queued]);
    },
    clear(path: string) {
      faults.delete(path);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const r of hung) r.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The Cookie header a browser sends back for the Set-Cookie headers it was given (name=value pairs). */
export function browserCookie(setCookie: unknown): string {
  const list = Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : [];
  return list.map((c) => String(c).split(';')[0]).join('; ');
}

/** Minimal shape of the harness this helper needs (kept structural so the harness stays independent). */
interface InjectingApp {
  inject(opts: { method: 'GET'; url: string; headers?: Record<string, string> }): Promise<{ statusCode: number; headers: Record<string, unknown>; body: string }>;
}

/**
 * The whole consent through Custody's API: GET /v1/connect (as `key`), the customer approving as
 * `account` at the issuer, then the issuer's redirect delivered to /oauth/callback. Returns the
 * callback's status and page, and the token id it names on success.
 */
export async function connectThroughCustody(
  app: InjectingApp,
  opts: { key: string; providerId: string; tenantId: string; account: string; publicUrl: string; owner?: string; purpose?: string; scope?: string; deny?: boolean },
): Promise<{ status: number; html: string; tokenId: string | null; callbackUrl: string }> {
  const q = new URLSearchParams({ tenantId: opts.tenantId, owner: opts.owner ?? 'team-integrations', purpose: opts.purpose ?? 'sync invoices' });
  if (opts.scope) q.set('scope', opts.scope);
  const started = await app.inject({ method: 'GET', url: `/v1/connect/${opts.providerId}?${q}`, headers: { authorization: `Bearer ${opts.key}` } });
  if (started.statusCode !== 302) throw new Error(`connect answered ${started.statusCode}: ${started.body}`);
  const callbackPrefix = `${opts.publicUrl}/oauth/callback`;
  const callbackUrl = await consent(String(started.headers.location), opts.account, callbackPrefix, { deny: opts.deny ?? false });
  // The browser that started the consent carries its binding cookie back to the callback.
  const done = await app.inject({ method: 'GET', url: callbackUrl.slice(opts.publicUrl.length), headers: { cookie: browserCookie(started.headers['set-cookie']) } });
  return { status: done.statusCode, html: done.body, tokenId: /\((tok_[0-9A-Z]{26})\)/.exec(done.body)?.[1] ?? null, callbackUrl };
}
