import type { Db } from '../storage/database.ts';
import type { StorageDialect } from '../storage/dialect.ts';
import type { TrendSnapshotsTable } from '../storage/schema.ts';
import { OVERALL_SCOPE, type StoredFigures } from './trend.rules.ts';

/** The trend_snapshots table: one row per scope (a tenant, or '*') and UTC day. */
export function createTrendRepo(dialect: StorageDialect) {
  return {
    /** The day's snapshot replaces whatever that day held (a tenant with nothing left loses its row too). */
    async replaceDay(db: Db, day: string, rows: readonly TrendSnapshotsTable[]): Promise<void> {
      await db.deleteFrom('trend_snapshots').where('day', '=', day).execute();
      await dialect.insertRows(db, 'trend_snapshots', rows);
    },

    async hasDay(db: Db, day: string): Promise<boolean> {
      return (await db.selectFrom('trend_snapshots').select('day').where('scope', '=', OVERALL_SCOPE).where('day', '=', day).executeTakeFirst()) !== undefined;
    },

    /** Snapshots older than `beforeDay` go (retention). */
    async deleteBefore(db: Db, beforeDay: string): Promise<number> {
      const r = await db.deleteFrom('trend_snapshots').where('day', '<', beforeDay).executeTakeFirst();
      return Number(r.numDeletedRows);
    },

    /**
     * A scope's figures on each day in [from, to] that has a platform snapshot, oldest first: the
     * platform's own, or a tenant's (null figures on a day it had no row). Both read the primary
     * key (scope, day) as ranges.
     */
    async series(db: Db, scope: string, from: string, to: string): Promise<StoredFigures[]> {
      if (scope === OVERALL_SCOPE) {
        return db.selectFrom('trend_snapshots').select(['day', 'tokens', 'managed', 'findings']).where('scope', '=', OVERALL_SCOPE).where('day', '>=', from).where('day', '<=', to).orderBy('day').execute();
      }
      return db
        .selectFrom('trend_snapshots as o')
        .leftJoin('trend_snapshots as s', (join) => join.onRef('s.day', '=', 'o.day').on('s.scope', '=', scope))
        .select(['o.day', 's.tokens', 's.managed', 's.findings'])
        .where('o.scope', '=', OVERALL_SCOPE)
        .where('o.day', '>=', from)
        .where('o.day', '<=', to)
        .orderBy('o.day')
        .execute();
    },
  };
}

export type TrendRepo = ReturnType<typeof createTrendRepo>;
