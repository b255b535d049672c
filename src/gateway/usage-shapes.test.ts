import { randomBytes } from 'node:crypto';
import { Migrator, sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from '../../test/support/databases.ts';
import { startGatewayFixture, type GatewayFixture } from '../../test/support/gateway-fixture.ts';
import { openStorage, type Storage } from '../storage/database.ts';
import { migrateToLatest, migrationsFor } from '../storage/migrate.ts';

/**
 * What anonymous or careless callers can make the gateway store about their calls is bounded:
 * calls no scope rule maps (refused ones too) are stored under a few path templates that carry
 * no names or emails, shapes are found by an indexed key, and retention drops the ones no event
 * refers to any more.
 */
describeEachDatabase('bounded call shapes', (kind) => {
  let f: GatewayFixture;
  const shapeRows = async () => (await f.h.custody.storage.db.selectFrom('gateway_call_shapes').selectAll().execute()).length;

  beforeAll(async () => {
    f = await startGatewayFixture(kind);
  });
  afterAll(() => f?.close());

  it('stores two hundred distinct unmapped paths (names, emails) as a handful of shapes, none holding them', async () => {
    const token = await f.createToken(f.providerId);
    await f.call(token, '/warm-up');
    await f.h.custody.gateway.flushUsage();
    const before = await shapeRows();
    const secrets: string[] = [];
    for (let i = 0; i < 200; i++) {
      const who = `person${randomBytes(3).toString('hex')}@acme.example`;
      secrets.push(who);
      const r = await f.call(token, `/people/${encodeURIComponent(who)}${i % 2 ? '/notes' : ''}`);
      expect(r.json().error.code).toBe('unmapped_call_refused');
    }
    await f.h.custody.gateway.flushUsage();
    expect((await shapeRows()) - before).toBeLessThanOrEqual(2);
    const stored = JSON.stringify(await f.h.custody.storage.db.selectFrom('gateway_call_shapes').selectAll().execute());
    for (const who of secrets.slice(0, 20)) expect(stored).not.toContain(who.split('@')[0]);
    expect(stored).toContain('"/*/*"');
  });

  it('drops the shapes no event refers to once retention has deleted their events', async () => {
    const token = await f.createToken(f.providerId);
    await f.call(token, `/unmapped-${randomBytes(2).toString('hex')}/a/b/c/d`);
    await f.h.custody.gateway.flushUsage();
    const db = f.h.custody.storage.db;
    // Time passes: this shape's events and its last use are older than the retention.
    const [shape] = await db.selectFrom('gateway_call_shapes').select(['id']).where('path_template', '=', '/*/*/*/*/*').execute();
    expect(shape).toBeDefined();
    await db.updateTable('gateway_usage_events').set({ at: '2020-01-01T00:00:00.000Z' }).where('shape_id', '=', shape!.id).execute();
    await db.updateTable('gateway_call_shapes').set({ last_seen_at: '2020-01-01T00:00:00.000Z' }).where('id', '=', shape!.id).execute();
    expect(await f.h.custody.gateway.pruneUsage()).toBeGreaterThanOrEqual(1);
    expect(await db.selectFrom('gateway_call_shapes').select('id').where('id', '=', shape!.id).executeTakeFirst()).toBeUndefined();
    // A shape still in use stays, and calls keep being recorded afterwards.
    expect(await shapeRows()).toBeGreaterThan(0);
    expect((await f.call(token, `/unmapped/a/b/c/d`)).status).toBe(403);
    await f.h.custody.gateway.flushUsage();
  });
});

describeEachDatabase('migration 009: call shapes keyed and bounded', (kind) => {
  let db: TestDatabase;
  let storage: Storage;
  beforeAll(async () => {
    db = await createTestDatabase(kind);
    storage = openStorage(db.config);
  });
  afterAll(async () => {
    await storage.close();
    await db.drop();
  });

  it('collapses unmapped templates that held names, merges the shapes that become the same, and keeps every event', async () => {
    const migrator = new Migrator({ db: storage.db, provider: { getMigrations: async () => migrationsFor(storage.dialect) } });
    expect((await migrator.migrateTo('008-suspension-kinds')).error).toBeUndefined();
    const shape = (template: string, unmapped: number) => ({ tenant_id: 'ten_1', workload: 'w', api_key_id: 'key_1', method: 'GET', host: 'api.example.com', path_template: template, scope: null, unmapped, outcome: 'denied', error_code: 'unmapped_call_refused' });
    const rows = [shape('/people/alice@acme.example', 1), shape('/people/bob@acme.example', 1), shape('/invoices/**', 0), shape('/invoices/**', 0)];
    const ids: number[] = [];
    for (const r of rows) {
      const { rows: inserted } = await sql<{ id: number }>`INSERT INTO gateway_call_shapes (${sql.join(Object.keys(r).map((c) => sql.ref(c)))}) VALUES (${sql.join(Object.values(r))}) RETURNING id`.execute(storage.db);
      ids.push(Number(inserted[0]!.id));
    }
    for (const [i, shapeId] of ids.entries()) {
      await sql`INSERT INTO gateway_usage_events (at, token_id, shape_id, status, source_address, latency_ms) VALUES (${`2026-11-01T00:00:0${i}.000Z`}, 'tok_a', ${shapeId}, 403, null, 1)`.execute(storage.db);
    }
    expect((await migrateToLatest(storage)).applied).toContain('009-call-shape-keys');
    const shapes = await storage.db.selectFrom('gateway_call_shapes').select(['id', 'path_template', 'shape_key']).orderBy('id').execute();
    expect(shapes.map((s) => s.path_template)).toEqual(['/*/*', '/invoices/**']);
    expect(JSON.stringify(shapes)).not.toContain('alice');
    const events = await storage.db.selectFrom('gateway_usage_events').select(['shape_id']).orderBy('id').execute();
    expect(events.map((e) => Number(e.shape_id))).toEqual([ids[0], ids[0], ids[2], ids[2]]);
    // The key is unique: a second row of a shape cannot be added.
    await expect(
      sql`INSERT INTO gateway_call_shapes (method, path_template, unmapped, outcome, shape_key) VALUES ('GET', '/x', 0, 'forwarded', ${shapes[0]!.shape_key})`.execute(storage.db),
    ).rejects.toThrow();
  });
});
