import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import Provider from 'oidc-provider';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consoleDir } from '../../src/http/console.ts';
import { launchBrowser, openPage, seriousAxeViolations } from '../support/browser.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { seed, startHarness, testKeyring, type Harness, type Seeded } from '../support/harness.ts';
import { browserCookie, consent } from '../support/oidc.ts';

/**
 * Single sign-on to the console against a real OpenID provider (oidc-provider) on loopback, driven
 * by fetch with manual redirects: the person's `groups` claim picks their role and tenant.
 */
/** Custody's port, chosen before the issuer starts: the issuer registers the callback under it. */
async function freePort(): Promise<number> {
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
const PUBLIC_URL = `http://127.0.0.1:${await freePort()}`;
const CALLBACK = `${PUBLIC_URL}/v1/session/sso/callback`;
const CONSOLE_DIR = process.env.CUSTODY_CONSOLE_DIR ?? consoleDir();
const CLIENT_ID = 'custody-console';
const CLIENT_SECRET = 'custody-console-client-secret-0123456789';
/** Who exists at the issuer: account → groups. */
const GROUPS: Record<string, string[]> = {
  'sec-alice': ['everyone', 'custody-security'],
  'acme-bob': ['acme-admins'],
  'nobody-carol': ['marketing'],
};

async function startGroupsIssuer() {
  let handler: http.RequestListener = (_req, res) => res.writeHead(503).end();
  const server = http.createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [CALLBACK], grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' }],
    async findAccount(_ctx: unknown, id: string) {
      return { accountId: id, claims: async () => ({ sub: id, email: `${id}@customer.example`, email_verified: true, name: id, groups: GROUPS[id] ?? [] }) };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
    scopes: ['openid', 'email', 'profile', 'groups'],
    features: { devInteractions: { enabled: true } },
    pkce: { required: () => true },
    cookies: { keys: ['custody-sso-test-cookie-key'] },
  });
  provider.on('server_error', () => {});
  handler = provider.callback();
  return {
    issuer,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('console single sign-on through OpenID Connect (sqlite)', () => {
  let issuer: Awaited<ReturnType<typeof startGroupsIssuer>>;
  let db: TestDatabase;
  let h: Harness;
  let s: Seeded;
  let browser: Browser | undefined;
  let keyring: string;
  /** Real time (the issuer's tokens are stamped with it), moved forward where a test says so. */
  let skewMs = 0;
  const clock = { now: () => new Date(Date.now() + skewMs) };

  beforeAll(async () => {
    issuer = await startGroupsIssuer();
    db = await createTestDatabase('sqlite');
    keyring = testKeyring();
    // The tenants exist before the mapping names one: seed, then start again with single sign-on configured.
    const first = await startHarness('sqlite', { database: db, keyring });
    s = await seed(first);
    await first.close();
    h = await startHarness('sqlite', {
      database: db,
      keyring,
      clock,
      env: { CUSTODY_CONSOLE_DIR: CONSOLE_DIR, ...ssoEnv() },
    });
    await h.app.listen({ host: '127.0.0.1', port: Number(new URL(PUBLIC_URL).port) });
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
    await issuer?.close();
    await db?.drop();
  });

  function ssoEnv(): Record<string, string> {
    return {
      CUSTODY_PUBLIC_URL: PUBLIC_URL,
      CUSTODY_SSO_ISSUER: issuer.issuer,
      CUSTODY_SSO_CLIENT_ID: CLIENT_ID,
      CUSTODY_SSO_CLIENT_SECRET: CLIENT_SECRET,
      CUSTODY_SSO_ROLES: JSON.stringify({ 'custody-security': { role: 'security' }, 'acme-admins': { role: 'tenant_admin', tenantId: s.tenantA } }),
    };
  }
  const get = (url: string, cookie: string) => h.app.inject({ method: 'GET', url, headers: { cookie } });
  const codesSeen: string[] = [];
  const sessionsCount = async () => Number((await h.custody.storage.db.selectFrom('console_sessions').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
  const ledgerCount = async () => Number((await h.custody.storage.db.selectFrom('ledger_entries').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

  /** Presses the console's button, signs in at the issuer as `account`, and returns the callback URL and the flow cookie (not yet delivered). */
  async function throughIssuer(account: string) {
    const start = await h.app.inject({ method: 'GET', url: '/v1/session/sso/start' });
    expect(start.statusCode).toBe(302);
    const location = String(start.headers.location);
    const flowCookie = browserCookie(start.headers['set-cookie']);
    const callbackUrl = await consent(location, account, CALLBACK);
    codesSeen.push(new URL(callbackUrl).searchParams.get('code')!, new URL(callbackUrl).searchParams.get('state')!);
    return { start, location, flowCookie, callbackUrl };
  }

  const deliver = (callbackUrl: string, cookie: string) => h.app.inject({ method: 'GET', url: callbackUrl.slice(PUBLIC_URL.length), headers: { cookie } });
  const sessionCookieOf = (setCookie: unknown) => browserCookie(setCookie).split('; ').find((c) => c.startsWith('custody_session=') && c.length > 'custody_session='.length) ?? null;
  /** Console errors logged while the page showed Custody (the issuer's own pages log theirs: a missing favicon, the font). */
  const errorsOnCustodyPages = (page: Page) => {
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' && page.url().startsWith(PUBLIC_URL)) errors.push(`${page.url()}: ${m.text()}`);
    });
    return errors;
  };
  const ssoErrorOf = (location: unknown) => new URL(String(location), PUBLIC_URL).searchParams.get('sso_error');

  it('offers single sign-on on the sign-in options', async () => {
    const options = await h.app.inject({ method: 'GET', url: '/v1/session/options' });
    expect(options.json()).toEqual({ apiKey: true, sso: { issuer: issuer.issuer, startUrl: '/v1/session/sso/start' } });
    const doc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, { get?: { 'x-custody-roles'?: string[] } }> };
    for (const p of ['/v1/session/sso/start', '/v1/session/sso/callback']) expect(doc.paths[p]?.get?.['x-custody-roles'], p).toEqual([]);
  });

  it('starts with code + PKCE + state + nonce and a sealed, short-lived Lax cookie, writing nothing', async () => {
    const [sessionsBefore, ledgerBefore] = [await sessionsCount(), await ledgerCount()];
    const start = await h.app.inject({ method: 'GET', url: '/v1/session/sso/start' });
    expect(start.statusCode).toBe(302);
    const url = new URL(String(start.headers.location));
    expect(url.origin).toBe(issuer.issuer);
    expect(Object.fromEntries(url.searchParams)).toMatchObject({ client_id: CLIENT_ID, redirect_uri: CALLBACK, response_type: 'code', code_challenge_method: 'S256', scope: 'openid email profile groups' });
    for (const p of ['state', 'nonce', 'code_challenge']) expect(url.searchParams.get(p)).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    const setCookie = String(start.headers['set-cookie']);
    expect(setCookie).toMatch(/^custody_sso=[^;]+; Max-Age=600; Path=\/v1\/session\/sso; HttpOnly; SameSite=Lax$/);
    // Encrypted: neither the state nor the nonce can be read from it.
    expect(setCookie).not.toContain(url.searchParams.get('state'));
    expect(setCookie).not.toContain(url.searchParams.get('nonce'));
    expect([await sessionsCount(), await ledgerCount()]).toEqual([sessionsBefore, ledgerBefore]);
  });

  it('signs in a person whose groups map to security, acting as sso:<issuer host>:<sub>', async () => {
    const { flowCookie, callbackUrl } = await throughIssuer('sec-alice');
    const done = await deliver(callbackUrl, flowCookie);
    expect(done.statusCode).toBe(302);
    expect(done.headers.location).toBe('/');
    const cookie = sessionCookieOf(done.headers['set-cookie']);
    expect(cookie).not.toBeNull();
    expect(String(done.headers['set-cookie'])).toMatch(/custody_sso=; Max-Age=0/);
    const current = await h.app.inject({ method: 'GET', url: '/v1/session', headers: { cookie: cookie! } });
    expect(current.json().session).toMatchObject({ role: 'security', tenantId: null, name: 'sec-alice@customer.example', via: 'sso' });
    // Security sees both tenants' tokens.
    for (const id of [s.tokenA, s.tokenB]) expect((await h.app.inject({ method: 'GET', url: `/v1/tokens/${id}`, headers: { cookie: cookie! } })).statusCode).toBe(200);
    const entry = await h.custody.storage.db.selectFrom('ledger_entries').selectAll().where('action', '=', 'session.signed_in').orderBy('seq', 'desc').executeTakeFirstOrThrow();
    expect(entry.actor).toBe(`sso:${new URL(issuer.issuer).host}:sec-alice`);
    expect(JSON.parse(entry.data)).toMatchObject({ via: 'sso', role: 'security' });
  });

  it('maps a tenant administrator of tenant A who sees only A', async () => {
    const { flowCookie, callbackUrl } = await throughIssuer('acme-bob');
    const done = await deliver(callbackUrl, flowCookie);
    const cookie = sessionCookieOf(done.headers['set-cookie'])!;
    const current = await h.app.inject({ method: 'GET', url: '/v1/session', headers: { cookie } });
    expect(current.json().session).toMatchObject({ role: 'tenant_admin', tenantId: s.tenantA, via: 'sso' });
    expect((await h.app.inject({ method: 'GET', url: `/v1/tokens/${s.tokenA}`, headers: { cookie } })).statusCode).toBe(200);
    const other = await h.app.inject({ method: 'GET', url: `/v1/tokens/${s.tokenB}`, headers: { cookie } });
    expect(other.statusCode).toBe(404);
    expect(other.json().error.code).toBe('token_not_found');
  });

  it('refuses a person whose groups map to no role, with a clear message and no session', async () => {
    const before = await sessionsCount();
    const { flowCookie, callbackUrl } = await throughIssuer('nobody-carol');
    const done = await deliver(callbackUrl, flowCookie);
    expect(done.statusCode).toBe(302);
    // A fixed code in the URL (the page says its own words); the details, with who it was, in the log.
    expect(ssoErrorOf(done.headers.location)).toBe('not_mapped');
    expect(h.logs.join('')).toMatch(/nobody-carol@customer\.example is not allowed to use Custody: none of their groups is mapped to a role/);
    expect(sessionCookieOf(done.headers['set-cookie'])).toBeNull();
    expect(await sessionsCount()).toBe(before);
  });

  it('refuses a tampered flow cookie, a tampered state, a missing cookie and a flow begun in another browser', async () => {
    const before = await sessionsCount();
    const { flowCookie, callbackUrl } = await throughIssuer('sec-alice');
    const value = flowCookie.slice('custody_sso='.length);
    const flipped = value.slice(0, -5) + (value.at(-5) === 'A' ? 'B' : 'A') + value.slice(-4);
    const tamperedCookie = await deliver(callbackUrl, `custody_sso=${flipped}`);
    expect(ssoErrorOf(tamperedCookie.headers.location)).toBe('flow_invalid');
    const missing = await deliver(callbackUrl, '');
    expect(ssoErrorOf(missing.headers.location)).toBe('flow_missing');
    const url = new URL(callbackUrl);
    url.searchParams.set('state', `${url.searchParams.get('state')}x`);
    const tamperedState = await deliver(url.toString(), flowCookie);
    expect(ssoErrorOf(tamperedState.headers.location)).toBe('answer_mismatch');
    // Another browser's flow cookie (its own state) with this browser's code.
    const other = await h.app.inject({ method: 'GET', url: '/v1/session/sso/start' });
    const crossed = await deliver(callbackUrl, browserCookie(other.headers['set-cookie']));
    expect(ssoErrorOf(crossed.headers.location)).toBe('answer_mismatch');
    for (const r of [tamperedCookie, missing, tamperedState, crossed]) {
      expect(r.statusCode).toBe(302);
      expect(sessionCookieOf(r.headers['set-cookie'])).toBeNull();
    }
    expect(await sessionsCount()).toBe(before);
  });

  it('finishes on another instance a flow begun on this one (the flow key is shared through the vault)', async () => {
    const { flowCookie, callbackUrl } = await throughIssuer('sec-alice');
    const other = await startHarness('sqlite', { database: db, keyring, env: ssoEnv() });
    try {
      const done = await other.app.inject({ method: 'GET', url: callbackUrl.slice(PUBLIC_URL.length), headers: { cookie: flowCookie } });
      expect(done.headers.location).toBe('/');
      const cookie = sessionCookieOf(done.headers['set-cookie'])!;
      expect((await get('/v1/session', cookie)).json().session).toMatchObject({ role: 'security', via: 'sso' });
    } finally {
      await other.close();
    }
  });

  it('refuses a flow cookie older than 10 minutes', async () => {
    const { flowCookie, callbackUrl } = await throughIssuer('sec-alice');
    skewMs = 601_000;
    try {
      const late = await deliver(callbackUrl, flowCookie);
      expect(ssoErrorOf(late.headers.location)).toBe('flow_invalid');
      expect(sessionCookieOf(late.headers['set-cookie'])).toBeNull();
    } finally {
      skewMs = 0;
    }
  });

  it('refuses a replayed callback', async () => {
    const { flowCookie, callbackUrl } = await throughIssuer('sec-alice');
    const first = await deliver(callbackUrl, flowCookie);
    expect(sessionCookieOf(first.headers['set-cookie'])).not.toBeNull();
    const before = await sessionsCount();
    const replay = await deliver(callbackUrl, flowCookie);
    expect(replay.statusCode).toBe(302);
    expect(ssoErrorOf(replay.headers.location)).toBe('answer_invalid');
    expect(sessionCookieOf(replay.headers['set-cookie'])).toBeNull();
    expect(await sessionsCount()).toBe(before);
  });

  it('logs no code, cookie or client secret', () => {
    const logs = h.logs.join('');
    expect(logs).toContain('single sign-on refused');
    expect(logs).not.toContain(CLIENT_SECRET);
    expect(logs).not.toMatch(/custody_sso=|custody_session=/);
    expect(codesSeen.length).toBeGreaterThan(4);
    for (const c of codesSeen) expect(logs).not.toContain(c);
  });
  it.skipIf(!existsSync(path.join(CONSOLE_DIR, 'index.html')))('signs in from the console’s button in Chromium, and shows a refusal on the sign-in page', async () => {
    browser = await launchBrowser();
    const { context, page, problems } = await openPage(browser, PUBLIC_URL);
    const custodyErrors = errorsOnCustodyPages(page);
    await page.goto('/');
    const button = page.getByRole('link', { name: `Sign in with single sign-on (${new URL(issuer.issuer).host})` });
    await button.click();
    // The issuer's own (development) login and consent pages.
    await page.locator('input[name="login"]').fill('sec-alice');
    await page.locator('input[name="password"]').fill('any');
    await page.locator('button[type="submit"]').click();
    await page.locator('button[type="submit"]').click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    expect(page.url()).toBe(`${PUBLIC_URL}/`);
    // Cookies are not kept apart by port: the issuer's (on the same 127.0.0.1) are in the jar too. Custody's flow cookie is gone.
    const cookies = (await context.cookies(PUBLIC_URL)).filter((c) => c.name.startsWith('custody_'));
    expect(cookies.map((c) => [c.name, c.httpOnly, c.sameSite])).toEqual([['custody_session', true, 'Strict']]);
    expect(await seriousAxeViolations(page)).toEqual([]);
    await context.close();

    // An unmapped person lands back on the sign-in page with the reason.
    const second = await openPage(browser, PUBLIC_URL);
    const secondErrors = errorsOnCustodyPages(second.page);
    await second.page.goto('/');
    await second.page.getByRole('link', { name: /Sign in with single sign-on/ }).click();
    await second.page.locator('input[name="login"]').fill('nobody-carol');
    await second.page.locator('input[name="password"]').fill('any');
    await second.page.locator('button[type="submit"]').click();
    await second.page.locator('button[type="submit"]').click();
    await second.page.getByText(/none of its groups is allowed to use Custody/).waitFor();
    // Only the page's own words: a URL carrying other text shows the generic message.
    await second.page.goto('/?sso_error=Custody%20has%20moved%2C%20sign%20in%20at%20evil.example');
    await second.page.getByText('Single sign-on did not complete. Start again.').waitFor();
    expect(await second.page.content()).not.toContain('evil.example');
    expect(new URL(second.page.url()).search).toBe('');
    expect(await second.page.getByLabel('API key').isVisible()).toBe(true);
    await second.context.close();

    // Besides Custody's own, only the issuer's pages were requested (its development login page asks
    // Google for a font, which this sandbox cannot reach: that is the issuer's doing, not Custody's).
    const issuersFont = (u: string) => u.includes('https://fonts.googleapis.com/');
    for (const p of [problems, second.problems]) {
      expect(p.foreignRequests.filter((u) => !u.startsWith(issuer.issuer) && !issuersFont(u))).toEqual([]);
      expect(p.failedRequests.filter((u) => !issuersFont(u))).toEqual([]);
      expect(p.pageErrors).toEqual([]);
    }
    expect([...custodyErrors, ...secondErrors]).toEqual([]);
  });
});
