import { sql } from 'kysely';
import type { Storage } from '../storage/database.ts';
import type { UsageOutcome } from './gateway.types.ts';

/** What a call shape says about the calls of it that a usage count needs. */
export interface ShapeFacts {
  workload: string | null;
  scope: string | null;
  outcome: UsageOutcome;
  error_code: string | null;
}

export interface UsageCountRow {
  tokenId: string;
  /** The UTC day, YYYY-MM-DD. */
  day: string;
  shapeId: number;
  n: number;
}

const SHAPE_PAGE = 500;

/**
 * Counting the gateway's usage events for readers (src/usage): calls of tokens over a time range
 * grouped by UTC day and call shape, and the facts of those shapes. The gateway owns the tables;
 * this only reads them.
 *
 * Every count is a range of `gateway_usage_token_at_shape (token_id, at, shape_id)` (015), which
 * covers it: no event row is read, only index entries. `at` is ISO text, so its first ten
 * characters are the UTC day on both databases.
 */
export function createUsageCounts(storage: Storage) {
  const day = sql<string>`substr(at, 1, 10)`;
  return {
    /** Events of the tokens (any number: bound as one parameter) with `from <= at < until`. */
    async byTokenDayShape(tokenIds: readonly string[], fromIso: string, untilIso: string): Promise<UsageCountRow[]> {
      if (tokenIds.length === 0) return [];
      const query = storage.db
        .selectFrom('gateway_usage_events')
        .select(['token_id', day.as('day'), 'shape_id', (eb) => eb.fn.countAll<number>().as('n')])
        .where('at', '>=', fromIso)
        .where('at', '<', untilIso);
      const rows = await (tokenIds.length === 1 ? query.where('token_id', '=', tokenIds[0]!) : query.where(storage.dialect.anyOf('token_id', tokenIds)))
        .groupBy(['token_id', day, 'shape_id'])
        .execute();
      return rows.map((r) => ({ tokenId: r.token_id, day: r.day, shapeId: Number(r.shape_id), n: Number(r.n) }));
    },

    /** Adds the facts of the shapes `known` lacks (by id), a page at a time. */
    async shapeFacts(ids: readonly number[], known: Map<number, ShapeFacts>): Promise<void> {
      const missing = [...new Set(ids)].filter((id) => !known.has(id));
      for (let i = 0; i < missing.length; i += SHAPE_PAGE) {
        const rows = await storage.db.selectFrom('gateway_call_shapes').select(['id', 'workload', 'scope', 'outcome', 'error_code']).where('id', 'in', missing.slice(i, i + SHAPE_PAGE)).execute();
        for (const r of rows) known.set(Number(r.id), { workload: r.workload, scope: r.scope, outcome: r.outcome, error_code: r.error_code });
      }
    },
  };
}

export type UsageCounts = ReturnType<typeof createUsageCounts>;
