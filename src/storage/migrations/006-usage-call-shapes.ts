import { sql, type Kysely } from 'kysely';
import type { StorageDialect } from '../dialect.ts';

/** What a call was, apart from when, by which token, with what status, from where and how fast. */
const CALL_SHAPE_COLUMNS = ['tenant_id', 'workload', 'api_key_id', 'method', 'host', 'path_template', 'scope', 'unmapped', 'outcome', 'error_code'] as const;

/**
 * Gateway usage events keep the part of a call that repeats — tenant, workload, API key, method,
 * host, path template, scope, unmapped, outcome, error code — once, in `gateway_call_shapes`, and
 * per event only its time, token, shape, status, source address and latency, instead of ten text
 * columns an event: fewer bytes stored and less work per insert (figures in docs/benchmarks.md).
 *
 * The existing events are copied with their ids (retention deletes in id order), a page at a time
 * with the shapes met so far in memory (a join on ten nullable columns cannot use a hash join on
 * PostgreSQL), then the old table is replaced. Shapes have no unique constraint: two instances may each add the same shape
 * once, which costs a row and changes no answer (reads join by id).
 */
/** @param onProgress called after each page of events copied, with how many of how many */
export function usageCallShapesMigration(dialect: StorageDialect, onProgress: (done: number, total: number) => void = () => {}) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('gateway_call_shapes')
        .addColumn('id', 'integer', (c) => (dialect.kind === 'postgres' ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey().autoIncrement()))
        .addColumn('tenant_id', 'text')
        .addColumn('workload', 'text')
        .addColumn('api_key_id', 'text')
        .addColumn('method', 'text', (c) => c.notNull())
        .addColumn('host', 'text')
        .addColumn('path_template', 'text', (c) => c.notNull())
        .addColumn('scope', 'text')
        .addColumn('unmapped', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('error_code', 'text')
        .execute();

      await db.schema
        .createTable('gateway_usage_events_v2')
        .addColumn('id', 'integer', (c) => (dialect.kind === 'postgres' ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey().autoIncrement()))
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('token_id', 'text', (c) => c.notNull())
        .addColumn('shape_id', 'integer', (c) => c.notNull().references('gateway_call_shapes.id'))
        .addColumn('status', 'integer', (c) => c.notNull())
        .addColumn('source_address', 'text')
        .addColumn('latency_ms', 'real', (c) => c.notNull())
        .execute();

      await copyEvents(db, onProgress);

      await db.schema.dropTable('gateway_usage_events').execute();
      await db.schema.alterTable('gateway_usage_events_v2').renameTo('gateway_usage_events').execute();
      await db.schema.createIndex('gateway_usage_token_at').on('gateway_usage_events').columns(['token_id', 'at']).execute();
      if (dialect.kind === 'postgres') {
        // Ids were copied explicitly: move the identity past them.
        await sql`SELECT setval(pg_get_serial_sequence('gateway_usage_events', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM gateway_usage_events), false)`.execute(db);
      }
    },
  };
}

const PAGE = 5_000;

type OldEvent = Record<(typeof CALL_SHAPE_COLUMNS)[number], string | number | null> & { id: number; at: string; token_id: string; status: number; source_address: string | null; latency_ms: number };

async function copyEvents(db: Kysely<unknown>, onProgress: (done: number, total: number) => void): Promise<void> {
  const shapes = new Map<string, number>();
  const { rows: counted } = await sql<{ n: number | string }>`SELECT count(*) AS n FROM gateway_usage_events`.execute(db);
  const total = Number(counted[0]?.n ?? 0);
  let done = 0;
  let afterId = 0;
  for (;;) {
    const { rows } = await sql<OldEvent>`SELECT * FROM gateway_usage_events WHERE id > ${afterId} ORDER BY id LIMIT ${PAGE}`.execute(db);
    if (rows.length === 0) return;
    const copied = [];
    for (const e of rows) {
      const values = CALL_SHAPE_COLUMNS.map((c) => (c === 'unmapped' ? Number(e[c]) : e[c]));
      const key = JSON.stringify(values);
      let shapeId = shapes.get(key);
      if (shapeId === undefined) {
        const { rows: inserted } = await sql<{ id: number }>`INSERT INTO gateway_call_shapes (${sql.join(CALL_SHAPE_COLUMNS.map((c) => sql.ref(c)))}) VALUES (${sql.join(values)}) RETURNING id`.execute(db);
        shapeId = Number(inserted[0]!.id);
        shapes.set(key, shapeId);
      }
      copied.push(sql`(${Number(e.id)}, ${e.at}, ${e.token_id}, ${shapeId}, ${Number(e.status)}, ${e.source_address}, ${Number(e.latency_ms)})`);
    }
    for (let i = 0; i < copied.length; i += 200) {
      await sql`INSERT INTO gateway_usage_events_v2 (id, at, token_id, shape_id, status, source_address, latency_ms) VALUES ${sql.join(copied.slice(i, i + 200))}`.execute(db);
    }
    afterId = Number(rows[rows.length - 1]!.id);
    done += rows.length;
    onProgress(done, Math.max(total, done));
  }
}
