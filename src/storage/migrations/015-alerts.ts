import { sql, type Kysely } from 'kysely';

const MIGRATION_ACTOR = 'system:015-alerts';

/**
 * 015-alerts (issue 15): alerts become something people work. Each has a status (open →
 * acknowledged → resolved, with who and why), a count and a last-seen time (a repeat of an open
 * alert bumps it instead of adding a row), the newest evidence (a JSON array, at most 20), and
 * severities low · medium · high · critical (the old info and warning become low and medium).
 *
 * De-duplication is enforced by the database: one alert not resolved per (dedupe_key, kind), a
 * partial unique index, so two raisers at once on any instance end with one row. dedupe_key is the
 * subject (a token id) or, for an alert about no subject, its tenant (or `global`): an alert
 * without a subject cannot grow a table row by row either.
 *
 * Alerts already stored that would break the index (several open ones of one subject and kind)
 * are folded into the newest: it keeps their total count; the older ones are resolved by this
 * migration, with the reason said.
 *
 * Also: reading them newest first by tenant or subject (the API's filters), and counting the open
 * ones by kind and severity through an index of open alerts only (/metrics), and the per-token
 * usage read (src/usage) through an index that covers it: (token_id, at, shape_id) replaces
 * (token_id, at) — the same number of indexes for the gateway's writer to keep, one column wider,
 * and the usage API reads the index alone, never the events' rows.
 */
export function alertsMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('alerts').addColumn('status', 'text', (c) => c.notNull().defaultTo('open')).execute();
      await db.schema.alterTable('alerts').addColumn('count', 'integer', (c) => c.notNull().defaultTo(1)).execute();
      await db.schema.alterTable('alerts').addColumn('last_seen_at', 'text').execute();
      await db.schema.alterTable('alerts').addColumn('updated_at', 'text').execute();
      await db.schema.alterTable('alerts').addColumn('evidence', 'text', (c) => c.notNull().defaultTo('[]')).execute();
      await db.schema.alterTable('alerts').addColumn('dedupe_key', 'text').execute();
      await db.schema.alterTable('alerts').addColumn('acknowledged_by', 'text').execute();
      await db.schema.alterTable('alerts').addColumn('acknowledged_reason', 'text').execute();
      await db.schema.alterTable('alerts').addColumn('resolved_at', 'text').execute();
      await db.schema.alterTable('alerts').addColumn('resolved_by', 'text').execute();
      await db.schema.alterTable('alerts').addColumn('resolved_reason', 'text').execute();

      await sql`UPDATE alerts SET severity = CASE severity WHEN 'info' THEN 'low' WHEN 'warning' THEN 'medium' ELSE severity END`.execute(db);
      await sql`UPDATE alerts SET last_seen_at = created_at, updated_at = created_at, dedupe_key = COALESCE(subject_id, tenant_id, 'global')`.execute(db);
      await sql`UPDATE alerts SET status = 'acknowledged', acknowledged_by = ${MIGRATION_ACTOR} WHERE acknowledged_at IS NOT NULL`.execute(db);

      // Fold duplicates into the newest of each (dedupe_key, kind): its count becomes theirs.
      const newer = sql`EXISTS (SELECT 1 FROM alerts b WHERE b.dedupe_key = alerts.dedupe_key AND b.kind = alerts.kind AND (b.created_at > alerts.created_at OR (b.created_at = alerts.created_at AND b.id > alerts.id)))`;
      await sql`UPDATE alerts SET count = (SELECT count(*) FROM alerts b WHERE b.dedupe_key = alerts.dedupe_key AND b.kind = alerts.kind) WHERE NOT ${newer}`.execute(db);
      await sql`UPDATE alerts SET status = 'resolved', resolved_at = created_at, resolved_by = ${MIGRATION_ACTOR}, resolved_reason = 'folded into a newer alert of the same subject and kind' WHERE ${newer}`.execute(db);

      await db.schema.createIndex('alerts_open_dedupe').on('alerts').columns(['dedupe_key', 'kind']).unique().where(sql.ref('status'), '<>', 'resolved').execute();
      await db.schema.createIndex('alerts_open_counts').on('alerts').columns(['kind', 'severity']).where(sql.ref('status'), '<>', 'resolved').execute();
      await db.schema.createIndex('alerts_tenant_id').on('alerts').columns(['tenant_id', 'id']).execute();
      await db.schema.createIndex('alerts_subject_id').on('alerts').columns(['subject_id', 'id']).execute();
      await db.schema.dropIndex('alerts_subject').execute();

      await db.schema.createIndex('gateway_usage_token_at_shape').on('gateway_usage_events').columns(['token_id', 'at', 'shape_id']).execute();
      await db.schema.dropIndex('gateway_usage_token_at').execute();
    },
  };
}
