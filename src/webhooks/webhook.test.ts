import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { fixedClock } from '../shared/clock.ts';
import { createLogger } from '../shared/logger.ts';
import { createOutboxEnqueuer } from '../outbox/outbox.enqueue.ts';
import { createWebhookDelivery } from './webhook.delivery.ts';
import { createWebhookDispatcher } from './webhook.dispatcher.ts';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { bearer, keyFor, seed, startHarness, type Harness, type Seeded } from '../../test/support/harness.ts';

/**
 * Signed webhooks end to end on a fixed clock, both databases: a receiver on loopback checks each
 * Standard Webhooks signature (verified here from the spec, not with Custody's own code), answers
 * 500 twice and then 200, and sees the retries; the delivery log shows each attempt; a tenant's
 * subscription gets its tenant's events only; the secret appears once and nowhere else; notices
 * reach subscriptions through the notifier, with the link only where a subscription opted in.
 */
const NOW = new Date('2026-12-01T10:00:00.000Z');

interface Received {
  path: string;
  id: string;
  timestamp: string;
  signature: string;
  body: string;
}

/** The receiver's check, from the spec: HMAC-SHA256 under base64-decoded secret bytes over id.timestamp.body. */
function verifyStandardWebhook(secret: string, r: Received, nowSeconds: number): boolean {
  if (!secret.startsWith('whsec_')) return false;
  if (Math.abs(nowSeconds - Number(r.timestamp)) > 300) return false;
  const expected = createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64')).update(`${r.id}.${r.timestamp}.${r.body}`).digest();
  return r.signature.split(' ').some((part) => {
    const [v, sig] = part.split(',');
    const given = Buffer.from(sig ?? '', 'base64');
    return v === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

describeEachDatabase('signed webhooks', (kind) => {
  const clock = fixedClock(NOW);
  let h: Harness;
  let s: Seeded;
  let server: http.Server;
  let base: string;
  const received: Received[] = [];
  /** Per path: how many of the first attempts of each message answer 500. */
  const failFirst = new Map<string, number>();
  const attemptsOf = new Map<string, number>();

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        const r: Received = { path: req.url ?? '', id: String(req.headers['webhook-id']), timestamp: String(req.headers['webhook-timestamp']), signature: String(req.headers['webhook-signature']), body };
        received.push(r);
        const key = `${r.path}|${r.id}`;
        const n = (attemptsOf.get(key) ?? 0) + 1;
        attemptsOf.set(key, n);
        if (r.path === '/busy') {
          // A receiver that asks for a long pause (but within this harness's give-up window).
          res.writeHead(503, { 'retry-after': '50' });
          return res.end();
        }
        res.statusCode = n <= (failFirst.get(r.path) ?? 0) ? 500 : 204;
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    h = await startHarness(kind, { clock, oauth: { outbox: { baseDelayMs: 1_000, maxDelayMs: 4_000, giveUpAfterMs: 60_000 } } });
    s = await seed(h);
  });
  afterAll(async () => {
    await h?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  const inject = (method: 'GET' | 'POST' | 'DELETE', url: string, key: string, payload?: unknown) => h.app.inject({ method, url, headers: bearer(key), ...(payload ? { payload: payload as object } : {}) });
  const deliverAll = async () => {
    await h.custody.webhookDispatcher.dispatch();
    while ((await h.custody.outbox.runOnce()) > 0) {
      /* until nothing is due at this instant */
    }
  };
  const bodies = (path: string) => received.filter((r) => r.path === path).map((r) => JSON.parse(r.body) as { type: string; timestamp: string; data: Record<string, unknown> });

  it('delivers signed events, retries a receiver that fails twice, and logs every attempt', async () => {
    const admin = await keyFor(h, 'admin');
    const tenantAdmin = await keyFor(h, 'tenant_admin', s.tenantA);
    failFirst.set('/platform', 2);

    const platform = await inject('POST', '/v1/webhooks', admin, { url: `${base}/platform`, events: ['token.*'], description: 'SOC' });
    expect(platform.statusCode).toBe(201);
    const platformHook = platform.json() as { id: string; secret: string; tenantId: string | null };
    expect(platformHook.tenantId).toBeNull();
    expect(platformHook.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const mine = await inject('POST', '/v1/webhooks', tenantAdmin, { url: `${base}/tenant-a`, events: ['token.suspended'] });
    expect(mine.statusCode).toBe(201);
    const tenantHook = mine.json() as { id: string; secret: string; tenantId: string };
    expect(tenantHook.tenantId).toBe(s.tenantA);

    await h.custody.tokens.transition(h.admin, s.tokenA, 'suspend', 'investigating');
    await h.custody.tokens.transition(h.admin, s.tokenB, 'suspend', 'investigating');
    await deliverAll();

    // The tenant's receiver: its tenant's suspension only, signed, at once.
    const tenantBodies = bodies('/tenant-a');
    expect(tenantBodies.map((b) => [b.type, b.data.subjectId])).toEqual([['token.suspended', s.tokenA]]);
    for (const r of received.filter((x) => x.path === '/tenant-a')) expect(verifyStandardWebhook(tenantHook.secret, r, NOW.getTime() / 1000)).toBe(true);

    // The platform's receiver refused the first attempt of both events; the retries come after the backoff.
    expect(received.filter((r) => r.path === '/platform')).toHaveLength(2);
    for (let i = 0; i < 3; i++) {
      clock.advance(5_000);
      await deliverAll();
    }
    const platformReceived = received.filter((r) => r.path === '/platform');
    expect(platformReceived).toHaveLength(6);
    const ids = [...new Set(platformReceived.map((r) => r.id))];
    expect(ids).toHaveLength(2);
    for (const r of platformReceived) {
      expect(verifyStandardWebhook(platformHook.secret, r, clock.now().getTime() / 1000)).toBe(true);
      // Signed with the other subscription's secret, it would not verify.
      expect(verifyStandardWebhook(tenantHook.secret, r, Number(r.timestamp))).toBe(false);
    }
    expect(new Set(bodies('/platform').map((b) => b.data.subjectId))).toEqual(new Set([s.tokenA, s.tokenB]));
    // A tampered body does not verify.
    expect(verifyStandardWebhook(platformHook.secret, { ...platformReceived[0]!, body: platformReceived[0]!.body.replace('investigating', 'nothing') }, Number(platformReceived[0]!.timestamp))).toBe(false);

    const log = await inject('GET', `/v1/webhooks/${platformHook.id}/deliveries`, admin);
    expect(log.statusCode).toBe(200);
    const rows = (log.json() as { items: { messageId: string; attempt: number; outcome: string; statusCode: number | null }[] }).items;
    for (const id of ids) {
      const attempts = rows.filter((r) => r.messageId === id).sort((a, b) => a.attempt - b.attempt);
      expect(attempts.map((r) => [r.attempt, r.outcome, r.statusCode])).toEqual([
        [1, 'failed', 500],
        [2, 'failed', 500],
        [3, 'delivered', 204],
      ]);
    }
    // Paged with a cursor.
    const first = (await inject('GET', `/v1/webhooks/${platformHook.id}/deliveries?limit=4`, admin)).json() as { items: unknown[]; nextCursor: string };
    const second = (await inject('GET', `/v1/webhooks/${platformHook.id}/deliveries?limit=4&cursor=${first.nextCursor}`, admin)).json() as { items: unknown[]; nextCursor: string | null };
    expect([first.items.length, second.items.length, second.nextCursor]).toEqual([4, 2, null]);

    // The secret was shown once: not in reads, the ledger, or the logs.
    const reads = [await inject('GET', '/v1/webhooks', admin), await inject('GET', `/v1/webhooks/${platformHook.id}`, admin), log];
    const ledger = JSON.stringify(await h.custody.ledger.list({ order: 'asc', limit: 1000 }));
    for (const secret of [platformHook.secret, tenantHook.secret]) {
      const bare = secret.slice('whsec_'.length);
      for (const r of reads) expect(r.body).not.toContain(bare);
      expect(ledger).not.toContain(bare);
      expect(h.logs.join('')).not.toContain(bare);
    }
    expect((await h.custody.ledger.list({ action: 'webhook.created', order: 'asc', limit: 10 })).map((e) => e.actor)).toHaveLength(2);
  });

  it('keeps tenants apart: a tenant administrator sees and manages only its own subscriptions', async () => {
    const adminA = await keyFor(h, 'tenant_admin', s.tenantA);
    const adminB = await keyFor(h, 'tenant_admin', s.tenantB);
    const auditor = await keyFor(h, 'auditor');
    const created = await inject('POST', '/v1/webhooks', adminB, { url: `${base}/tenant-b`, events: ['*'] });
    expect(created.statusCode).toBe(201);
    const id = (created.json() as { id: string }).id;
    expect((await inject('GET', `/v1/webhooks/${id}`, adminA)).json()).toMatchObject({ error: { code: 'webhook_not_found' } });
    expect((await inject('DELETE', `/v1/webhooks/${id}`, adminA)).statusCode).toBe(404);
    expect((await inject('GET', `/v1/webhooks/${id}/deliveries`, adminA)).statusCode).toBe(404);
    const listA = (await inject('GET', '/v1/webhooks', adminA)).json() as { items: { tenantId: string | null }[] };
    expect(listA.items.length).toBeGreaterThan(0);
    expect(listA.items.every((w) => w.tenantId === s.tenantA)).toBe(true);
    // Another tenant's id in the body is that tenant not found; an auditor may read but not subscribe.
    expect((await inject('POST', '/v1/webhooks', adminA, { url: `${base}/x`, events: ['*'], tenantId: s.tenantB })).json()).toMatchObject({ error: { code: 'tenant_not_found' } });
    expect((await inject('POST', '/v1/webhooks', auditor, { url: `${base}/x`, events: ['*'] })).statusCode).toBe(403);
    expect((await inject('GET', `/v1/webhooks/${id}`, auditor)).statusCode).toBe(200);

    // Removed: ledgered, gone, and nothing more is sent to it.
    expect((await inject('DELETE', `/v1/webhooks/${id}`, adminB)).statusCode).toBe(200);
    expect((await inject('GET', `/v1/webhooks/${id}`, adminB)).statusCode).toBe(404);
    await h.custody.tokens.transition(h.admin, s.tokenB, 'resume', 'cleared');
    await deliverAll();
    expect(received.filter((r) => r.path === '/tenant-b')).toHaveLength(0);
    expect((await h.custody.ledger.list({ subjectId: id, order: 'asc', limit: 10 })).map((e) => e.action)).toEqual(['webhook.created', 'webhook.deleted']);
  });

  it('gives up on a receiver that keeps failing, with an alert and a ledger entry', async () => {
    const admin = await keyFor(h, 'admin');
    failFirst.set('/down', 1_000);
    const down = (await inject('POST', '/v1/webhooks', admin, { url: `${base}/down`, events: ['tenant.created'] })).json() as { id: string };
    await h.custody.tenants.create(h.admin, { name: `late-${Date.now()}` });
    for (let i = 0; i < 20; i++) {
      await deliverAll();
      clock.advance(4_000);
    }
    const rows = ((await inject('GET', `/v1/webhooks/${down.id}/deliveries?limit=100`, admin)).json() as { items: { outcome: string; statusCode: number | null; error: string | null }[] }).items;
    // The last attempt's failure and the giving up share an instant on this fixed clock: their order in the log is not asserted.
    expect(rows.filter((r) => r.outcome === 'gave_up')).toHaveLength(1);
    expect(rows.filter((r) => r.outcome !== 'gave_up').every((r) => r.outcome === 'failed' && r.statusCode === 500 && r.error === 'HTTP 500')).toBe(true);
    expect(rows.length).toBeGreaterThan(3);
    const attemptsBefore = received.filter((r) => r.path === '/down').length;
    clock.advance(60_000);
    await deliverAll();
    expect(received.filter((r) => r.path === '/down')).toHaveLength(attemptsBefore);
    expect((await h.custody.ledger.list({ subjectId: down.id, order: 'asc', limit: 10 })).map((e) => e.action)).toEqual(['webhook.created', 'webhook.undelivered', 'alert.raised']);
    const [alert] = await h.custody.ledger.list({ subjectId: down.id, action: 'alert.raised', order: 'asc', limit: 1 });
    expect(alert!.data).toMatchObject({ kind: 'webhook_undelivered', severity: 'medium' });
  });

  it('resolves and pins each delivery: a name that resolves to a metadata address is refused at connect, and logged', async () => {
    const hook = await h.custody.webhooks.create(h.admin, { url: 'http://hooks.attacker.test/x', events: ['*'] });
    // The resolver an attacker controls: a public-looking name pointing at the cloud metadata service.
    const delivery = createWebhookDelivery({
      storage: h.custody.storage,
      ledger: h.custody.ledger,
      alerts: h.custody.alerts,
      webhooks: h.custody.webhooks,
      clock,
      logger: createLogger('silent'),
      options: { timeoutMs: 2_000, production: false, resolve: async () => [{ address: '169.254.169.254', family: 4 }] },
      noticeMessage: async () => null,
    });
    try {
      const head = (await h.custody.ledger.head())!.seq;
      const result = await delivery.handler.deliver({ id: 'job_test', kind: 'webhook_delivery', subjectId: `${hook.id}:ledger:${head}`, tenantId: null, payload: { subscriptionId: hook.id, seq: head, type: 'x' }, attempts: 1, createdAt: clock.now().toISOString() });
      expect(result).toMatchObject({ kind: 'retry', error: expect.stringContaining('refused: hooks.attacker.test is a link-local/metadata address') });
      const [row] = (await h.custody.webhooks.deliveries(h.admin, hook.id, { limit: 5 })).items;
      expect(row).toMatchObject({ outcome: 'failed', statusCode: null, error: 'refused: hooks.attacker.test is a link-local/metadata address' });
    } finally {
      await delivery.close();
      await h.custody.webhooks.remove(h.admin, hook.id);
    }
  });

  it('refuses unsafe URLs and filters with coded 400s', async () => {
    const admin = await keyFor(h, 'admin');
    for (const url of ['ftp://hooks.example.com/x', 'http://169.254.169.254/latest/meta-data', 'https://user:pw@hooks.example.com/', 'http://[fe80::1]/', 'not a url']) {
      const r = await inject('POST', '/v1/webhooks', admin, { url, events: ['*'] });
      expect([url, r.statusCode, (r.json() as { error: { code: string } }).error.code]).toEqual([url, 400, 'webhook_url_refused']);
    }
    for (const filter of ['token.', 'Token.revoked', '**', 'alert.*.x']) {
      const r = await inject('POST', '/v1/webhooks', admin, { url: 'https://hooks.example.com/x', events: [filter] });
      expect([filter, r.statusCode, (r.json() as { error: { code: string } }).error.code]).toEqual([filter, 400, 'webhook_filter_invalid']);
    }
  });

  it('delivers each notice once through the notifier, with its link only where the subscription opted in', async () => {
    const admin = await keyFor(h, 'security');
    const withLinks = (await inject('POST', '/v1/webhooks', admin, { url: `${base}/mailer`, events: ['notice.*'], includeNoticeLinks: true, tenantId: s.tenantA })).json() as { id: string; secret: string };
    await inject('POST', '/v1/webhooks', admin, { url: `${base}/soc-notices`, events: ['notice.created'] });
    const auditor = await keyFor(h, 'auditor');
    expect((await inject('POST', '/v1/webhooks', auditor, { url: `${base}/x`, events: ['*'], includeNoticeLinks: true })).statusCode).toBe(403);

    const url = `http://127.0.0.1:7420/connect/links/lnk-test-${Date.now()}`;
    const [noticeId] = await h.custody.storage.db.transaction().execute((trx) =>
      h.custody.notices.record(trx, [
        {
          tenantId: s.tenantA,
          tokenId: s.tokenA,
          findingId: 'fnd_test',
          findingType: 'dormant',
          deadline: new Date(NOW.getTime() + 7 * 86_400_000).toISOString(),
          message: 'Unused for 30 days: it will be suspended in 7 days unless used or justified.',
          recipients: [{ kind: 'owner', name: 'team-integrations', address: 'team@platform.example' }],
          link: { id: 'lnk_test', url, expiresAt: new Date(NOW.getTime() + 7 * 86_400_000).toISOString() },
          policyVersion: { global: 1, tenant: 0 },
        },
      ]),
    );
    // The notice's delivery (notifiers) queues the webhook messages; the next pass sends them.
    await deliverAll();
    await deliverAll();
    const mailer = received.filter((r) => r.path === '/mailer');
    const soc = received.filter((r) => r.path === '/soc-notices');
    expect(mailer).toHaveLength(1);
    expect(soc).toHaveLength(1);
    expect(verifyStandardWebhook(withLinks.secret, mailer[0]!, Number(mailer[0]!.timestamp))).toBe(true);
    const m = JSON.parse(mailer[0]!.body) as { type: string; data: { noticeId: string; link: { url: string | null } } };
    expect(m).toMatchObject({ type: 'notice.created', data: { noticeId, tokenId: s.tokenA, recipients: [{ kind: 'owner', address: 'team@platform.example' }], link: { id: 'lnk_test', url } } });
    expect(JSON.parse(soc[0]!.body)).toMatchObject({ type: 'notice.created', data: { noticeId, link: { id: 'lnk_test', url: null } } });
    expect(soc[0]!.body).not.toContain(url);
    expect((await h.custody.notices.get(h.admin, noticeId!)).delivery).toBe('delivered');
  });

  it('logs a receiver that does not answer in time as a plain timeout', async () => {
    const silent = http.createServer(() => {
      /* never answers */
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const hook = await h.custody.webhooks.create(h.admin, { url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}/slow`, events: ['*'] });
    const delivery = createWebhookDelivery({
      storage: h.custody.storage,
      ledger: h.custody.ledger,
      alerts: h.custody.alerts,
      webhooks: h.custody.webhooks,
      clock,
      logger: createLogger('silent'),
      options: { timeoutMs: 200, production: false },
      noticeMessage: async () => null,
    });
    try {
      const head = (await h.custody.ledger.head())!.seq;
      const result = await delivery.handler.deliver({ id: 'job_slow', kind: 'webhook_delivery', subjectId: `${hook.id}:ledger:${head}`, tenantId: null, payload: { subscriptionId: hook.id, seq: head, type: 'x' }, attempts: 1, createdAt: clock.now().toISOString() });
      expect(result).toMatchObject({ kind: 'retry', error: `webhook ${hook.id}: timed out after 200 ms` });
      const [row] = (await h.custody.webhooks.deliveries(h.admin, hook.id, { limit: 5 })).items;
      expect(row).toMatchObject({ outcome: 'failed', statusCode: null, error: 'timed out after 200 ms' });
    } finally {
      await delivery.close();
      await h.custody.webhooks.remove(h.admin, hook.id);
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('bounds the deliveries waiting per subscription: past the bound its events are dropped and the log says how many', async () => {
    const admin = await keyFor(h, 'admin');
    // Earlier subscriptions that take tenant.created are out of the way; the cursor is at the head.
    for (const sub of await h.custody.webhooks.all()) if (sub.url.endsWith('/down')) await h.custody.webhooks.remove(h.admin, sub.id);
    await deliverAll();
    const capped = (await inject('POST', '/v1/webhooks', admin, { url: `${base}/capped`, events: ['tenant.created'] })).json() as { id: string };
    const dispatcher = createWebhookDispatcher({ storage: h.custody.storage, ledger: h.custody.ledger, webhooks: h.custody.webhooks, enqueue: createOutboxEnqueuer(h.custody.storage.dialect), clock, logger: createLogger('silent'), retentionDays: 0, pollMs: 1_000, onEnqueued: () => {}, maxPendingPerSubscription: 3 });
    const waiting = async () => Number((await h.custody.storage.db.selectFrom('webhook_subscriptions').select('pending_jobs').where('id', '=', capped.id).executeTakeFirstOrThrow()).pending_jobs);
    for (let i = 0; i < 5; i++) await h.custody.tenants.create(h.admin, { name: `capped-${i}-${Date.now()}` });
    await dispatcher.dispatch();
    expect(await waiting()).toBe(3);
    const log = ((await inject('GET', `/v1/webhooks/${capped.id}/deliveries`, admin)).json() as { items: { outcome: string; error: string | null; eventType: string }[] }).items;
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ outcome: 'dropped', eventType: 'tenant.created', error: expect.stringMatching(/^2 events \(ledger seq \d+–\d+\) not queued: 3 deliveries already waiting/) });
    // Delivered, they make room again.
    while ((await h.custody.outbox.runOnce()) > 0) {
      /* until nothing is due */
    }
    expect(received.filter((r) => r.path === '/capped')).toHaveLength(3);
    expect(await waiting()).toBe(0);
    await h.custody.tenants.create(h.admin, { name: `capped-late-${Date.now()}` });
    await dispatcher.dispatch();
    await h.custody.outbox.runOnce();
    expect(received.filter((r) => r.path === '/capped')).toHaveLength(4);
    await h.custody.webhooks.remove(h.admin, capped.id);
  });

  it('keeps delivering to one tenant’s receiver while another tenant’s asks for a long pause', async () => {
    const busy = (await inject('POST', '/v1/webhooks', await keyFor(h, 'tenant_admin', s.tenantA), { url: `${base}/busy`, events: ['token.*'] })).json() as { id: string };
    const prompt = (await inject('POST', '/v1/webhooks', await keyFor(h, 'tenant_admin', s.tenantB), { url: `${base}/prompt`, events: ['token.*'] })).json() as { id: string };
    await h.custody.outbox.start();
    try {
      await h.custody.tokens.transition(h.admin, s.tokenA, 'resume', 'cleared');
      await h.custody.webhookDispatcher.dispatch();
      await vi.waitFor(() => expect(received.filter((r) => r.path === '/busy')).toHaveLength(1), { timeout: 5_000, interval: 20 });
      // Tenant A's receiver said 503, Retry-After 50 s: its subscription waits, tenant B's does not.
      await h.custody.tokens.transition(h.admin, s.tokenB, 'suspend', 'investigating');
      await h.custody.webhookDispatcher.dispatch();
      await vi.waitFor(() => expect(received.filter((r) => r.path === '/prompt')).toHaveLength(1), { timeout: 5_000, interval: 20 });
    } finally {
      await h.custody.outbox.stop();
      for (const id of [busy.id, prompt.id]) await h.custody.webhooks.remove(h.admin, id);
    }
  });
});
