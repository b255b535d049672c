import type { Kysely } from 'kysely';

/**
 * Kill at scale (src/outbox/README.md): outbox jobs get a lane (`priority` 0 urgent, 1 bulk), so a
 * single revocation is delivered before the drain of a bulk one, and the due-jobs index leads with
 * it; tokens are indexed by when their revocation was asked for, so the progress of a bulk
 * revocation (all of it asked for at one instant) is counted without a scan.
 */
export function revocationLanesMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('outbox_jobs').addColumn('priority', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.createIndex('outbox_jobs_lane_due').on('outbox_jobs').columns(['status', 'priority', 'next_attempt_at']).execute();
      // Superseded by the lane index (same leading column): one index fewer to write per job.
      await db.schema.dropIndex('outbox_jobs_due').execute();
      await db.schema.createIndex('tokens_revocation_requested').on('tokens').columns(['revocation_requested_at']).execute();
    },
  };
}
