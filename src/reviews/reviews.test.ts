import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fixedClock } from '../shared/clock.ts';
import { Secret } from '../shared/secret.ts';
import type { NoticeDelivery, Notifier } from '../governance/notice.service.ts';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { bearer, keyFor, startHarness, type Harness } from '../../test/support/harness.ts';
import { connectThroughCustody, startTestIssuer, type TestIssuer } from '../../test/support/oidc.ts';
import { eventually } from '../../test/support/wait.ts';

/**
 * Access reviews (issue 16) on a fixed clock, both databases, against a real issuer
 * (oidc-provider): a campaign keeps one token (its review date moves), revokes another (revoked at
 * the issuer through the outbox), reassigns a third, reminds once before the deadline, and
 * escalates what is still open at it — the review falls due, review_overdue opens and enforcement
 * gives its notice (or, in audit mode, ledgers the would-be step).
 */
const PUBLIC_URL = 'http://127.0.0.1:7420';
const NOW = new Date('2026-12-01T00:00:00.000Z');
const DAY = 86_400_000;
const at = (days: number) => new Date(NOW.getTime() + days * DAY).toISOString();

describeEachDatabase('access reviews', (kind) => {
  const clock = fixedClock(NOW);
  let issuer: TestIssuer;
  let h: Harness;
  let providerId: string;
  const delivered: NoticeDelivery[] = [];
  const recording: Notifier = { name: 'test', deliver: async (n) => void delivered.push(n) };

  beforeAll(async () => {
    issuer = await startTestIssuer({ redirectUris: [`${PUBLIC_URL}/oauth/callback`] });
    h = await startHarness(kind, {
      clock,
      env: { CUSTODY_PUBLIC_URL: PUBLIC_URL },
      notifiers: [recording],
      oauth: { requestTimeoutMs: 5_000, outbox: { pollMs: 20, baseDelayMs: 50, maxDelayMs: 200, leaseMs: 5_000, giveUpAfterMs: 600_000 } },
    });
    providerId = (await h.custody.providers.create(h.admin, { name: 'issuer', issuer: issuer.issuer, development: true, clientId: issuer.clientId, clientSecret: issuer.clientSecret, apiBaseUrls: ['https://api.example.com/'] })).id;
    await h.custody.directory.createOwner(h.admin, { name: 'alice', kind: 'person', contact: 'alice@platform.example' });
    await h.custody.directory.createOwner(h.admin, { name: 'bob', kind: 'person', contact: 'bob@platform.example' });
    await h.custody.directory.createOwner(h.admin, { name: 'carol', kind: 'person', active: false });
    await h.custody.policy.putGlobal(h.admin, { mode: 'enforce', dormantAfterDays: 60, graceDays: 7, reviewIntervalDays: 180, reauthorizeEveryDays: 365, maxRefreshTokenAgeDays: null, maxAccessTokenTtlMinutes: null });
    await h.custody.findings.sweep();
  });
  afterAll(async () => {
    await h?.close();
    await issuer?.close();
  });

  const tenant = async (name: string) => (await h.custody.tenants.create(h.admin, { name: `${name}-${randomBytes(3).toString('hex')}` })).id;
  const token = async (tenantId: string, owner: string) =>
    (
      await h.custody.tokens.register(h.admin, {
        tenantId,
        providerId,
        owner,
        approver: { subject: 'cust-admin', email: 'cust-admin@customer.example', approvedAt: clock.now().toISOString() },
        purpose: 'sync invoices',
        scopes: ['api:read'],
        accessToken: new Secret(`at-${randomBytes(6).toString('hex')}`),
        refreshToken: new Secret(`rt-${randomBytes(6).toString('hex')}`),
        issuedAt: clock.now().toISOString(),
        accessExpiresAt: new Date(clock.now().getTime() + 3600_000).toISOString(),
      })
    ).id;
  const call = (key: string, method: 'GET' | 'POST', url: string, payload?: object) => h.app.inject({ method, url, headers: bearer(key), ...(payload ? { payload } : {}) });
  const itemOf = async (campaignId: string, tokenId: string) => (await h.custody.reviews.items(h.admin, campaignId, { limit: 1000 })).items.find((i) => i.tokenId === tokenId)!;
  const actions = async (subjectId: string) => (await h.custody.ledger.list({ subjectId, order: 'asc', limit: 500 })).map((e) => e.action);

  it('keeps one token (its review date moves), revokes another at the issuer through the outbox, reminds once, and escalates the undecided one at the deadline', async () => {
    clock.set(NOW);
    const A = await tenant('acme');
    const adminA = await keyFor(h, 'tenant_admin', A);
    const kept = await token(A, 'alice');
    const connected = await connectThroughCustody(h.app, { key: adminA, providerId, tenantId: A, account: `acct-${randomBytes(3).toString('hex')}`, publicUrl: PUBLIC_URL, owner: 'alice', scope: 'api:read' });
    expect(connected.status, connected.html).toBe(200);
    const revoked = connected.tokenId!;
    const undecided = await token(A, 'alice');
    const orphaned = await token(A, 'carol');
    const gone = await token(A, 'alice');
    await h.custody.tokens.transition(h.admin, gone, 'revoke', 'before the review');

    // The tenant's administrator starts the campaign: one item per live token (not the revoked one).
    const created = await call(adminA, 'POST', '/v1/reviews', { name: 'Q4 review', tenantId: A, dueAt: at(14) });
    expect(created.statusCode, created.body).toBe(201);
    const campaign = created.json();
    expect(campaign).toMatchObject({ tenantId: A, owner: null, providerId: null, status: 'open', dueAt: at(14), remindDaysBefore: 3, remindAt: at(11), progress: { total: 4, open: 4, decided: 0 } });
    const items = (await call(adminA, 'GET', `/v1/reviews/${campaign.id}/items`)).json().items as { tokenId: string; reviewer: { kind: string; name: string }; status: string }[];
    expect(items.map((i) => i.tokenId).sort()).toEqual([kept, revoked, undecided, orphaned].sort());
    expect(items.find((i) => i.tokenId === orphaned)!.reviewer).toEqual({ kind: 'tenant_admins', name: 'tenant_admins' });
    expect(items.find((i) => i.tokenId === kept)!.reviewer).toEqual({ kind: 'owner', name: 'alice' });
    expect((await call(adminA, 'GET', `/v1/reviews/${campaign.id}/items?reviewer=tenant_admins`)).json().items.map((i: { tokenId: string }) => i.tokenId)).toEqual([orphaned]);
    const createdEntry = (await h.custody.ledger.list({ subjectId: campaign.id, action: 'review.created', order: 'asc', limit: 5 }))[0];
    expect(createdEntry).toMatchObject({ tenantId: A, data: { items: 4, reviewers: { owner: 3, tenant_admins: 1 } } });

    // A day later: keep — the justification becomes the purpose and the review moves by the interval (180 days).
    clock.set(new Date(at(1)));
    const keep = await call(adminA, 'POST', `/v1/reviews/${campaign.id}/items/${(await itemOf(campaign.id, kept)).id}/decide`, { decision: 'keep', justification: 'still syncs invoices nightly' });
    expect(keep.statusCode, keep.body).toBe(200);
    expect(keep.json()).toMatchObject({ item: { status: 'kept', justification: 'still syncs invoices nightly' }, token: { id: kept, state: 'active', purpose: 'still syncs invoices nightly', reviewDueAt: at(181) } });
    expect(await actions(kept)).toEqual(expect.arrayContaining(['token.justified', 'review.decided']));
    const decidedEntry = (await h.custody.ledger.list({ subjectId: kept, action: 'review.decided', order: 'asc', limit: 5 }))[0];
    expect(decidedEntry).toMatchObject({ tenantId: A, data: { campaignId: campaign.id, tokenId: kept, decision: 'keep' } });
    expect(decidedEntry!.actor).toMatch(/^apikey:key_/);
    // Decided once: a second decision is refused.
    const again = await call(adminA, 'POST', `/v1/reviews/${campaign.id}/items/${(await itemOf(campaign.id, kept)).id}/decide`, { decision: 'revoke', reason: 'changed my mind' });
    expect([again.statusCode, again.json().error.code]).toEqual([409, 'review_item_decided']);

    // Revoke: in force at once, and at the issuer once the outbox has delivered it (confirmed by introspection).
    const revoke = await call(adminA, 'POST', `/v1/reviews/${campaign.id}/items/${(await itemOf(campaign.id, revoked)).id}/decide`, { decision: 'revoke', reason: 'integration retired' });
    expect(revoke.statusCode, revoke.body).toBe(200);
    expect(revoke.json()).toMatchObject({ item: { status: 'revoked', reason: 'integration retired' }, token: { state: 'revoked' } });
    const upstream = await eventually(
      async () => {
        await h.custody.outbox.runOnce();
        const t = await h.custody.tokens.get(h.admin, revoked);
        return t.revocation?.upstream === 'verified' ? t : null;
      },
      { what: 'the upstream revocation of the reviewed token', timeoutMs: 20_000, intervalMs: 25 },
    );
    expect(upstream.revocation).toMatchObject({ upstream: 'verified' });
    expect(issuer.counts.revocation).toBeGreaterThan(0);
    expect(await actions(revoked)).toEqual(expect.arrayContaining(['token.revoked', 'review.decided', 'token.upstream_revocation']));

    // Three days before the deadline: one reminder per open item, to its reviewer, and only once.
    clock.set(new Date(at(11.5)));
    expect(await h.custody.reviews.pass()).toMatchObject({ reminded: 2, escalated: 0 });
    expect(await h.custody.reviews.pass()).toMatchObject({ reminded: 0 });
    const reminders = (await h.custody.notices.list(h.admin, { tenantId: A, limit: 100 })).items.filter((n) => n.action === 'escalate');
    expect(reminders.map((n) => n.tokenId).sort()).toEqual([undecided, orphaned].sort());
    const toAlice = reminders.find((n) => n.tokenId === undecided)!;
    expect(toAlice).toMatchObject({ findingId: (await itemOf(campaign.id, undecided)).id, findingType: 'review_overdue', deadline: at(14), recipients: [{ kind: 'owner', name: 'alice', address: 'alice@platform.example' }], link: null });
    expect(toAlice.message).toContain(campaign.id);
    expect(reminders.find((n) => n.tokenId === orphaned)!.recipients).toEqual([{ kind: 'tenant_admins', name: `administrators of ${A}`, address: null }]);
    expect((await itemOf(campaign.id, undecided)).reminderNoticeId).toBe(toAlice.id);
    await h.custody.outbox.runOnce();
    expect(delivered.filter((n) => n.noticeId === toAlice.id)).toEqual([expect.objectContaining({ action: 'escalate', tokenId: undecided })]);

    // Reassign the orphaned token to an active owner.
    const reassign = await call(adminA, 'POST', `/v1/reviews/${campaign.id}/items/${(await itemOf(campaign.id, orphaned)).id}/decide`, { decision: 'reassign', newOwner: 'BOB', reason: 'carol left; bob runs billing' });
    expect(reassign.statusCode, reassign.body).toBe(200);
    expect(reassign.json()).toMatchObject({ item: { status: 'reassigned', newOwner: 'bob' }, token: { owner: 'bob', state: 'active' } });
    expect((await h.custody.ledger.list({ subjectId: orphaned, action: 'token.owner_changed', order: 'asc', limit: 5 }))[0]).toMatchObject({ data: { from: 'carol', to: 'bob' } });

    // Not before the deadline…
    clock.set(new Date(at(13.9)));
    expect(await h.custody.reviews.pass()).toMatchObject({ escalated: 0 });
    // …and at it: the undecided item is escalated, its token's review falls due at the deadline, and the campaign closes.
    clock.set(new Date(at(14.1)));
    expect(await h.custody.reviews.pass()).toMatchObject({ escalated: 1, closed: 1 });
    const escalated = await itemOf(campaign.id, undecided);
    expect(escalated).toMatchObject({ status: 'escalated', decidedBy: 'system:reviews' });
    expect((await h.custody.tokens.get(h.admin, undecided)).reviewDueAt).toBe(at(14));
    expect((await h.custody.ledger.list({ subjectId: undecided, action: 'review.escalated', order: 'asc', limit: 5 }))[0]).toMatchObject({ actor: 'system:reviews', data: { campaignId: campaign.id, itemId: escalated.id, reviewDueAt: { to: at(14) } } });
    // The change path opens review_overdue, and enforcement takes its first step: a notice of suspension after the grace.
    await h.custody.findings.settled();
    const overdue = (await h.custody.findingQueries.list(h.admin, { tokenId: undecided, limit: 100 })).items.find((f) => f.type === 'review_overdue');
    expect(overdue).toMatchObject({ status: 'open' });
    await h.custody.enforcement.pass();
    const enforcementNotices = (await h.custody.notices.list(h.admin, { tokenId: undecided, limit: 10 })).items.filter((n) => n.action === 'suspend');
    expect(enforcementNotices).toEqual([expect.objectContaining({ findingId: overdue!.id, findingType: 'review_overdue', deadline: new Date(clock.now().getTime() + 7 * DAY).toISOString() })]);
    // The kept token is not overdue; the campaign is closed with its progress.
    expect((await h.custody.findingQueries.list(h.admin, { tokenId: kept, limit: 100 })).items.filter((f) => f.type === 'review_overdue' && f.status !== 'resolved')).toEqual([]);
    const closed = (await call(adminA, 'GET', `/v1/reviews/${campaign.id}`)).json();
    expect(closed).toMatchObject({ status: 'closed', closedAt: at(14.1), progress: { total: 4, decided: 3, open: 0, kept: 1, revoked: 1, reassigned: 1, escalated: 1 } });
    expect(await actions(campaign.id)).toEqual(['review.created', 'review.closed']);
    // The figures the compliance report reads.
    expect(await h.custody.reviews.stats({ tenantId: A }, new Date(at(-1)), new Date(at(1)))).toEqual({ campaigns: 1, items: 4, decided: 3, kept: 1, revoked: 1, reassigned: 1, escalated: 1, open: 0 });
    expect(await h.custody.reviews.stats({ tenantId: A }, new Date(at(1)), new Date(at(2)))).toMatchObject({ campaigns: 0, items: 0 });
    expect((await h.custody.ledger.verify()).ok).toBe(true);
  });

  it('runs a platform campaign by owner over tenants, each tenant administrator seeing their own items only; escalation in audit mode only ledgers the would-be step', async () => {
    clock.set(NOW);
    const owner = `dora-${randomBytes(3).toString('hex')}`;
    await h.custody.directory.createOwner(h.admin, { name: owner, kind: 'person' });
    const C = await tenant('enforced');
    const D = await tenant('audited');
    await h.custody.policy.putTenant(h.admin, D, { mode: 'audit' });
    const c1 = await token(C, owner);
    const d1 = await token(D, owner.toUpperCase());
    await token(D, 'alice');
    const security = await keyFor(h, 'security');
    const created = await call(security, 'POST', '/v1/reviews', { name: 'dora leaves', owner, dueAt: at(2), remindDaysBefore: 7 });
    expect(created.statusCode, created.body).toBe(201);
    const campaign = created.json();
    expect(campaign).toMatchObject({ tenantId: null, owner, remindAt: NOW.toISOString(), progress: { total: 2 } });

    // A tenant administrator sees their tenant's items of it (and their count) only; a tenant with none of its items does not see it.
    const adminC = await keyFor(h, 'tenant_admin', C);
    const listed = (await call(adminC, 'GET', '/v1/reviews?limit=1000')).json().items as { id: string; progress: { total: number } }[];
    expect(listed.find((c) => c.id === campaign.id)).toMatchObject({ progress: { total: 1 } });
    expect((await call(adminC, 'GET', `/v1/reviews/${campaign.id}`)).json()).toMatchObject({ progress: { total: 1 } });
    expect((await call(adminC, 'GET', `/v1/reviews/${campaign.id}/items`)).json().items.map((i: { tokenId: string }) => i.tokenId)).toEqual([c1]);
    const d1Item = await itemOf(campaign.id, d1);
    const refusedC = await call(adminC, 'POST', `/v1/reviews/${campaign.id}/items/${d1Item.id}/decide`, { decision: 'keep', justification: 'still needed for billing' });
    expect([refusedC.statusCode, refusedC.json().error.code]).toEqual([404, 'review_item_not_found']);
    const adminOther = await keyFor(h, 'tenant_admin', await tenant('uninvolved'));
    expect((await call(adminOther, 'GET', '/v1/reviews?limit=1000')).json().items.map((c: { id: string }) => c.id)).not.toContain(campaign.id);
    for (const url of [`/v1/reviews/${campaign.id}`, `/v1/reviews/${campaign.id}/items`]) {
      const r = await call(adminOther, 'GET', url);
      expect([r.statusCode, r.json().error.code], url).toEqual([404, 'review_not_found']);
    }
    expect((await itemOf(campaign.id, c1)).status).toBe('open');

    // Reminders at once (the reminder time had passed at creation).
    expect(await h.custody.reviews.pass()).toMatchObject({ reminded: 2 });
    clock.set(new Date(at(2.5)));
    expect(await h.custody.reviews.pass()).toMatchObject({ escalated: 2, closed: 1 });
    await h.custody.findings.settled();
    await h.custody.enforcement.pass();
    // Enforced tenant: a notice. Audited tenant: policy.would_notify and no notice.
    expect((await h.custody.notices.list(h.admin, { tokenId: c1, limit: 10 })).items.filter((n) => n.action === 'suspend')).toHaveLength(1);
    expect((await h.custody.notices.list(h.admin, { tokenId: d1, limit: 10 })).items.filter((n) => n.action === 'suspend')).toEqual([]);
    expect(await actions(d1)).toEqual(expect.arrayContaining(['review.escalated', 'token.review_due_changed', 'policy.would_notify']));
    expect((await h.custody.tokens.get(h.admin, d1)).state).toBe('active');
    // Each tenant's report counts its own items of the platform campaign.
    expect(await h.custody.reviews.stats({ tenantId: D }, new Date(at(-1)), new Date(at(1)))).toMatchObject({ campaigns: 1, items: 1, escalated: 1 });
  });
  it('refuses bad input with a code and a message a person can act on, and keeps each tenant to its own campaigns', async () => {
    clock.set(NOW);
    const A = await tenant('own');
    const B = await tenant('other');
    const empty = await tenant('empty');
    const adminA = await keyFor(h, 'tenant_admin', A);
    const admin = await keyFor(h, 'admin');
    const auditor = await keyFor(h, 'auditor');
    const a1 = await token(A, 'alice');
    const a2 = await token(A, 'alice');
    await token(B, 'alice');
    const refused = async (key: string, method: 'GET' | 'POST', url: string, payload: object | undefined, status: number, code: string) => {
      const r = await call(key, method, url, payload);
      expect([r.statusCode, r.json().error?.code], `${method} ${url} ${JSON.stringify(payload)}: ${r.body}`).toEqual([status, code]);
      expect(r.json().error.message.length).toBeGreaterThan(10);
      return r.json().error;
    };
    const dueAt = at(10);
    // Creating: the scope, the tenant binding, the deadline, unknown fields.
    await refused(admin, 'POST', '/v1/reviews', { name: 'x', dueAt }, 400, 'review_scope_required');
    expect((await refused(adminA, 'POST', '/v1/reviews', { name: 'x', owner: 'alice', dueAt }, 400, 'tenant_required')).message).toContain(A);
    await refused(adminA, 'POST', '/v1/reviews', { name: 'x', tenantId: B, dueAt }, 404, 'tenant_not_found');
    await refused(admin, 'POST', '/v1/reviews', { name: 'x', providerId: 'prv_01J00000000000000000000000', dueAt }, 404, 'provider_not_found');
    expect((await refused(admin, 'POST', '/v1/reviews', { name: 'x', tenantId: A, dueAt: at(-1) }, 400, 'validation_failed')).details).toEqual([expect.objectContaining({ path: 'body/dueAt' })]);
    await refused(admin, 'POST', '/v1/reviews', { name: 'x', tenantId: A, dueAt, remindDaysBefore: -1 }, 400, 'validation_failed');
    await refused(admin, 'POST', '/v1/reviews', { name: 'x', tenantId: A, dueAt, everything: true }, 400, 'validation_failed');
    await refused(admin, 'POST', '/v1/reviews', { name: 'x', tenantId: empty, dueAt }, 400, 'review_scope_empty');
    await refused(auditor, 'POST', '/v1/reviews', { name: 'x', tenantId: A, dueAt }, 403, 'forbidden');

    const mine = (await call(adminA, 'POST', '/v1/reviews', { name: 'mine', tenantId: A, dueAt })).json();
    const theirs = (await call(admin, 'POST', '/v1/reviews', { name: 'theirs', tenantId: B, dueAt })).json();
    const item = (await itemOf(mine.id, a1)).id;
    const decide = (body: object, campaign = mine.id, itemId = item) => `/v1/reviews/${campaign}/items/${itemId}/decide`;
    // Deciding: each decision's own fields, a real and active new owner, another owner than the token's.
    await refused(adminA, 'POST', decide({}), { decision: 'keep' }, 400, 'validation_failed');
    expect((await refused(adminA, 'POST', decide({}), { decision: 'keep', justification: 'ok' }, 400, 'validation_failed')).message).toMatch(/at least 10 characters/);
    await refused(adminA, 'POST', decide({}), { decision: 'revoke', reason: 'unused', newOwner: 'bob' }, 400, 'validation_failed');
    await refused(adminA, 'POST', decide({}), { decision: 'reassign', newOwner: 'bob' }, 400, 'validation_failed');
    await refused(adminA, 'POST', decide({}), { decision: 'delete', reason: 'x' }, 400, 'validation_failed');
    await refused(adminA, 'POST', decide({}), { decision: 'reassign', newOwner: 'nobody-at-all', reason: 'moved' }, 404, 'owner_not_found');
    // A tenant administrator cannot read the directory: a deactivated owner is answered as a missing one; platform staff are told.
    await refused(adminA, 'POST', decide({}), { decision: 'reassign', newOwner: 'carol', reason: 'moved' }, 404, 'owner_not_found');
    await refused(admin, 'POST', decide({}), { decision: 'reassign', newOwner: 'carol', reason: 'moved' }, 409, 'owner_inactive');
    await refused(adminA, 'POST', decide({}), { decision: 'reassign', newOwner: 'Alice', reason: 'moved' }, 400, 'validation_failed');
    await refused(auditor, 'POST', decide({}), { decision: 'keep', justification: 'still syncs invoices' }, 403, 'forbidden');
    // Another campaign's item, another tenant's campaign: not found, exactly like a missing one.
    await refused(adminA, 'POST', decide({}, mine.id, (await itemOf(theirs.id, (await h.custody.reviews.items(h.admin, theirs.id, { limit: 1 })).items[0]!.tokenId)).id), { decision: 'keep', justification: 'still syncs invoices' }, 404, 'review_item_not_found');
    const foreign = await refused(adminA, 'GET', `/v1/reviews/${theirs.id}`, undefined, 404, 'review_not_found');
    const missing = await refused(adminA, 'GET', '/v1/reviews/rvw_01J00000000000000000000000', undefined, 404, 'review_not_found');
    expect(foreign.message).toBe(missing.message);
    await refused(adminA, 'GET', `/v1/reviews/${theirs.id}/items`, undefined, 404, 'review_not_found');
    await refused(adminA, 'GET', `/v1/reviews?cursor=nonsense`, undefined, 400, 'invalid_cursor');
    await refused(adminA, 'GET', `/v1/reviews/${mine.id}/items?status=maybe`, undefined, 400, 'validation_failed');
    const seen = (await call(adminA, 'GET', '/v1/reviews')).json().items as { tenantId: string | null }[];
    expect(seen.filter((c) => c.tenantId !== A)).toEqual([]);
    await refused(adminA, 'GET', `/v1/reviews?tenantId=${B}`, undefined, 404, 'tenant_not_found');
    expect((await call(auditor, 'GET', `/v1/reviews/${theirs.id}`)).statusCode).toBe(200);
    // A token revoked outside the review: said so, and nothing changes.
    await h.custody.tokens.transition(h.admin, a2, 'revoke', 'leaked');
    const ended = await refused(adminA, 'POST', decide({}, mine.id, (await itemOf(mine.id, a2)).id), { decision: 'keep', justification: 'still syncs invoices' }, 409, 'review_token_ended');
    expect(ended.message).toContain(a2);
    expect((await itemOf(mine.id, a2)).status).toBe('open');
    expect((await call(adminA, 'GET', `/v1/reviews/${mine.id}`)).json().progress).toMatchObject({ total: 2, open: 2 });
    // Every refusal left the token as it was.
    expect(await h.custody.tokens.get(h.admin, a1)).toMatchObject({ state: 'active', owner: 'alice', purpose: 'sync invoices' });
  });

  it('writes a large campaign a page per transaction, refuses one over the limit, and finishes a creation a crash interrupted', async () => {
    clock.set(NOW);
    const { createReviewService } = await import('./review.service.ts');
    const c = h.custody;
    const small = createReviewService({ storage: c.storage, ledger: c.ledger, clock, logger: c.logger, tenants: c.tenants, providers: c.providers, tokens: c.tokens, directory: c.directory, notices: c.notices, policy: c.policy, limits: { maxItems: 5, createPage: 2 } });
    const E = await tenant('paged');
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await token(E, i % 2 ? 'alice' : 'carol'));
    const campaign = await small.create(h.admin, { name: 'paged', tenantId: E, dueAt: at(10) });
    expect(campaign).toMatchObject({ status: 'open', progress: { total: 5, open: 5 } });
    expect((await small.items(h.admin, campaign.id, { limit: 100 })).items.map((i) => i.tokenId).sort()).toEqual([...ids].sort());
    // Paged reading of the items.
    const first = await small.items(h.admin, campaign.id, { limit: 3 });
    const { decodeCursor } = await import('../shared/cursor.ts');
    const rest = await small.items(h.admin, campaign.id, { limit: 3, afterId: decodeCursor('reviewItem', first.nextCursor!) });
    expect([...first.items, ...rest.items].map((i) => i.id)).toEqual((await small.items(h.admin, campaign.id, { limit: 100 })).items.map((i) => i.id));
    expect(rest.nextCursor).toBeNull();

    ids.push(await token(E, 'alice'));
    await expect(small.create(h.admin, { name: 'too big', tenantId: E, dueAt: at(10) })).rejects.toMatchObject({ code: 'review_too_large', message: expect.stringContaining('6 live tokens') });

    // A creation that stopped after its first page (the process died): the pass finishes it, with no item twice.
    const stopped = 'rvw_01KZZZZZZZZZZZZZZZZZZZZZZZ';
    // Tokens made on one fixed instant sort by their random part: the first page is the lowest id.
    const sorted = [...ids].sort();
    await c.storage.db
      .insertInto('review_campaigns')
      .values({ id: stopped, name: 'stopped', tenant_id: E, owner: null, provider_id: null, status: 'creating', due_at: at(10), remind_days_before: 3, remind_at: at(7), reminded_at: null, creation_cursor: sorted[0]!, created_by: 'system:test', created_at: NOW.toISOString(), closed_at: null })
      .execute();
    await c.storage.db
      .insertInto('review_items')
      .values({ id: 'rvi_01KZZZZZZZZZZZZZZZZZZZZZZZ', campaign_id: stopped, tenant_id: E, token_id: sorted[0]!, reviewer: 'tenant_admins', reviewer_kind: 'tenant_admins', status: 'open', decided_at: null, decided_by: null, justification: null, reason: null, new_owner: null, reminded_at: null, created_at: NOW.toISOString() })
      .execute();
    expect(await small.pass()).toMatchObject({ resumed: 0 });
    clock.set(new Date(NOW.getTime() + 11 * 60_000));
    expect(await small.pass()).toMatchObject({ resumed: 1 });
    const resumed = await small.get(h.admin, stopped);
    expect(resumed).toMatchObject({ status: 'open', progress: { total: 6, open: 6 } });
    const tokenIds = (await small.items(h.admin, stopped, { limit: 100 })).items.map((i) => i.tokenId);
    expect([...tokenIds].sort()).toEqual(sorted);
    expect((await c.ledger.list({ subjectId: stopped, order: 'asc', limit: 5 })).map((e) => [e.action, e.actor])).toEqual([['review.created', 'system:test']]);
    await small.close();
  });
});
