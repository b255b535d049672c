import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { bearer, keyFor, startHarness, type Harness } from '../../test/support/harness.ts';
import { browserCookie, consent, startTestIssuer, type TestIssuer } from '../../test/support/oidc.ts';

const PUBLIC_URL = 'http://127.0.0.1:7420';

/**
 * Consent from a plain browser: a platform user makes a link, a customer administrator opens it
 * with no API key, and the consent is bound to that browser by an httpOnly cookie.
 */
describeEachDatabase('connect links', (kind) => {
  let issuer: TestIssuer;
  let h: Harness;
  let tenantId: string;
  let providerId: string;
  let key: string;

  beforeAll(async () => {
    issuer = await startTestIssuer({ redirectUris: [`${PUBLIC_URL}/oauth/callback`] });
    h = await startHarness(kind, { env: { CUSTODY_PUBLIC_URL: PUBLIC_URL } });
    tenantId = (await h.custody.tenants.create(h.admin, { name: `acme-${randomBytes(3).toString('hex')}` })).id;
    key = await keyFor(h, 'tenant_admin', tenantId);
    providerId = (await h.custody.providers.create(h.admin, { name: 'issuer', issuer: issuer.issuer, development: true, clientId: issuer.clientId, clientSecret: issuer.clientSecret, apiBaseUrls: ['https://api.example.com/'] })).id;
  });
  afterAll(async () => {
    await h?.close();
    await issuer?.close();
  });

  const makeLink = async (extra: Record<string, unknown> = {}) => {
    const r = await h.app.inject({ method: 'POST', url: '/v1/connect-links', headers: bearer(key), payload: { providerId, tenantId, owner: 'team-integrations', purpose: 'invoice sync', scopes: ['api:read'], ...extra } });
    expect(r.statusCode, r.body).toBe(201);
    expect(r.headers['cache-control']).toBe('no-store');
    return r.json() as { id: string; url: string; expiresAt: string };
  };
  /** What a browser does with the link: opens it (a page), and presses its button (a form POST), to be sent to the issuer with a cookie. */
  const view = (url: string) => h.app.inject({ url: url.slice(PUBLIC_URL.length) });
  const open = (url: string) => h.app.inject({ method: 'POST', url: url.slice(PUBLIC_URL.length), headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '' });
  const callback = (callbackUrl: string, cookie?: string) => h.app.inject({ url: callbackUrl.slice(PUBLIC_URL.length), headers: cookie ? { cookie } : {} });

  it('makes a single-use link; opened in a plain browser it runs the consent and records the approver', async () => {
    const link = await makeLink();
    expect(link.url).toMatch(new RegExp(`^${PUBLIC_URL}/connect/[A-Za-z0-9_-]{43}$`));
    const code = link.url.split('/').pop()!;
    // Only a hash of the code is kept; it is in no ledger entry.
    const ledgerText = JSON.stringify(await h.custody.ledger.list({ tenantId, order: 'asc', limit: 1000 }));
    expect(ledgerText).not.toContain(code);
    const rows = await h.custody.storage.db.selectFrom('connect_links').selectAll().where('id', '=', link.id).execute();
    expect(JSON.stringify(rows)).not.toContain(code);

    // Looking at the link (a person, a mail scanner, a chat preview) changes nothing.
    const before = await h.custody.ledger.head();
    for (const method of ['GET', 'HEAD'] as const) {
      const page = await h.app.inject({ method, url: link.url.slice(PUBLIC_URL.length) });
      expect(page.statusCode).toBe(200);
      expect(page.headers['set-cookie']).toBeUndefined();
    }
    const page = await view(link.url);
    expect(page.body).toContain('Approve access for acme-');
    expect(page.body).toContain('<strong>issuer</strong>');
    expect(page.body).toContain('data-custody="continue"');
    expect(await h.custody.ledger.head()).toEqual(before);

    const opened = await open(link.url);
    expect(opened.statusCode).toBe(303);
    expect(String(opened.headers.location)).toMatch(new RegExp(`^${issuer.issuer}/auth\\?`));
    const setCookie = String(opened.headers['set-cookie']);
    expect(setCookie).toMatch(/^custody_consent_flw_[0-9A-Z]{26}=[A-Za-z0-9_-]{43}; Max-Age=\d+; Path=\/oauth\/callback; HttpOnly; SameSite=Lax$/);

    const account = `admin-${randomBytes(3).toString('hex')}`;
    const back = await consent(String(opened.headers.location), account, `${PUBLIC_URL}/oauth/callback`);
    const done = await callback(back, browserCookie(opened.headers['set-cookie']));
    expect(done.statusCode, done.body).toBe(200);
    expect(String(done.headers['set-cookie'])).toContain('Max-Age=0');
    const tokenId = /\((tok_[0-9A-Z]{26})\)/.exec(done.body)![1]!;
    const t = (await h.app.inject({ url: `/v1/tokens/${tokenId}`, headers: bearer(key) })).json();
    expect(t).toMatchObject({ tenantId, providerId, owner: 'team-integrations', purpose: 'invoice sync', subject: account, approver: { subject: account, email: `${account}@customer.example` } });
    // Started on behalf of whoever made the link.
    expect(t.approver.startedBy).toMatch(/^apikey:key_/);
    const actions = (await h.custody.ledger.list({ subjectId: link.id, order: 'asc', limit: 10 })).map((e) => e.action);
    expect(actions).toEqual(['oauth.connect_link_created', 'oauth.connect_link_opened']);

    // Used up: looking at it again, or pressing the button again, explains and starts nothing.
    const flowsBefore = (await h.custody.storage.db.selectFrom('oauth_flows').select('id').execute()).length;
    for (const again of [await view(link.url), await open(link.url)]) {
      expect(again.statusCode).toBe(410);
      expect(again.headers['content-type']).toContain('text/html');
      expect(again.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(again.headers['x-frame-options']).toBe('DENY');
      expect(again.body).toContain('link_used');
    }
    expect((await h.custody.storage.db.selectFrom('oauth_flows').select('id').execute()).length).toBe(flowsBefore);
  });

  it('refuses to finish the consent in another browser (no or wrong cookie): no record, a ledgered failure', async () => {
    const link = await makeLink();
    const opened = await open(link.url);
    const account = `admin-${randomBytes(3).toString('hex')}`;
    const back = await consent(String(opened.headers.location), account, `${PUBLIC_URL}/oauth/callback`);
    const cookieName = browserCookie(opened.headers['set-cookie']).split('=')[0]!;
    const elsewhere = await callback(back, `${cookieName}=${randomBytes(32).toString('base64url')}`);
    expect(elsewhere.statusCode).toBe(400);
    expect(elsewhere.body).toContain('browser_mismatch');
    expect((await h.custody.tokens.list(h.admin, { tenantId, q: account, limit: 10 })).items).toEqual([]);
    const failed = await h.custody.ledger.list({ tenantId, action: 'oauth.consent_failed', order: 'desc', limit: 1 });
    expect(failed[0]!.data).toMatchObject({ error: 'browser_mismatch' });
    // Refused without using the flow up: the browser that started it can still finish it.
    const right = await callback(back, browserCookie(opened.headers['set-cookie']));
    expect(right.statusCode, right.body).toBe(200);
  });

  it('binds a consent started through the API to the caller too', async () => {
    const started = await h.app.inject({ url: `/v1/connect/${providerId}?tenantId=${tenantId}&owner=o`, headers: bearer(key) });
    expect(started.statusCode).toBe(302);
    expect(String(started.headers['set-cookie'])).toContain('HttpOnly');
    const back = await consent(String(started.headers.location), `admin-${randomBytes(3).toString('hex')}`, `${PUBLIC_URL}/oauth/callback`);
    const withoutCookie = await callback(back);
    expect(withoutCookie.statusCode).toBe(400);
    expect(withoutCookie.body).toContain('browser_mismatch');
  });

  it('says an expired link has expired, and an unknown one is unknown, writing nothing for the unknown one', async () => {
    const link = await makeLink({ expiresInMinutes: 5 });
    // Time passes: the link's expiry is now behind us.
    await h.custody.storage.db.updateTable('connect_links').set({ expires_at: '2020-01-01T00:00:00.000Z' }).where('id', '=', link.id).execute();
    const expired = await open(link.url);
    expect(expired.statusCode).toBe(410);
    expect(expired.body).toContain('link_expired');

    const before = await h.custody.ledger.head();
    for (const code of [randomBytes(32).toString('base64url'), 'short', '%E2%9C%93'.repeat(5), '..%2F..%2Fadmin']) {
      for (const attempt of [view, open]) {
        const unknown = await attempt(`${PUBLIC_URL}/connect/${code}`);
        expect(unknown.statusCode, code).toBe(404);
        expect(unknown.headers['content-type']).toContain('text/html');
        expect(unknown.body).toContain('unknown_link');
      }
    }
    expect(await h.custody.ledger.head()).toEqual(before);
  });

  it('lists links without their codes, withdraws an unused one, and stops a link whose maker’s key was revoked', async () => {
    const link = await makeLink();
    const listed = (await h.app.inject({ url: `/v1/connect-links?status=pending`, headers: bearer(key) })).json().items;
    expect(listed.map((l: { id: string }) => l.id)).toContain(link.id);
    expect(JSON.stringify(listed)).not.toContain(link.url.split('/').pop());
    const withdrawn = await h.app.inject({ method: 'POST', url: `/v1/connect-links/${link.id}/revoke`, headers: bearer(key), payload: { reason: 'sent to the wrong person' } });
    expect(withdrawn.json()).toMatchObject({ id: link.id, status: 'revoked' });
    expect((await open(link.url)).body).toContain('link_revoked');
    const twice = await h.app.inject({ method: 'POST', url: `/v1/connect-links/${link.id}/revoke`, headers: bearer(key), payload: { reason: 'again' } });
    expect(twice.json().error.code).toBe('illegal_transition');

    const makerKey = await keyFor(h, 'tenant_admin', tenantId);
    const made = await h.app.inject({ method: 'POST', url: '/v1/connect-links', headers: bearer(makerKey), payload: { providerId, tenantId, owner: 'o' } });
    const makerId = `key_${makerKey.slice(4, 30)}`;
    await h.custody.apiKeys.revoke(h.admin, makerId);
    const stale = await open(made.json().url);
    expect(stale.statusCode).toBe(410);
    expect(stale.body).toContain('link_maker_revoked');
  });

  it('refuses a scope the issuer does not support, naming the ones it does', async () => {
    const r = await h.app.inject({ method: 'POST', url: '/v1/connect-links', headers: bearer(key), payload: { providerId, tenantId, owner: 'o', scopes: ['invoices.read'] } });
    expect(r.statusCode).toBe(400);
    expect(r.json().error.message).toContain('does not support "invoices.read"');
    expect(r.json().error.message).toContain('api:read');
  });

  it('refuses a link for another tenant, an unknown provider and a bad lifetime, each with its code', async () => {
    const other = (await h.custody.tenants.create(h.admin, { name: `globex-${randomBytes(3).toString('hex')}` })).id;
    const post = (payload: Record<string, unknown>) => h.app.inject({ method: 'POST', url: '/v1/connect-links', headers: bearer(key), payload: { providerId, tenantId, owner: 'o', ...payload } });
    expect((await post({ tenantId: other })).json().error.code).toBe('tenant_not_found');
    const noIssuer = (await h.custody.providers.create(h.admin, { name: `plain-${randomBytes(3).toString('hex')}`, tokenEndpoint: 'https://as.example.com/token', clientId: 'c', apiBaseUrls: ['https://api.example.com'] })).id;
    expect((await post({ providerId: noIssuer })).json().error.code).toBe('consent_not_supported');
    const bad = await post({ expiresInMinutes: 1 });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.details[0]).toMatchObject({ path: 'body/expiresInMinutes', message: 'must be at least 5' });
  });
});
