import { Migrator } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from '../../test/support/databases.ts';
import { openStorage, type Storage } from '../storage/database.ts';
import { migrateToLatest, migrationsFor } from '../storage/migrate.ts';

describeEachDatabase('migration 015: alerts with status, count and evidence', (kind) => {
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

  it('maps info and warning to low and medium, keeps acknowledgements, and folds open duplicates into the newest', async () => {
    const migrator = new Migrator({ db: storage.db, provider: { getMigrations: async () => migrationsFor(storage.dialect) } });
    expect((await migrator.migrateTo('014-scope-minimisation')).error).toBeUndefined();
    const row = (id: string, kind: string, severity: string, subject: string | null, createdAt: string, acknowledgedAt: string | null = null) => ({
      id,
      kind,
      severity,
      tenant_id: 'ten_1',
      subject_id: subject,
      message: `${kind} on ${subject}`,
      data: '{}',
      created_at: createdAt,
      acknowledged_at: acknowledgedAt,
    });
    // As 002-oauth stored them: no de-duplication, severities info · warning · critical.
    await storage.db
      .insertInto('alerts')
      .values([
        row('alr_1', 'revoked_at_issuer', 'warning', 'tok_a', '2026-11-01T00:00:00.000Z'),
        row('alr_2', 'revoked_at_issuer', 'warning', 'tok_a', '2026-11-02T00:00:00.000Z'),
        row('alr_3', 'revoked_at_issuer', 'warning', 'tok_a', '2026-11-03T00:00:00.000Z'),
        row('alr_4', 'upstream_revocation_failed', 'critical', 'tok_a', '2026-11-01T00:00:00.000Z', '2026-11-01T01:00:00.000Z'),
        row('alr_5', 'something', 'info', null, '2026-11-01T00:00:00.000Z'),
      ] as never)
      .execute();

    expect((await migrateToLatest(storage)).applied).toContain('015-alerts');
    const rows = await storage.db.selectFrom('alerts').select(['id', 'severity', 'status', 'count', 'last_seen_at', 'resolved_by', 'dedupe_key']).orderBy('id').execute();
    expect(rows.map((r) => ({ ...r, count: Number(r.count) }))).toEqual([
      { id: 'alr_1', severity: 'medium', status: 'resolved', count: 1, last_seen_at: '2026-11-01T00:00:00.000Z', resolved_by: 'system:015-alerts', dedupe_key: 'tok_a' },
      { id: 'alr_2', severity: 'medium', status: 'resolved', count: 1, last_seen_at: '2026-11-02T00:00:00.000Z', resolved_by: 'system:015-alerts', dedupe_key: 'tok_a' },
      { id: 'alr_3', severity: 'medium', status: 'open', count: 3, last_seen_at: '2026-11-03T00:00:00.000Z', resolved_by: null, dedupe_key: 'tok_a' },
      { id: 'alr_4', severity: 'critical', status: 'acknowledged', count: 1, last_seen_at: '2026-11-01T00:00:00.000Z', resolved_by: null, dedupe_key: 'tok_a' },
      { id: 'alr_5', severity: 'low', status: 'open', count: 1, last_seen_at: '2026-11-01T00:00:00.000Z', resolved_by: null, dedupe_key: 'ten_1' },
    ]);
  });
});
