import { Migrator, sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from '../../../test/support/databases.ts';
import { createUsageRepo } from '../../gateway/usage.repo.ts';
import { openStorage, type Storage } from '../database.ts';
import { migrateToLatest, migrationsFor } from '../migrate.ts';

describeEachDatabase('migration 006: usage events with call shapes', (kind) => {
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

  it('copies every stored event with its id and fields, stores each shape once, and new events follow the copied ids', async () => {
    const migrator = new Migrator({ db: storage.db, provider: { getMigrations: async () => migrationsFor(storage.dialect) } });
    const upTo005 = await migrator.migrateTo('005-usage-tenant-index');
    expect(upTo005.error).toBeUndefined();

    // Events as 003-gateway stored them: two shapes repeated, one with nulls, ids with a gap.
    const old = [
      { id: 3, at: '2026-11-01T10:00:00.001Z', token_id: 'tok_a', tenant_id: 'ten_1', workload: 'sync', api_key_id: 'key_1', method: 'GET', host: 'api.example.com', path_template: '/invoices/**', scope: 'invoices.read', unmapped: 0, outcome: 'forwarded', error_code: null, status: 200, source_address: '10.0.0.1', latency_ms: 1.25 },
      { id: 4, at: '2026-11-01T10:00:00.002Z', token_id: 'tok_b', tenant_id: null, workload: null, api_key_id: null, method: 'POST', host: null, path_template: '-', scope: null, unmapped: 1, outcome: 'denied', error_code: 'token_not_found', status: 404, source_address: null, latency_ms: 0.5 },
      { id: 9, at: '2026-11-01T10:00:00.003Z', token_id: 'tok_a', tenant_id: 'ten_1', workload: 'sync', api_key_id: 'key_1', method: 'GET', host: 'api.example.com', path_template: '/invoices/**', scope: 'invoices.read', unmapped: 0, outcome: 'forwarded', error_code: null, status: 304, source_address: '10.0.0.2', latency_ms: 2 },
      { id: 10, at: '2026-11-01T10:00:00.004Z', token_id: 'tok_b', tenant_id: null, workload: null, api_key_id: null, method: 'POST', host: null, path_template: '-', scope: null, unmapped: 1, outcome: 'denied', error_code: 'token_not_found', status: 404, source_address: null, latency_ms: 0.75 },
    ];
    for (const row of old) {
      const columns = Object.keys(row);
      await sql`INSERT INTO gateway_usage_events (${sql.join(columns.map((c) => sql.ref(c)))}) VALUES (${sql.join(Object.values(row))})`.execute(storage.db);
    }

    const progress: { migration: string; done: number; total: number }[] = [];
    expect((await migrateToLatest(storage, { onProgress: (p) => progress.push(p) })).applied).toContain('006-usage-call-shapes');
    expect(progress.at(-1)).toEqual({ migration: '006-usage-call-shapes', done: 4, total: 4 });

    const repo = createUsageRepo();
    const a = await repo.listForToken(storage.db, 'tok_a');
    expect(a.map((e) => [e.id, e.at, e.status, e.sourceAddress, e.latencyMs, e.tenantId, e.workload, e.apiKeyId, e.actor, e.method, e.host, e.pathTemplate, e.scope, e.unmapped, e.outcome, e.errorCode])).toEqual([
      [3, old[0]!.at, 200, '10.0.0.1', 1.25, 'ten_1', 'sync', 'key_1', 'apikey:key_1', 'GET', 'api.example.com', '/invoices/**', 'invoices.read', false, 'forwarded', null],
      [9, old[2]!.at, 304, '10.0.0.2', 2, 'ten_1', 'sync', 'key_1', 'apikey:key_1', 'GET', 'api.example.com', '/invoices/**', 'invoices.read', false, 'forwarded', null],
    ]);
    const b = await repo.listForToken(storage.db, 'tok_b');
    expect(b.map((e) => [e.id, e.tenantId, e.workload, e.apiKeyId, e.actor, e.method, e.host, e.pathTemplate, e.scope, e.unmapped, e.outcome, e.errorCode, e.status, e.sourceAddress])).toEqual([
      [4, null, null, null, 'unknown', 'POST', null, '-', null, true, 'denied', 'token_not_found', 404, null],
      [10, null, null, null, 'unknown', 'POST', null, '-', null, true, 'denied', 'token_not_found', 404, null],
    ]);
    const shapes = await storage.db.selectFrom('gateway_call_shapes').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(shapes.n)).toBe(2);

    // A new event gets an id after the copied ones, and reuses the stored shape.
    const [shapeId] = await repo.shapeIds(storage.db, [{ tenant_id: null, workload: null, api_key_id: null, method: 'POST', host: null, path_template: '-', scope: null, unmapped: 1, outcome: 'denied', error_code: 'token_not_found' }]);
    await storage.db.insertInto('gateway_usage_events').values({ at: '2026-11-02T00:00:00.000Z', token_id: 'tok_b', shape_id: shapeId!, status: 404, source_address: null, latency_ms: 1 }).execute();
    const after = await repo.listForToken(storage.db, 'tok_b');
    expect(after.map((e) => e.id)).toEqual([4, 10, 11]);
    expect(Number((await storage.db.selectFrom('gateway_call_shapes').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n)).toBe(2);
  });
});
