import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fixedClock } from '../shared/clock.ts';
import { createLogger } from '../shared/logger.ts';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { bearer, keyFor, seed, startHarness, type Harness, type Seeded } from '../../test/support/harness.ts';
import { createSiemFileSink } from './events.service.ts';

/**
 * The SIEM export on both databases: GET /v1/events pages the ledger as OCSF events by cursor
 * (no gap, no repeat), in JSON or JSON lines, a tenant administrator reads its tenant only; the
 * file sink appends every entry once, across a torn last line and a cursor that lags the file.
 */
const NOW = new Date('2026-12-01T10:00:00.000Z');

type Ocsf = { class_uid: number; activity_id: number; type_uid: number; category_uid: number; time: number; severity_id: number; metadata: { version: string; sequence: number; uid: string; product: { name: string } }; unmapped: { action: string; subject_id: string | null; tenant_id: string | null }; [k: string]: unknown };

describeEachDatabase('SIEM export', (kind) => {
  const clock = fixedClock(NOW);
  let h: Harness;
  let s: Seeded;
  let dir: string;

  beforeAll(async () => {
    h = await startHarness(kind, { clock });
    s = await seed(h);
    await h.custody.tokens.transition(h.admin, s.tokenA, 'suspend', 'investigating');
    await h.custody.tokens.transition(h.admin, s.tokenA, 'revoke', 'compromised');
    await h.custody.storage.db.transaction().execute((trx) => h.custody.alerts.raise(trx, { kind: 'use_after_revoke', severity: 'high', tenantId: s.tenantA, subjectId: s.tokenA, message: 'A revoked token was used.' }, clock.now()));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'custody-siem-'));
  });
  afterAll(async () => {
    await h?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const get = (url: string, key: string, headers: Record<string, string> = {}) => h.app.inject({ method: 'GET', url, headers: { ...bearer(key), ...headers } });

  it('pages the ledger as OCSF events by cursor, without gap or repeat', async () => {
    const auditor = await keyFor(h, 'auditor');
    const all: Ocsf[] = [];
    let cursor = '';
    for (let i = 0; i < 50; i++) {
      const r = await get(`/v1/events?limit=3${cursor ? `&cursor=${cursor}` : ''}`, auditor);
      expect(r.statusCode).toBe(200);
      const page = r.json() as { items: Ocsf[]; nextCursor: string };
      all.push(...page.items);
      if (page.items.length === 0) {
        expect(page.nextCursor).toBe(cursor);
        break;
      }
      cursor = page.nextCursor;
    }
    const seqs = all.map((e) => e.metadata.sequence);
    const ledger = await h.custody.ledger.list({ order: 'asc', limit: 1000 });
    expect(seqs).toEqual(ledger.map((e) => e.seq));
    for (const e of all) {
      expect(e.metadata).toMatchObject({ version: '1.3.0', product: { name: 'Custody' } });
      expect(e.type_uid).toBe(e.class_uid * 100 + e.activity_id);
      expect(e.time).toBe(NOW.getTime());
    }
    const by = (action: string, subject?: string) => all.find((e) => e.unmapped.action === action && (subject === undefined || e.unmapped.subject_id === subject))!;
    expect(by('token.registered', s.tokenA)).toMatchObject({ class_uid: 3001, category_uid: 3, activity_id: 1, user: { uid: s.tokenA } });
    expect(by('token.suspended', s.tokenA)).toMatchObject({ class_uid: 3001, activity_id: 5, type_uid: 300105 });
    expect(by('token.revoked', s.tokenA)).toMatchObject({ class_uid: 3001, activity_id: 6 });
    expect(by('alert.raised')).toMatchObject({ class_uid: 2004, category_uid: 2, activity_id: 1, severity_id: 4, finding_info: { types: ['use_after_revoke'] } });
    expect(by('tenant.created')).toMatchObject({ class_uid: 6003, category_uid: 6, activity_id: 1, api: { operation: 'tenant.created' } });
    // Nothing secret: the provider's client secret and the tokens' access tokens never appear.
    const text = JSON.stringify(all);
    expect(text).not.toContain('provider-client-secret');
    expect(text).not.toMatch(/"at-[0-9a-f]{16}"/);
  });

  it('answers JSON lines when asked, with the cursor in a header', async () => {
    const security = await keyFor(h, 'security');
    for (const r of [await get('/v1/events?limit=5', security, { accept: 'application/x-ndjson' }), await get('/v1/events?limit=5&format=jsonl', security)]) {
      expect(r.statusCode).toBe(200);
      expect(r.headers['content-type']).toMatch(/^application\/x-ndjson/);
      const lines = r.body.trimEnd().split('\n').map((l) => JSON.parse(l) as Ocsf);
      expect(lines).toHaveLength(5);
      expect(r.headers['x-next-cursor']).toBe(String(lines[4]!.metadata.sequence));
    }
  });

  it("gives a tenant administrator its tenant's events only", async () => {
    const adminA = await keyFor(h, 'tenant_admin', s.tenantA);
    const page = (await get('/v1/events?limit=1000', adminA)).json() as { items: Ocsf[] };
    expect(page.items.length).toBeGreaterThan(0);
    expect(page.items.every((e) => e.unmapped.tenant_id === s.tenantA)).toBe(true);
    expect(((await get(`/v1/events?tenantId=${s.tenantB}`, adminA)).json() as { items: Ocsf[] }).items).toEqual([]);
    expect((await get('/v1/events?cursor=abc', adminA)).json()).toMatchObject({ error: { code: 'validation_failed' } });
    const workload = await keyFor(h, 'workload', s.tenantA, 'billing-sync');
    expect((await get('/v1/events', workload)).statusCode).toBe(403);
  });

  it('appends every entry to the SIEM file once, across a torn line and a lagging cursor', async () => {
    const file = path.join(dir, 'custody-ocsf.jsonl');
    const sink = () => createSiemFileSink({ storage: h.custody.storage, ledger: h.custody.ledger, clock, logger: createLogger('silent'), file, productVersion: 'test', pollMs: 1_000 });
    const seqsInFile = () =>
      fs
        .readFileSync(file, 'utf8')
        .trimEnd()
        .split('\n')
        .map((l) => (JSON.parse(l) as Ocsf).metadata.sequence);
    const ledgerSeqs = async () => (await h.custody.ledger.list({ order: 'asc', limit: 1000 })).map((e) => e.seq);

    expect(await sink().flush()).toBe((await ledgerSeqs()).length);
    expect(seqsInFile()).toEqual(await ledgerSeqs());

    // A crash mid-write left half a line; a crash after the write left the cursor behind the file.
    await h.custody.tokens.transition(h.admin, s.tokenB, 'suspend', 'investigating');
    const first = sink();
    await first.flush();
    fs.appendFileSync(file, '{"class_uid":3001,"metadata":{"seq');
    await h.custody.storage.db.updateTable('ledger_cursors').set({ seq: 2 }).where('name', 'like', 'siem-file:%').execute();
    await h.custody.tokens.transition(h.admin, s.tokenB, 'resume', 'cleared');
    await sink().flush();
    expect(seqsInFile()).toEqual(await ledgerSeqs());
  });
});
