import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fixedClock } from '../shared/clock.ts';
import { Secret } from '../shared/secret.ts';
import type { RegisterTokenInput } from '../tokens/token.types.ts';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { bearer, keyFor, startHarness, type Harness } from '../../test/support/harness.ts';
import { browserCookie, consent, startTestIssuer, type TestIssuer } from '../../test/support/oidc.ts';
import type { Notifier, NoticeDelivery } from './notice.service.ts';

/**
 * Governance II on a fixed clock against a real issuer (oidc-provider), both databases: a dormant
 * token gets a notice, is suspended by policy after the grace, and the customer's administrator
 * restores it through the notice's link (the issuer's forms posted as that administrator) — active
 * again in place, approver renewed, finding resolved. Audit mode ledgers each would-be step and
 * changes nothing; a forbidden scope suspends at once; an exception holds enforcement until it
 * expires; justification and periodic reauthorisation of a token in use; another customer's
 * administrator is refused; links are single-use, expire, and belong to one browser.
 */
const PUBLIC_URL = 'http://127.0.0.1:7420';
const NOW = new Date('2026-12-01T00:00:00.000Z');
const DAY = 86_400_000;
const at = (days: number) => new Date(NOW.getTime() + days * DAY).toISOString();

describeEachDatabase('enforcement with notice', (kind) => {
  const clock = fixedClock(NOW);
  let issuer: TestIssuer;
  let h: Harness;
  let providerId: string;
  const delivered: NoticeDelivery[] = [];
  const recording: Notifier = { name: 'test', deliver: async (n) => void delivered.push(n) };

  beforeAll(async () => {
    issuer = await startTestIssuer({ redirectUris: [`${PUBLIC_URL}/oauth/callback`] });
    h = await startHarness(kind, { clock, env: { CUSTODY_PUBLIC_URL: PUBLIC_URL }, notifiers: [recording] });
    providerId = (await h.custody.providers.create(h.admin, { name: 'issuer', issuer: issuer.issuer, development: true, clientId: issuer.clientId, clientSecret: issuer.clientSecret, apiBaseUrls: ['https://api.example.com/'] })).id;
    await h.custody.directory.createOwner(h.admin, { name: 'alice', kind: 'person', contact: 'alice@platform.example' });
    // Enforcement on, a week's notice; nothing else in the way of these tokens.
    await h.custody.policy.putGlobal(h.admin, { mode: 'enforce', dormantAfterDays: 30, graceDays: 7, reviewIntervalDays: 180, reauthorizeEveryDays: 365, maxRefreshTokenAgeDays: null, maxAccessTokenTtlMinutes: null });
    // The change started a sweep; let it finish before the clock moves.
    await h.custody.findings.sweep();
  });
  afterAll(async () => {
    await h?.close();
    await issuer?.close();
  });

  const tenant = async (name: string) => (await h.custody.tenants.create(h.admin, { name: `${name}-${randomBytes(3).toString('hex')}` })).id;
  /** A token of `tenantId` approved by `account` at the issuer, issued now, nothing wrong with it yet. */
  const token = async (tenantId: string, account: string, over: Partial<RegisterTokenInput> = {}) =>
    (
      await h.custody.tokens.register(h.admin, {
        tenantId,
        providerId,
        owner: 'alice',
        subject: account,
        approver: { subject: account, email: `${account}@customer.example`, approvedAt: clock.now().toISOString() },
        purpose: 'sync invoices',
        workloads: [],
        scopes: ['api:read'],
        accessToken: new Secret(`at-${randomBytes(6).toString('hex')}`),
        refreshToken: new Secret(`rt-${randomBytes(6).toString('hex')}`),
        issuedAt: clock.now().toISOString(),
        accessExpiresAt: new Date(clock.now().getTime() + 3600_000).toISOString(),
        ...over,
      })
    ).id;
  const sweep = async () => {
    await h.custody.findings.settled();
    return h.custody.findings.sweep();
  };
  /** What a sweep does for these tokens, without sweeping everything (faster): judge them, then an enforcement pass. */
  const judge = async (...ids: string[]) => {
    await h.custody.findings.settled();
    await h.custody.findings.evaluateTokens(ids);
    return h.custody.enforcement.pass();
  };
  const finding = async (tokenId: string, type: string) => (await h.custody.findingQueries.list(h.admin, { tokenId, limit: 100 })).items.find((f) => f.type === type);
  const state = async (tokenId: string) => (await h.custody.tokens.get(h.admin, tokenId)).state;
  const actions = async (tokenId: string) => (await h.custody.ledger.list({ subjectId: tokenId, order: 'asc', limit: 500 })).map((e) => e.action);

  /** A customer administrator's browser: opens the link, presses Continue, signs in at the issuer as `account` and approves; returns Custody's final page. */
  const reauthoriseThrough = async (url: string, account: string) => {
    const opened = await h.app.inject({ method: 'POST', url: url.slice(PUBLIC_URL.length), headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '' });
    expect(opened.statusCode, opened.body).toBe(303);
    const back = await consent(String(opened.headers.location), account, `${PUBLIC_URL}/oauth/callback`);
    return h.app.inject({ url: back.slice(PUBLIC_URL.length), headers: { cookie: browserCookie(opened.headers['set-cookie']) } });
  };

  it('gives notice of dormancy, suspends after the grace, and the customer restores the token in place through the link', async () => {
    clock.set(NOW);
    const A = await tenant('acme');
    const adminKey = await keyFor(h, 'tenant_admin', A);
    const account = `admin-${randomBytes(3).toString('hex')}`;
    const id = await token(A, account);

    // 31 days without use: dormant; a notice, a deadline a week ahead, nothing suspended yet.
    clock.set(new Date(at(31)));
    const first = await sweep();
    expect(first.enforcement).toMatchObject({ notified: 1, suspended: 0 });
    const dormant = (await finding(id, 'dormant'))!;
    expect(dormant.enforcement).toMatchObject({ stage: 'notified', nextActionAt: at(38) });
    expect(await state(id)).toBe('active');
    const notices = (await h.app.inject({ url: `/v1/notices?tokenId=${id}`, headers: bearer(adminKey) })).json().items;
    expect(notices).toHaveLength(1);
    const notice = notices[0];
    expect(notice).toMatchObject({ tokenId: id, tenantId: A, findingId: dormant.id, findingType: 'dormant', action: 'suspend', deadline: at(38), delivery: 'pending' });
    expect(notice.recipients).toEqual([
      { kind: 'owner', name: 'alice', address: 'alice@platform.example' },
      { kind: 'approver', name: account, address: `${account}@customer.example` },
    ]);
    expect(notice.message).toMatch(/will be suspended by policy \(dormant\) on 2027-01-08/);
    expect(notice.link.url).toMatch(new RegExp(`^${PUBLIC_URL}/connect/[A-Za-z0-9_-]{43}$`));
    // An auditor reads the notice, not the link (a bearer of the consent).
    const auditor = await keyFor(h, 'auditor');
    expect((await h.app.inject({ url: `/v1/notices/${notice.id}`, headers: bearer(auditor) })).json().link).toMatchObject({ url: null });
    // Another tenant's administrator: not found.
    const otherAdmin = await keyFor(h, 'tenant_admin', await tenant('other'));
    expect((await h.app.inject({ url: `/v1/notices/${notice.id}`, headers: bearer(otherAdmin) })).statusCode).toBe(404);
    expect((await h.app.inject({ url: `/v1/notices?tokenId=${id}`, headers: bearer(otherAdmin) })).json().items).toEqual([]);

    // Delivered through the outbox to every notifier; the log names the notice, never the link.
    await h.custody.outbox.runOnce();
    expect(delivered.filter((n) => n.noticeId === notice.id)).toEqual([expect.objectContaining({ tokenId: id, link: { url: notice.link.url, expiresAt: notice.link.expiresAt } })]);
    expect((await h.custody.notices.get(h.admin, notice.id)).delivery).toBe('delivered');
    const code = notice.link.url.split('/').pop();
    expect(h.logs.join('')).toContain(`"notice":"${notice.id}"`);
    expect(h.logs.join('')).not.toContain(code);
    expect(JSON.stringify(await h.custody.ledger.list({ subjectId: id, order: 'asc', limit: 100 }))).not.toContain(code);

    // Not before the deadline…
    clock.set(new Date(at(37)));
    await sweep();
    expect(await state(id)).toBe('active');
    // …and after it: suspended by policy, in the ledger with the finding, the notice and the policy version.
    clock.set(new Date(at(39)));
    const second = await sweep();
    expect(second.enforcement).toMatchObject({ suspended: 1 });
    const suspended = await h.custody.tokens.get(h.admin, id);
    expect(suspended).toMatchObject({ state: 'suspended', stateActor: 'policy' });
    const enforced = (await h.custody.ledger.list({ subjectId: id, action: 'policy.enforced', order: 'asc', limit: 10 }))[0]!;
    expect(enforced).toMatchObject({ actor: 'policy', data: { action: 'suspend', findings: [{ findingId: dormant.id, findingType: 'dormant', noticeId: notice.id }], mode: 'enforce' } });
    expect((enforced.data as { policyVersion: { global: number } }).policyVersion.global).toBeGreaterThan(0);
    // A second pass does nothing more.
    expect((await sweep()).enforcement).toMatchObject({ notified: 0, suspended: 0 });

    // The customer's administrator opens the link from the notice and approves again at the issuer.
    const done = await reauthoriseThrough(notice.link.url, account);
    expect(done.statusCode, done.body).toBe(200);
    const restored = await h.custody.tokens.get(h.admin, id);
    expect(restored).toMatchObject({ id, state: 'active', approver: { subject: account, approvedAt: at(39) } });
    await h.custody.findings.settled();
    expect((await h.custody.findingQueries.get(h.admin, dormant.id)).status).toBe('resolved');
    expect(await actions(id)).toEqual(expect.arrayContaining(['notice.created', 'notice.delivered', 'token.suspended', 'policy.enforced', 'token.reauthorised', 'token.approved']));
    // Used up.
    const again = await h.app.inject({ method: 'POST', url: notice.link.url.slice(PUBLIC_URL.length), headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '' });
    expect(again.statusCode).toBe(410);
    expect(again.body).toContain('link_used');
  });

  it('in audit mode ledgers each would-be step, gives no notice and changes nothing', async () => {
    clock.set(NOW);
    const C = await tenant('audited');
    await h.custody.policy.putTenant(h.admin, C, { mode: 'audit' });
    const id = await token(C, `admin-${randomBytes(3).toString('hex')}`);
    clock.set(new Date(at(31)));
    expect(await judge(id)).toMatchObject({ wouldNotify: 1, notified: 0 });
    clock.set(new Date(at(39)));
    expect(await judge(id)).toMatchObject({ wouldSuspend: 1, suspended: 0 });
    expect(await state(id)).toBe('active');
    const would = (await h.custody.ledger.list({ subjectId: id, order: 'asc', limit: 100 })).filter((e) => e.action.startsWith('policy.'));
    expect(would.map((e) => [e.action, e.actor, (e.data as { mode: string }).mode])).toEqual([
      ['policy.would_notify', 'policy', 'audit'],
      ['policy.would_suspend', 'policy', 'audit'],
    ]);
    expect((await h.custody.notices.list(h.admin, { tokenId: id, limit: 10 })).items).toEqual([]);
    // Once more: nothing new.
    await judge(id);
    expect((await h.custody.ledger.list({ subjectId: id, order: 'asc', limit: 100 })).filter((e) => e.action.startsWith('policy.'))).toHaveLength(2);
    // Switched to enforce, the same finding gets a real notice, from the start.
    await h.custody.policy.putTenant(h.admin, C, { mode: 'enforce' });
    await judge(id);
    expect((await h.custody.notices.list(h.admin, { tokenId: id, limit: 10 })).items).toHaveLength(1);
    expect(await state(id)).toBe('active');
  });

  it('suspends a forbidden scope at once, with a link that asks for the scopes without it', async () => {
    clock.set(NOW);
    const D = await tenant('forbidden');
    await h.custody.policy.putTenant(h.admin, D, { forbiddenScopes: { [providerId]: ['api:write'] } });
    const id = await token(D, `admin-${randomBytes(3).toString('hex')}`, { scopes: ['api:read', 'api:write'] });
    await judge(id);
    expect(await h.custody.tokens.get(h.admin, id)).toMatchObject({ state: 'suspended', stateActor: 'policy' });
    const [notice] = (await h.custody.notices.list(h.admin, { tokenId: id, limit: 10 })).items;
    expect(notice).toMatchObject({ findingType: 'forbidden_scope', deadline: NOW.toISOString() });
    expect(notice!.message).toMatch(/has been suspended by policy \(forbidden_scope\)/);
    const link = (await h.custody.connectLinks.list(h.admin, { tenantId: D, limit: 10 })).find((l) => l.id === notice!.link!.id)!;
    expect(link).toMatchObject({ tokenId: id, scopes: ['api:read'] });
    // The security team's link for the same token asks for the same.
    const made = await h.app.inject({ method: 'POST', url: `/v1/tokens/${id}/reauthorization`, headers: bearer(await keyFor(h, 'security')), payload: {} });
    expect(made.statusCode, made.body).toBe(201);
    expect(made.json().scopes).toEqual(['api:read']);
  });

  it('holds enforcement while an exception is in force, then gives a new notice and a full grace', async () => {
    clock.set(NOW);
    const E = await tenant('excepted');
    const id = await token(E, `admin-${randomBytes(3).toString('hex')}`);
    clock.set(new Date(at(31)));
    await judge(id);
    expect((await finding(id, 'dormant'))!.enforcement).toMatchObject({ stage: 'notified' });
    // A tenant-wide exception, and a pass at once (before the change path has marked anything excepted): held.
    await h.custody.exceptions.create(h.admin, { tenantId: E, findingType: 'dormant', approvedBy: 'ciso@acme', reason: 'seasonal integration, used in spring', expiresAt: at(50) });
    clock.set(new Date(at(45)));
    await h.custody.enforcement.pass();
    expect(await state(id)).toBe('active');
    await judge(id);
    expect((await finding(id, 'dormant'))!).toMatchObject({ status: 'excepted', enforcement: { stage: null, nextActionAt: null } });
    // Expired: the old deadline passed while the customer could not be held to it — a new notice, a new week.
    clock.set(new Date(at(51)));
    await judge(id);
    expect(await state(id)).toBe('active');
    const notices = (await h.custody.notices.list(h.admin, { tokenId: id, limit: 10 })).items;
    expect(notices.map((n) => n.deadline)).toEqual([at(58), at(38)]);
    clock.set(new Date(at(59)));
    await judge(id);
    expect(await state(id)).toBe('suspended');
  });

  it("after the security team's own suspension and resume, gives a new notice rather than suspending at once", async () => {
    clock.set(NOW);
    const S = await tenant('incident');
    const id = await token(S, `admin-${randomBytes(3).toString('hex')}`);
    clock.set(new Date(at(31)));
    await judge(id);
    clock.set(new Date(at(33)));
    await h.custody.tokens.transition(h.admin, id, 'suspend', 'incident 42');
    clock.set(new Date(at(40)));
    await h.custody.tokens.transition(h.admin, id, 'resume', 'incident 42 closed');
    await judge(id);
    expect(await state(id)).toBe('active');
    expect((await h.custody.notices.list(h.admin, { tokenId: id, limit: 10 })).items.map((n) => n.deadline)).toEqual([at(47), at(38)]);
  });

  it("does not let a link made before a security suspension lift it, nor a new account take a token over", async () => {
    clock.set(NOW);
    const T = await tenant('takeover');
    const account = `admin-${randomBytes(3).toString('hex')}`;
    const id = await token(T, account);
    const security = await keyFor(h, 'security');
    const early = (await h.app.inject({ method: 'POST', url: `/v1/tokens/${id}/reauthorization`, headers: bearer(security), payload: { expiresInMinutes: 43200 } })).json();
    // A later incident: the security team suspends it. The old link (whoever holds it) cannot lift that.
    clock.set(new Date(NOW.getTime() + 60_000));
    await h.custody.tokens.transition(h.admin, id, 'suspend', 'incident');
    const lifted = await reauthoriseThrough(early.url, account);
    expect(lifted.body).toContain('suspension_not_liftable');
    expect(await state(id)).toBe('suspended');
    await h.custody.tokens.transition(h.admin, id, 'resume', 'incident closed');
    // A tenant administrator's link, finished by an account nobody has seen and nothing ties to this customer: refused.
    const link = (await h.app.inject({ method: 'POST', url: `/v1/tokens/${id}/reauthorization`, headers: bearer(await keyFor(h, 'tenant_admin', T)), payload: {} })).json();
    const stranger = await reauthoriseThrough(link.url, `noemail-${randomBytes(3).toString('hex')}`);
    expect(stranger.body).toContain('approver_not_shown');
    expect(await h.custody.tokens.get(h.admin, id)).toMatchObject({ subject: account, approver: { subject: account } });
    // A new approver at the previous approver's own domain is the same customer's: recorded.
    const successor = `successor-${randomBytes(3).toString('hex')}`;
    const again = (await h.app.inject({ method: 'POST', url: `/v1/tokens/${id}/reauthorization`, headers: bearer(await keyFor(h, 'tenant_admin', T)), payload: {} })).json();
    const ok = await reauthoriseThrough(again.url, successor);
    expect(ok.statusCode, ok.body).toBe(200);
    expect(await h.custody.tokens.get(h.admin, id)).toMatchObject({ state: 'active', subject: successor, approver: { subject: successor, email: `${successor}@customer.example` } });
  });

  it('lets the owner re-justify an overdue purpose, which resolves the finding before any suspension', async () => {
    clock.set(NOW);
    const F = await tenant('review');
    const id = await token(F, `admin-${randomBytes(3).toString('hex')}`, { reviewDueAt: at(1) });
    // Used, so only the review is overdue.
    clock.set(new Date(at(2)));
    await judge(id);
    const review = (await finding(id, 'review_overdue'))!;
    expect(review.enforcement).toMatchObject({ stage: 'notified' });
    const [notice] = (await h.custody.notices.list(h.admin, { tokenId: id, limit: 10 })).items;
    expect(notice).toMatchObject({ findingType: 'review_overdue', link: null });
    expect(notice!.message).toMatch(/re-justifies the purpose/);
    // A tenant administrator may not justify the platform's purpose; security may.
    const tenantAdmin = await keyFor(h, 'tenant_admin', F);
    expect((await h.app.inject({ method: 'POST', url: `/v1/tokens/${id}/justify`, headers: bearer(tenantAdmin), payload: { purpose: 'x' } })).statusCode).toBe(403);
    const justified = await h.app.inject({ method: 'POST', url: `/v1/tokens/${id}/justify`, headers: bearer(await keyFor(h, 'security')), payload: { purpose: 'monthly invoice sync for finance' } });
    expect(justified.statusCode, justified.body).toBe(200);
    expect(justified.json()).toMatchObject({ purpose: 'monthly invoice sync for finance', reviewDueAt: at(182) });
    await h.custody.findings.settled();
    expect((await h.custody.findingQueries.get(h.admin, review.id)).status).toBe('resolved');
    clock.set(new Date(at(20)));
    await judge(id);
    expect(await state(id)).toBe('active');
    expect(await actions(id)).toContain('token.justified');
  });

  it('renews a token in use in place when its periodic reauthorisation falls due', async () => {
    clock.set(new Date(at(-370)));
    const G = await tenant('periodic');
    const account = `admin-${randomBytes(3).toString('hex')}`;
    const id = await token(G, account, { reviewDueAt: at(100) });
    // In use every day (so never dormant), but approved more than a year ago.
    clock.set(NOW);
    await h.custody.storage.db.updateTable('tokens').set({ last_used_at: at(0) }).where('id', '=', id).execute();
    await judge(id);
    expect((await finding(id, 'reauthorization_due'))!.enforcement).toMatchObject({ stage: 'notified' });
    const notice = (await h.custody.notices.list(h.admin, { tokenId: id, limit: 10 })).items.find((n) => n.findingType === 'reauthorization_due');
    const done = await reauthoriseThrough(notice!.link!.url!, account);
    expect(done.statusCode, done.body).toBe(200);
    expect(await h.custody.tokens.get(h.admin, id)).toMatchObject({ id, state: 'active', approver: { approvedAt: NOW.toISOString() } });
    await h.custody.findings.settled();
    expect(await finding(id, 'reauthorization_due')).toBeUndefined();
    expect((await h.custody.ledger.list({ subjectId: id, action: 'token.approved', order: 'asc', limit: 10 })).map((e) => (e.data as { reauthorisation: boolean }).reauthorisation)).toEqual([true]);
  });

  it("refuses and ledgers another customer's administrator consenting through a token's link", async () => {
    clock.set(NOW);
    const A = await tenant('victim');
    const B = await tenant('intruder');
    const intruder = `admin-${randomBytes(3).toString('hex')}`;
    await token(B, intruder);
    const id = await token(A, `admin-${randomBytes(3).toString('hex')}`);
    const made = await h.app.inject({ method: 'POST', url: `/v1/tokens/${id}/reauthorization`, headers: bearer(await keyFor(h, 'tenant_admin', A)), payload: {} });
    expect(made.statusCode, made.body).toBe(201);
    const before = await h.custody.tokens.get(h.admin, id);
    const done = await reauthoriseThrough(made.json().url, intruder);
    expect(done.statusCode).toBeGreaterThanOrEqual(400);
    expect(done.body).toContain('wrong_tenant_account');
    expect(await h.custody.tokens.get(h.admin, id)).toMatchObject({ approver: before.approver, state: 'active' });
    const failed = await h.custody.ledger.list({ tenantId: A, action: 'oauth.consent_failed', order: 'desc', limit: 1 });
    expect(failed[0]!.data).toMatchObject({ error: 'wrong_tenant_account' });
  });

  it('makes links that expire, work once, and finish only in the browser that opened them', async () => {
    clock.set(NOW);
    const A = await tenant('links');
    const key = await keyFor(h, 'tenant_admin', A);
    const account = `admin-${randomBytes(3).toString('hex')}`;
    const id = await token(A, account);
    const make = async (payload: object = {}) => (await h.app.inject({ method: 'POST', url: `/v1/tokens/${id}/reauthorization`, headers: bearer(key), payload })).json();
    // Expired.
    const short = await make({ expiresInMinutes: 5 });
    clock.set(new Date(NOW.getTime() + 6 * 60_000));
    const late = await h.app.inject({ method: 'POST', url: short.url.slice(PUBLIC_URL.length), headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '' });
    expect(late.statusCode).toBe(410);
    expect(late.body).toContain('link_expired');
    // Another browser (no binding cookie) cannot finish it.
    const link = await make();
    const opened = await h.app.inject({ method: 'POST', url: link.url.slice(PUBLIC_URL.length), headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '' });
    const back = await consent(String(opened.headers.location), account, `${PUBLIC_URL}/oauth/callback`);
    const elsewhere = await h.app.inject({ url: back.slice(PUBLIC_URL.length) });
    expect(elsewhere.body).toContain('browser_mismatch');
    // A new link for the token withdraws the one still pending.
    const first = await make();
    const second = await make();
    const firstUse = await h.app.inject({ method: 'POST', url: first.url.slice(PUBLIC_URL.length), headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '' });
    expect(firstUse.statusCode).toBe(410);
    expect(firstUse.body).toContain('link_revoked');
    expect(second.url).not.toBe(first.url);
    // Bad input and the wrong role.
    expect((await h.app.inject({ method: 'POST', url: `/v1/tokens/${id}/justify`, headers: bearer(await keyFor(h, 'security')), payload: { purpose: '   ' } })).statusCode).toBe(400);
    expect((await h.app.inject({ method: 'POST', url: `/v1/tokens/${id}/reauthorization`, headers: bearer(key), payload: { expiresInMinutes: 0 } })).statusCode).toBe(400);
    expect((await h.app.inject({ method: 'POST', url: `/v1/tokens/${id}/reauthorization`, headers: bearer(await keyFor(h, 'auditor')), payload: {} })).statusCode).toBe(403);
    await h.custody.tokens.transition(h.admin, id, 'revoke', 'test');
    expect((await h.app.inject({ method: 'POST', url: `/v1/tokens/${id}/reauthorization`, headers: bearer(key), payload: {} })).statusCode).toBe(409);
  });
});
