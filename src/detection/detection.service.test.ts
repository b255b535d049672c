import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from '../../test/support/databases.ts';
import { testKeyring } from '../../test/support/harness.ts';
import { createCustody, type Custody } from '../app/custody.ts';
import { systemPrincipal } from '../auth/roles.ts';
import { loadConfig } from '../config/config.ts';
import { createLogger } from '../shared/logger.ts';
import type { UsageEvent } from '../gateway/gateway.types.ts';
import { packEvents } from '../gateway/usage-writer.ts';
import { fixedClock } from '../shared/clock.ts';
import { Secret } from '../shared/secret.ts';
import { createDetectionService, type DetectionService } from './detection.service.ts';

/**
 * Detection against each token's own baseline, on a fixed clock, both databases. Committed batches
 * are handed to detection as the usage recorder hands them (`ingest`), with event times chosen by
 * the test: a day and an hour of steady use teaches a token its baseline; then one scenario per
 * alert kind, none on the same steady use, none while learning; the policy's automatic suspension
 * in enforce and audit mode; baselines survive a restart; of two instances only one discovers a
 * value; a full queue is said, and never swallows a use after revocation.
 */
const NOW = new Date('2026-12-01T00:00:00.000Z');
const T0 = Date.UTC(2026, 10, 20, 0, 0, 0);
const MIN = 60_000;
const HOUR = 60 * MIN;

describeEachDatabase('detection on use', (kind) => {
  const clock = fixedClock(NOW);
  let h: { custody: Custody; admin: ReturnType<typeof systemPrincipal>; logs: string[]; db: TestDatabase };
  let providerId: string;
  let tenantId: string;
  let detection: DetectionService;

  beforeAll(async () => {
    // The services alone (no HTTP server): detection is fed as the usage recorder feeds it.
    const db = await createTestDatabase(kind);
    const config = loadConfig({ CUSTODY_ENV: 'test', CUSTODY_DATABASE_URL: db.config.kind === 'sqlite' ? db.config.file : db.config.url, CUSTODY_KEYRING: testKeyring(), CUSTODY_LOG_LEVEL: 'info' });
    const logs: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, cb) => void (logs.push(String(chunk)), cb()) });
    const custody = await createCustody(config, { logger: createLogger('info', sink), clock, migrate: true, enforceAfterChanges: false });
    h = { custody, admin: systemPrincipal('test'), logs, db };
    detection = h.custody.detection;
    tenantId = (await h.custody.tenants.create(h.admin, { name: `acme-${randomBytes(3).toString('hex')}` })).id;
    providerId = (
      await h.custody.providers.create(h.admin, {
        name: `provider-${randomBytes(3).toString('hex')}`,
        tokenEndpoint: 'https://issuer.example.com/token',
        clientId: 'custody-client',
        apiBaseUrls: ['https://api.example.com/v1'],
      })
    ).id;
  });
  afterAll(async () => {
    await h?.custody.close();
    await h?.db.drop();
  });

  const newToken = async (tenant = tenantId) =>
    (
      await h.custody.tokens.register(h.admin, {
        tenantId: tenant,
        providerId,
        owner: 'team-integrations',
        workloads: ['billing-sync', 'reporting'],
        scopes: ['invoices.read', 'customers.read'],
        accessToken: new Secret(`at-${randomBytes(8).toString('hex')}`),
      })
    ).id;

  const event = (tokenId: string, atMs: number, over: Partial<UsageEvent> = {}): UsageEvent => ({
    atMs,
    tokenId,
    tenantId,
    workload: 'billing-sync',
    apiKeyId: 'key_x',
    actor: 'apikey:key_x',
    method: 'GET',
    host: 'api.example.com',
    pathTemplate: '/invoices/{id}',
    scope: 'invoices.read',
    unmapped: false,
    outcome: 'forwarded',
    errorCode: null,
    status: 200,
    sourceAddress: '10.0.0.5',
    latencyMs: 3,
    ...over,
  });

  /** Three calls every ten minutes from `fromMs` for `hours`: steady use. */
  const steady = (tokenId: string, fromMs: number, hours: number, over: Partial<UsageEvent> = {}) => {
    const events: UsageEvent[] = [];
    for (let t = fromMs; t < fromMs + hours * HOUR; t += 10 * MIN) for (let i = 0; i < 3; i++) events.push(event(tokenId, t + i * 1_000, { sourceAddress: `10.0.0.${5 + i}`, ...over }));
    return events;
  };

  /** As the gateway does: a refusal for the token's state is heard at once, then every call is handed over once its batch is committed. */
  const feed = async (events: UsageEvent[], into: DetectionService = detection) => {
    for (const e of events) if (e.errorCode === 'token_revoked' || e.errorCode === 'token_suspended' || e.errorCode === 'token_expired') into.noteStateRefusal(e);
    into.ingest(packEvents(events));
    await into.drain();
  };
  const alertsOf = (tokenId: string) => h.custody.alerts.forSubject(h.custody.storage.db, tokenId);
  /** A token that has learned its baseline (25 hours of steady use from T0). */
  const learned = async (tenant = tenantId) => {
    const id = await newToken(tenant);
    await feed(steady(id, T0, 25, { tenantId: tenant }));
    return id;
  };
  const LATER = T0 + 25 * HOUR;

  it('raises nothing on steady use: during learning, after it, and after a restart', async () => {
    const id = await learned();
    await feed(steady(id, LATER, 3));
    // A restart reads the baselines back (nothing learnt again, nothing new).
    detection.forgetCache();
    await feed(steady(id, LATER + 3 * HOUR, 2));
    expect(await alertsOf(id)).toEqual([]);
  });

  it('keeps its baselines across a restart: judged at once (not learning again), its known values not new again', async () => {
    const id = await learned();
    detection.forgetCache();
    await feed([event(id, LATER + MIN, { sourceAddress: '10.0.0.9' }), event(id, LATER + MIN + 1, { workload: 'reporting' })]);
    expect((await alertsOf(id)).map((a) => a.kind)).toEqual(['new_workload']);
  });

  it('learns from a new token’s first day: new workloads, networks, endpoints and scopes then alert nothing', async () => {
    const id = await newToken();
    await feed([
      ...steady(id, T0, 2),
      event(id, T0 + 3 * HOUR, { workload: 'reporting', sourceAddress: '192.0.2.7', method: 'GET', pathTemplate: '/customers/{id}', scope: 'customers.read' }),
    ]);
    expect(await alertsOf(id)).toEqual([]);
  });

  it('raises new_workload (medium) for a workload the token never used, once, with the call as evidence', async () => {
    const id = await learned();
    await feed([event(id, LATER + MIN, { workload: 'reporting' }), event(id, LATER + MIN + 1, { workload: 'reporting' })]);
    await feed([event(id, LATER + 2 * MIN, { workload: 'reporting' })]);
    const alerts = await alertsOf(id);
    expect(alerts.map((a) => [a.kind, a.severity, a.count])).toEqual([['new_workload', 'medium', 1]]);
    expect(alerts[0]!.data).toMatchObject({ workloads: ['reporting'] });
    const detail = await h.custody.alerts.get(h.admin, alerts[0]!.id);
    const evidence = JSON.stringify(detail);
    expect(evidence).toContain('reporting');
    expect(evidence).toContain('/invoices/{id}');
    // Never the full source address: its network.
    expect(evidence).toContain('10.0.0.0/24');
    expect(evidence).not.toContain('10.0.0.5"');
  });

  it('raises new_network (medium) for a /24 the token never used, not for another address in a known one', async () => {
    const id = await learned();
    await feed([event(id, LATER + MIN, { sourceAddress: '10.0.0.200' })]);
    expect(await alertsOf(id)).toEqual([]);
    await feed([event(id, LATER + 2 * MIN, { sourceAddress: '203.0.113.9' })]);
    const alerts = await alertsOf(id);
    expect(alerts.map((a) => [a.kind, a.severity])).toEqual([['new_network', 'medium']]);
    expect(alerts[0]!.data).toMatchObject({ networks: ['203.0.113.0/24'] });
  });

  it('raises new_endpoint (low) for a method and path template never used', async () => {
    const id = await learned();
    await feed([event(id, LATER + MIN, { method: 'DELETE', pathTemplate: '/invoices/{id}' })]);
    const alerts = await alertsOf(id);
    expect(alerts.map((a) => [a.kind, a.severity])).toEqual([['new_endpoint', 'low']]);
    expect(alerts[0]!.data).toMatchObject({ endpoints: ['DELETE /invoices/{id}'] });
  });

  it('raises new_scope (medium) for a granted scope used for the first time', async () => {
    const id = await learned();
    await feed([event(id, LATER + MIN, { scope: 'customers.read' })]);
    const alerts = await alertsOf(id);
    expect(alerts.map((a) => [a.kind, a.severity])).toEqual([['new_scope', 'medium']]);
    expect(alerts[0]!.data).toMatchObject({ scopes: ['customers.read'] });
  });

  it('raises volume_spike against the baseline (medium), critical only when extreme; audit mode only ledgers the suspension it would make', async () => {
    const id = await learned();
    // 150 calls in one minute against about one a minute: a spike.
    const burst = (minute: number, n: number) => Array.from({ length: n }, (_, i) => event(id, LATER + minute * MIN + i * 10));
    await feed(burst(5, 150));
    let alerts = await alertsOf(id);
    expect(alerts.map((a) => [a.kind, a.severity])).toEqual([['volume_spike', 'medium']]);
    expect(alerts[0]!.data).toMatchObject({ calls: 100, threshold: 100 });
    // 1,500 in a minute: critical. The default policy (audit, suspend on critical) only says what it would do.
    await feed(burst(20, 1_500));
    alerts = await alertsOf(id);
    expect(alerts.map((a) => [a.kind, a.severity])).toEqual([['volume_spike', 'critical']]);
    const would = await h.custody.ledger.list({ subjectId: id, action: 'policy.would_suspend', order: 'asc', limit: 10 });
    expect(would).toHaveLength(1);
    expect(would[0]!.data).toMatchObject({ alertId: alerts[0]!.id, alertKind: 'volume_spike', severity: 'critical', mode: 'audit' });
    expect((await h.custody.tokens.get(h.admin, id)).state).toBe('active');
  });

  it('in enforce mode suspends a live token on an alert at the policy’s severity (kind signal, by detection, ledgered with the alert)', async () => {
    const enforced = (await h.custody.tenants.create(h.admin, { name: `enforced-${randomBytes(3).toString('hex')}` })).id;
    await h.custody.policy.putTenant(h.admin, enforced, { mode: 'enforce', suspendOnAlertSeverity: 'critical' });
    const id = await learned(enforced);
    // A medium alert leaves it active.
    await feed([event(id, LATER + MIN, { tenantId: enforced, workload: 'reporting' })]);
    expect((await h.custody.tokens.get(h.admin, id)).state).toBe('active');
    await feed(Array.from({ length: 1_500 }, (_, i) => event(id, LATER + 10 * MIN + i * 10, { tenantId: enforced })));
    const token = await h.custody.tokens.get(h.admin, id);
    expect(token.state).toBe('suspended');
    const spike = (await alertsOf(id)).find((a) => a.kind === 'volume_spike')!;
    expect(spike.severity).toBe('critical');
    const suspended = await h.custody.ledger.list({ subjectId: id, action: 'token.suspended', order: 'asc', limit: 10 });
    expect(suspended.map((e) => [e.actor, (e.data as { kind?: string }).kind])).toEqual([['detection', 'signal']]);
    expect(JSON.stringify(suspended[0]!.data)).toContain(spike.id);
    const enforcedEntries = await h.custody.ledger.list({ subjectId: id, action: 'policy.enforced', order: 'asc', limit: 10 });
    expect(enforcedEntries[0]!.data).toMatchObject({ action: 'suspend', alertId: spike.id, mode: 'enforce' });
    // Calls that go on naming it are the integration still active: high.
    await feed([event(id, LATER + 20 * MIN, { tenantId: enforced, outcome: 'denied', errorCode: 'token_suspended', status: 403, scope: null, pathTemplate: '-' })]);
    expect((await alertsOf(id)).find((a) => a.kind === 'use_after_revoke')?.severity).toBe('high');
  });

  it('raises use_after_revoke (high) for calls naming a revoked token, counted onto one open alert', async () => {
    const id = await newToken();
    await h.custody.tokens.transition(h.admin, id, 'revoke', 'offboarded');
    const refused = (at: number) => event(id, at, { outcome: 'denied', errorCode: 'token_revoked', status: 403, scope: null, pathTemplate: '-', host: null });
    await feed([refused(T0), refused(T0 + 1)]);
    await feed([refused(T0 + MIN)]);
    const alerts = await alertsOf(id);
    expect(alerts.map((a) => [a.kind, a.severity, a.status])).toEqual([['use_after_revoke', 'high', 'open']]);
    expect(alerts[0]!.message).toContain('revoked');
    expect(alerts[0]!.count).toBe(2);
  });

  it('keeps no state for calls naming a token that is not the caller’s (token_not_found)', async () => {
    const before = detection.stats().cachedTokens;
    await feed(Array.from({ length: 50 }, (_, i) => event(`tok_${randomBytes(6).toString('hex')}`, T0 + i, { outcome: 'denied', errorCode: 'token_not_found', status: 404, tenantId: tenantId })));
    expect(detection.stats().cachedTokens).toBe(before);
  });

  it('does not let a caller that may not use a token (workload not on it) move its baseline, spike it or suspend it', async () => {
    const enforced = (await h.custody.tenants.create(h.admin, { name: `intruded-${randomBytes(3).toString('hex')}` })).id;
    await h.custody.policy.putTenant(h.admin, enforced, { mode: 'enforce', suspendOnAlertSeverity: 'critical' });
    const id = await learned(enforced);
    const baseline = () => h.custody.storage.db.selectFrom('detection_baselines').selectAll().where('token_id', '=', id).executeTakeFirstOrThrow();
    const before = await baseline();
    // 1,500 calls in a minute by a workload not listed on the token, from a new network, on a new endpoint.
    const refused = (i: number, errorCode: string) =>
      event(id, LATER + 10 * MIN + i * 10, { tenantId: enforced, workload: 'intruder', sourceAddress: '203.0.113.9', method: 'DELETE', outcome: 'denied', errorCode, status: 403, scope: null, pathTemplate: '-', host: null });
    await feed(Array.from({ length: 1_500 }, (_, i) => refused(i, 'workload_not_allowed')));
    await feed(Array.from({ length: 1_500 }, (_, i) => refused(i, 'token_not_found')));
    expect(await alertsOf(id)).toEqual([]);
    expect((await h.custody.tokens.get(h.admin, id)).state).toBe('active');
    const after = await baseline();
    expect([after.calls_seen, after.rate_ewma, after.rate_peak, after.bucket_start, after.bucket_count]).toEqual([before.calls_seen, before.rate_ewma, before.rate_peak, before.bucket_start, before.bucket_count]);
    // The token's own use is judged as before: its burst in the same minute is a spike of its own calls only.
    await feed(Array.from({ length: 150 }, (_, i) => event(id, LATER + 10 * MIN + i * 10, { tenantId: enforced })));
    const alerts = await alertsOf(id);
    expect(alerts.map((a) => [a.kind, a.severity])).toEqual([['volume_spike', 'medium']]);
    expect(alerts[0]!.data).toMatchObject({ calls: 100 });
    expect(JSON.stringify(await h.custody.alerts.get(h.admin, alerts[0]!.id))).not.toContain('intruder');
  });

  it('of two instances that see a new value at once, only the one that stores it first alerts', async () => {
    const id = await learned();
    const other = createDetectionService({
      storage: h.custody.storage,
      tokens: h.custody.tokens,
      alerts: h.custody.alerts,
      ledger: h.custody.ledger,
      clock,
      logger: h.custody.logger,
      policyFor: async (t) => (await h.custody.policy.snapshot()).forTenant(t),
    });
    // The other instance learns the same token (its baseline read from the database).
    await feed(steady(id, LATER, 1), other);
    const before = (detection.stats().alerts.new_network ?? 0) + (other.stats().alerts.new_network ?? 0);
    const seen = [event(id, LATER + 2 * HOUR, { sourceAddress: '198.51.100.4' })];
    detection.ingest(packEvents(seen));
    other.ingest(packEvents(seen));
    await Promise.all([detection.drain(), other.drain()]);
    const after = (detection.stats().alerts.new_network ?? 0) + (other.stats().alerts.new_network ?? 0);
    expect(after - before).toBe(1);
    expect((await alertsOf(id)).map((a) => [a.kind, a.count])).toEqual([['new_network', 1]]);
    await other.close();
  });

  it('remembers at most the bounded number of values per token and kind; past it a new value still alerts, once while cached', async () => {
    const capped = createDetectionService({
      storage: h.custody.storage,
      tokens: h.custody.tokens,
      alerts: h.custody.alerts,
      ledger: h.custody.ledger,
      clock,
      logger: h.custody.logger,
      policyFor: async (t) => (await h.custody.policy.snapshot()).forTenant(t),
      // Learnt after one call; two networks remembered at most.
      tuning: { learnMs: 0, learnCalls: 1, maxKnownPerKind: 2 },
    });
    const id = await newToken();
    const from = (address: string, i: number) => event(id, T0 + i * MIN, { sourceAddress: address });
    await feed([from('10.1.0.1', 0)], capped);
    await feed([from('10.2.0.1', 1)], capped);
    await feed([from('10.3.0.1', 2)], capped);
    await feed([from('10.3.0.2', 3)], capped);
    await feed([from('10.4.0.1', 4)], capped);
    expect(capped.stats().alerts.new_network).toBe(3);
    const alerts = await alertsOf(id);
    expect(alerts.map((a) => [a.kind, a.count])).toEqual([['new_network', 3]]);
    // The repeats are on the open alert as evidence.
    const detail = JSON.stringify(await h.custody.alerts.get(h.admin, alerts[0]!.id));
    expect(detail).toContain('10.3.0.0/24');
    expect(detail).toContain('10.4.0.0/24');
    const stored = await h.custody.storage.db.selectFrom('detection_known_values').select('value').where('token_id', '=', id).where('kind', '=', 'network').execute();
    expect(stored.map((r) => r.value).sort()).toEqual(['10.1.0.0/24', '10.2.0.0/24']);
    await capped.close();
  });

  it('says when its queue is full (counted), and still alerts a use after revocation in the batch it could not judge', async () => {
    const small = createDetectionService({
      storage: h.custody.storage,
      tokens: h.custody.tokens,
      alerts: h.custody.alerts,
      ledger: h.custody.ledger,
      clock,
      logger: h.custody.logger,
      policyFor: async (t) => (await h.custody.policy.snapshot()).forTenant(t),
      limits: { maxQueuedEvents: 10 },
    });
    const live = await newToken();
    const revoked = await newToken();
    await h.custody.tokens.transition(h.admin, revoked, 'revoke', 'offboarded');
    const events = [...steady(live, T0, 1), event(revoked, T0 + 5, { outcome: 'denied', errorCode: 'token_revoked', status: 403, scope: null, pathTemplate: '-' })];
    await feed(events, small);
    expect(small.stats().droppedEvents).toBe(events.length);
    expect((await alertsOf(revoked)).map((a) => a.kind)).toEqual(['use_after_revoke']);
    expect(h.logs.join('')).toContain('detection is behind');
    await small.close();
  });
});
