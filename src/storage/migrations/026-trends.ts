import type { Kysely } from 'kysely';

/**
 * 026-trends (issue 16): one snapshot a day of the governance figures (src/trends), per tenant and
 * for the platform as a whole (`scope` '*'): live tokens, managed ones, and live findings by type
 * (JSON). The day's row is replaced by each newer snapshot of that day, so the day's latest figures
 * stand. The primary key (scope, day) reads a series as one index range; the day index serves
 * retention (rows older than two years are deleted as snapshots are taken).
 */
export function trendsMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('trend_snapshots')
        // A tenant id, or '*' for the whole platform (a primary key cannot hold NULL).
        .addColumn('scope', 'text', (c) => c.notNull())
        // The UTC day, YYYY-MM-DD.
        .addColumn('day', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text')
        .addColumn('tokens', 'integer', (c) => c.notNull())
        .addColumn('managed', 'integer', (c) => c.notNull())
        .addColumn('findings', 'text', (c) => c.notNull())
        .addColumn('taken_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('trend_snapshots_pk', ['scope', 'day'])
        .execute();
      await db.schema.createIndex('trend_snapshots_day').on('trend_snapshots').column('day').execute();
    },
  };
}
