import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { bearer, keyFor, seed, startHarness, type Harness, type Seeded } from '../../test/support/harness.ts';
import { fixedClock } from '../shared/clock.ts';
import type { NewAlert } from './alert.types.ts';

/**
 * Alerts you can read and work (issue 15, item 1), both databases, fixed clock: a repeat bumps the
 * open alert (count, last seen, evidence, severity up) and is not ledgered; after a resolve a repeat
 * opens a new one; two raisers at once end with one alert; the list filters and pages newest first;
 * acknowledge and resolve are for admin and security, ledgered with actor and reason, and a second
 * resolve is 409; a tenant administrator sees their tenant's alerts only (another's is 404); /metrics
 * counts the open ones by kind and severity.
 */
const NOW = new Date('2026-12-01T09:00:00.000Z');

describeEachDatabase('alerts', (kind) => {
  const clock = fixedClock(NOW);
  let h: Harness;
  let s: Seeded;
  let security: string;
  let auditor: string;
  let tenantAdminA: string;

  beforeAll(async () => {
    h = await startHarness(kind, { clock });
    s = await seed(h);
    [security, auditor, tenantAdminA] = await Promise.all([keyFor(h, 'security'), keyFor(h, 'auditor'), keyFor(h, 'tenant_admin', s.tenantA)]);
  });
  afterAll(async () => {
    await h?.close();
  });

  const raise = (alert: Partial<NewAlert> & { kind: string }, at = clock.now()) =>
    h.custody.storage.db.transaction().execute((trx) => h.custody.alerts.raise(trx, { severity: 'medium', tenantId: s.tenantA, subjectId: s.tokenA, message: `${alert.kind} happened`, ...alert }, at));
  const get = (id: string, key = security) => h.app.inject({ method: 'GET', url: `/v1/alerts/${id}`, headers: bearer(key) });
  const list = (query: string, key = security) => h.app.inject({ method: 'GET', url: `/v1/alerts?${query}`, headers: bearer(key) });
  const post = (id: string, action: 'acknowledge' | 'resolve', key = security, reason = 'looked into it') =>
    h.app.inject({ method: 'POST', url: `/v1/alerts/${id}/${action}`, headers: bearer(key), payload: { reason } });
  const raisedEntries = async (alertId: string) => (await h.custody.ledger.list({ action: 'alert.raised', order: 'asc', limit: 1000 })).filter((e) => e.data.alertId === alertId);

  it('folds a repeat of the same kind about the same token into the open alert: count 2, last seen, evidence, severity raised, one ledger entry', async () => {
    const first = await raise({ kind: 'new_workload', evidence: { kind: 'usage', workload: 'etl' } });
    const later = new Date(NOW.getTime() + 60_000);
    const second = await raise({ kind: 'new_workload', severity: 'high', message: 'etl-2 used it too', evidence: { kind: 'usage', workload: 'etl-2' } }, later);
    expect(first.created).toBe(true);
    expect(second).toEqual({ id: first.id, created: false });

    const alert = (await get(first.id)).json();
    expect(alert).toMatchObject({ id: first.id, kind: 'new_workload', severity: 'high', status: 'open', count: 2, tenantId: s.tenantA, tokenId: s.tokenA, firstSeenAt: NOW.toISOString(), lastSeenAt: later.toISOString() });
    // The message says what the newest occurrence found.
    expect(alert.message).toBe('etl-2 used it too');
    expect(alert.evidence).toEqual([
      { kind: 'usage', workload: 'etl', at: NOW.toISOString() },
      { kind: 'usage', workload: 'etl-2', at: later.toISOString() },
    ]);
    // A lower severity later does not lower it.
    await raise({ kind: 'new_workload', severity: 'low' });
    expect((await get(first.id)).json()).toMatchObject({ severity: 'high', count: 3 });
    // Created once in the ledger; the bumps are in the count.
    const entries = await raisedEntries(first.id);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ actor: 'system:alerts', tenantId: s.tenantA, subjectId: s.tokenA, data: { alertId: first.id, kind: 'new_workload', severity: 'medium' } });
  });

  it('keeps the newest 20 pieces of evidence', async () => {
    const { id } = await raise({ kind: 'evidence_cap', evidence: { kind: 'usage', n: 0 } });
    for (let n = 1; n < 25; n++) await raise({ kind: 'evidence_cap', evidence: { kind: 'usage', n } });
    const alert = (await get(id)).json();
    expect(alert.count).toBe(25);
    expect(alert.evidence.map((e: { n: number }) => e.n)).toEqual(Array.from({ length: 20 }, (_, i) => i + 5));
  });

  it('opens a new alert for a repeat after the open one was resolved', async () => {
    const first = await raise({ kind: 'spike' });
    expect((await post(first.id, 'resolve')).statusCode).toBe(200);
    const again = await raise({ kind: 'spike' });
    expect(again.created).toBe(true);
    expect(again.id).not.toBe(first.id);
    expect((await get(again.id)).json()).toMatchObject({ status: 'open', count: 1 });
    expect((await get(first.id)).json()).toMatchObject({ status: 'resolved', count: 1 });
  });

  it('gives one alert when two raisers race on the same token and kind', async () => {
    const results = await Promise.all([raise({ kind: 'race' }), raise({ kind: 'race' }), raise({ kind: 'race' })]);
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect((await get(results[0]!.id)).json().count).toBe(3);
  });

  it('de-duplicates alerts about no token per tenant (or platform), not per row', async () => {
    const a = await raise({ kind: 'leak_report_unsigned', subjectId: null });
    const b = await raise({ kind: 'leak_report_unsigned', subjectId: null });
    const global = await raise({ kind: 'leak_report_unsigned', subjectId: null, tenantId: null });
    expect(b).toEqual({ id: a.id, created: false });
    expect(global.created).toBe(true);
  });

  it('lists newest first with filters by tenant, token, kind, severity and status, and pages with a cursor', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      clock.advance(1_000);
      ids.push((await raise({ kind: `page_${i}`, severity: i === 1 ? 'critical' : 'low' })).id);
    }
    const onB = (await raise({ kind: 'page_0', tenantId: s.tenantB, subjectId: s.tokenB })).id;

    const byKind = (await list('type=page_0')).json();
    expect(byKind.items.map((a: { id: string }) => a.id)).toEqual([onB, ids[0]]);
    expect((await list(`kind=page_0&tenantId=${s.tenantA}`)).json().items.map((a: { id: string }) => a.id)).toEqual([ids[0]]);
    expect((await list(`kind=page_0&tokenId=${s.tokenB}`)).json().items.map((a: { id: string }) => a.id)).toEqual([onB]);
    const critical = (await list(`severity=critical&tokenId=${s.tokenA}`)).json().items.map((a: { id: string }) => a.id);
    expect(critical).toContain(ids[1]);
    expect(critical).not.toContain(ids[0]);

    // Paging, newest first, over the three made above.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: { id: string }[]; nextCursor: string | null } = (await list(`tokenId=${s.tokenA}&limit=2${cursor ? `&cursor=${cursor}` : ''}`)).json();
      seen.push(...page.items.map((a: { id: string }) => a.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen.slice(0, 3)).toEqual([...ids].reverse());
    expect(new Set(seen).size).toBe(seen.length);

    // Resolved ones only when asked for.
    await post(ids[2]!, 'resolve');
    expect((await list(`kind=page_2`)).json().items).toEqual([]);
    expect((await list(`kind=page_2&status=resolved`)).json().items.map((a: { id: string }) => a.id)).toEqual([ids[2]]);

    expect((await list('cursor=not-a-cursor')).json().error.code).toBe('invalid_cursor');
    expect((await list('severity=warning')).statusCode).toBe(400);
  });

  it('lets admin and security acknowledge and resolve, ledgered with actor and reason; a second resolve is 409 alert_resolved', async () => {
    const { id } = await raise({ kind: 'work_me' });
    for (const key of [auditor, tenantAdminA]) {
      const r = await post(id, 'acknowledge', key);
      expect(r.statusCode).toBe(403);
      expect(r.json().error.code).toBe('forbidden');
    }
    const acked = await post(id, 'acknowledge', security, 'on it');
    expect(acked.statusCode).toBe(200);
    expect(acked.json()).toMatchObject({ status: 'acknowledged', acknowledgement: { at: clock.now().toISOString(), reason: 'on it' } });
    // A repeat still bumps an acknowledged alert.
    expect(await raise({ kind: 'work_me' })).toEqual({ id, created: false });

    const resolved = await post(id, 'resolve', security, 'rotated the credential');
    expect(resolved.json()).toMatchObject({ status: 'resolved', count: 2, resolution: { reason: 'rotated the credential' } });
    const again = await post(id, 'resolve');
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('alert_resolved');
    expect((await post(id, 'acknowledge')).json().error.code).toBe('alert_resolved');

    const entries = (await h.custody.ledger.list({ subjectId: s.tokenA, order: 'asc', limit: 1000 })).filter((e) => e.data.alertId === id);
    expect(entries.map((e) => e.action)).toEqual(['alert.raised', 'alert.acknowledged', 'alert.resolved']);
    const actor = acked.json().acknowledgement.by;
    expect(actor).toMatch(/^apikey:/);
    expect(entries[1]).toMatchObject({ actor, tenantId: s.tenantA, data: { alertId: id, kind: 'work_me', reason: 'on it' } });
    expect(entries[2]).toMatchObject({ actor, data: { reason: 'rotated the credential' } });
  });

  it("shows a tenant administrator their tenant's alerts only: another tenant's and platform-wide ones are 404", async () => {
    const onA = (await raise({ kind: 'isolation' })).id;
    const onB = (await raise({ kind: 'isolation', tenantId: s.tenantB, subjectId: s.tokenB })).id;
    const global = (await raise({ kind: 'isolation_global', tenantId: null, subjectId: null })).id;

    expect((await get(onA, tenantAdminA)).statusCode).toBe(200);
    expect((await get(onA, auditor)).statusCode).toBe(200);
    for (const id of [onB, global]) {
      const r = await get(id, tenantAdminA);
      expect(r.statusCode).toBe(404);
      expect(r.json().error.code).toBe('alert_not_found');
    }
    expect((await get(global, auditor)).statusCode).toBe(200);
    const mine = (await list('', tenantAdminA)).json().items.map((a: { tenantId: string | null }) => a.tenantId);
    expect(mine.length).toBeGreaterThan(0);
    expect(new Set(mine)).toEqual(new Set([s.tenantA]));
    expect((await list(`tenantId=${s.tenantB}`, tenantAdminA)).json().items).toEqual([]);
    // A workload key may not read alerts at all.
    expect((await list('', await keyFor(h, 'workload', s.tenantA, 'billing-sync'))).statusCode).toBe(403);
  });

  it('counts open alerts by kind and severity on /metrics', async () => {
    await raise({ kind: 'metrics_probe', severity: 'critical' });
    await raise({ kind: 'metrics_probe', severity: 'critical', subjectId: s.tokenB, tenantId: s.tenantB });
    const resolved = await raise({ kind: 'metrics_gone', severity: 'low' });
    await post(resolved.id, 'resolve');
    const text = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toContain('custody_alerts_open{kind="metrics_probe",severity="critical"} 2');
    expect(text).not.toContain('kind="metrics_gone"');
  });
});
