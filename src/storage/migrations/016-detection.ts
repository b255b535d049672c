import type { Kysely } from 'kysely';

/**
 * 016-detection (issue 15): each token's own baseline of use, kept so a restart neither learns
 * again nor alerts again. One row per token with its learning progress and its volume baseline
 * (an exponentially weighted rate per minute bucket), and the values it is known to use (workloads,
 * source networks, endpoints, scopes), at most a bounded number per token and kind (see
 * src/detection/detection.rules.ts). A value is inserted if absent: of two instances that see it
 * first at once, only the one whose insert lands "discovers" it (and may alert).
 */
export function detectionMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('detection_baselines')
        .addColumn('token_id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        // When detection first saw the token used, and how many judged calls it has seen since.
        .addColumn('first_seen_at', 'text', (c) => c.notNull())
        .addColumn('calls_seen', 'integer', (c) => c.notNull())
        // The volume baseline: calls per bucket, exponentially weighted, and the bucket last folded in.
        .addColumn('rate_ewma', 'real', (c) => c.notNull())
        .addColumn('rate_peak', 'real', (c) => c.notNull())
        .addColumn('bucket_start', 'text', (c) => c.notNull())
        .addColumn('bucket_count', 'integer', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('detection_known_values')
        .addColumn('token_id', 'text', (c) => c.notNull())
        // workload | network | endpoint | scope
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('first_seen_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('detection_known_values_pk', ['token_id', 'kind', 'value'])
        .execute();
    },
  };
}
