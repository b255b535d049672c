import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';

/** The columns that make a call shape (006), in key order. */
const SHAPE_COLUMNS = ['tenant_id', 'workload', 'api_key_id', 'method', 'host', 'path_template', 'scope', 'unmapped', 'outcome', 'error_code'] as const;

/**
 * A shape's key: sha256 of its values in SHAPE_COLUMNS order, as JSON. The gateway's usage
 * repository computes the same (usage.repo.ts `callShapeKey`; 009-call-shape-keys.test.ts checks).
 */
export function shapeKeyOf(values: readonly (string | number | null)[]): string {
  return createHash('sha256').update(JSON.stringify(values)).digest('hex');
}

/**
 * A path template with no identifiers and a bounded number of forms, for calls no scope rule
 * maps (the gateway's `templateOf` makes the same): every segment `*` but an API version, at most
 * eight segments and `/**` beyond.
 */
export function boundedTemplate(template: string): string {
  // '-' stands for a call refused before it had a target: kept as it is.
  if (template === '-') return template;
  const segments = template.split('/').filter((s) => s !== '');
  const kept = segments.slice(0, 8).map((s) => (/^v\d{1,2}(?:\.\d{1,2})?$/i.test(s) ? s.toLowerCase() : '*'));
  return `/${kept.join('/')}${segments.length > 8 ? '/**' : ''}`;
}

const PAGE = 2_000;

/**
 * Call shapes with a bounded, indexed identity (issue 12): each shape gets a unique key, so the
 * writer finds or adds one with an indexed upsert instead of a scan of the whole table, and a
 * last-seen time, so retention can drop the shapes no event refers to any more. Templates of
 * calls no scope rule mapped, which could carry names or emails from their paths, are collapsed
 * to the bounded form; the shapes that thereby (or through two instances adding one each) become
 * the same are merged, their events moved to the one kept.
 */
export function callShapeKeysMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('gateway_call_shapes').addColumn('shape_key', 'text').execute();
      await db.schema.alterTable('gateway_call_shapes').addColumn('last_seen_at', 'text').execute();
      const kept = new Map<string, number>();
      const now = new Date().toISOString();
      let afterId = 0;
      for (;;) {
        const { rows } = await sql<Record<string, string | number | null> & { id: number }>`SELECT * FROM gateway_call_shapes WHERE id > ${afterId} ORDER BY id LIMIT ${PAGE}`.execute(db);
        if (rows.length === 0) break;
        for (const r of rows) {
          const id = Number(r.id);
          const template = Number(r.unmapped) === 1 ? boundedTemplate(String(r.path_template)) : String(r.path_template);
          const values = SHAPE_COLUMNS.map((c) => (c === 'unmapped' ? Number(r[c]) : c === 'path_template' ? template : (r[c] ?? null)));
          const key = shapeKeyOf(values);
          const keep = kept.get(key);
          if (keep === undefined) {
            kept.set(key, id);
            await sql`UPDATE gateway_call_shapes SET shape_key = ${key}, path_template = ${template}, last_seen_at = ${now} WHERE id = ${id}`.execute(db);
          } else {
            await sql`UPDATE gateway_usage_events SET shape_id = ${keep} WHERE shape_id = ${id}`.execute(db);
            await sql`DELETE FROM gateway_call_shapes WHERE id = ${id}`.execute(db);
          }
        }
        afterId = Number(rows[rows.length - 1]!.id);
      }
      await db.schema.createIndex('gateway_call_shapes_key').on('gateway_call_shapes').column('shape_key').unique().execute();
      await db.schema.createIndex('gateway_call_shapes_last_seen').on('gateway_call_shapes').column('last_seen_at').execute();
    },
  };
}
