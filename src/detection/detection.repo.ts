import type { Db } from '../storage/database.ts';
import type { StorageDialect } from '../storage/dialect.ts';
import type { DetectionBaselinesTable } from '../storage/schema.ts';
import type { KnownKind } from './detection.rules.ts';

/** A known value to remember (insert-if-absent). */
export interface KnownValueRow {
  token_id: string;
  kind: KnownKind;
  value: string;
  first_seen_at: string;
}

/** Rows per statement when many tokens' baselines are written at once. */
const UPSERT_CHUNK = 500;

/** Detection's tables (016-detection); only src/detection reads and writes them. */
export function createDetectionRepo(dialect: StorageDialect) {
  return {
    async baselines(db: Db, tokenIds: readonly string[]): Promise<DetectionBaselinesTable[]> {
      if (tokenIds.length === 0) return [];
      return db.selectFrom('detection_baselines').selectAll().where(dialect.anyOf('token_id', tokenIds)).execute();
    },

    async knownValues(db: Db, tokenIds: readonly string[]): Promise<KnownValueRow[]> {
      if (tokenIds.length === 0) return [];
      return db.selectFrom('detection_known_values').selectAll().where(dialect.anyOf('token_id', tokenIds)).execute();
    },

    /**
     * Remembers values if absent; answers those this call inserted. Of two instances that see a
     * value first at once, only one inserts it: only that one "discovered" it.
     */
    async rememberIfAbsent(db: Db, rows: readonly KnownValueRow[]): Promise<Set<string>> {
      const inserted = new Set<string>();
      for (let i = 0; i < rows.length; i += UPSERT_CHUNK) {
        const got = await db
          .insertInto('detection_known_values')
          .values(rows.slice(i, i + UPSERT_CHUNK))
          .onConflict((oc) => oc.columns(['token_id', 'kind', 'value']).doNothing())
          .returning(['token_id', 'kind', 'value'])
          .execute();
        for (const r of got) inserted.add(knownKey(r.token_id, r.kind, r.value));
      }
      return inserted;
    },

    /** Writes baselines (the newest wins: each instance writes what it has counted). */
    async saveBaselines(db: Db, rows: readonly DetectionBaselinesTable[]): Promise<void> {
      for (let i = 0; i < rows.length; i += UPSERT_CHUNK) {
        await db
          .insertInto('detection_baselines')
          .values(rows.slice(i, i + UPSERT_CHUNK))
          .onConflict((oc) =>
            oc.column('token_id').doUpdateSet((eb) => ({
              // first_seen_at stays the first writer's.
              calls_seen: eb.ref('excluded.calls_seen'),
              rate_ewma: eb.ref('excluded.rate_ewma'),
              rate_peak: eb.ref('excluded.rate_peak'),
              bucket_start: eb.ref('excluded.bucket_start'),
              bucket_count: eb.ref('excluded.bucket_count'),
              updated_at: eb.ref('excluded.updated_at'),
            })),
          )
          .execute();
      }
    },
  };
}

export function knownKey(tokenId: string, kind: string, value: string): string {
  return `${tokenId}\u0000${kind}\u0000${value}`;
}

export type DetectionRepo = ReturnType<typeof createDetectionRepo>;
