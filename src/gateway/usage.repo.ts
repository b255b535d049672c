import { CompiledQuery } from 'kysely';
import type { Db } from '../storage/database.ts';
import type { GatewayCallShapesTable, GatewayUsageEventsTable } from '../storage/schema.ts';
import type { UsageEvent } from './gateway.types.ts';

type UsageRow = Omit<GatewayUsageEventsTable, 'id'>;

// Rows per INSERT statement. The statement text for each row count is compiled once (per
// database kind) and reused with fresh parameters: building a multi-row insert through the query
// builder for every batch costs several times more than the write itself on SQLite.
const INSERT_CHUNK = 200;

const SAMPLE_ROW: UsageRow = {
  at: 'x',
  token_id: 'x',
  shape_id: 0,
  status: 0,
  source_address: 'x',
  latency_ms: 0,
};

/** What a call was apart from when, which token, status, source and latency: stored once (gateway_call_shapes). */
export type CallShape = Omit<GatewayCallShapesTable, 'id'>;

/** A usage event as stored: its time as ISO text. */
export interface StoredUsageEvent extends Omit<UsageEvent, 'atMs'> {
  id: number;
  at: string;
}

/** One repository per database: the cached statement texts carry that database's placeholder syntax. */
export function createUsageRepo() {
  const statements = new Map<number, string>();
  const insertSql = (db: Db, rows: number): string => {
    let text = statements.get(rows);
    if (text === undefined) {
      text = db.insertInto('gateway_usage_events').values(Array.from({ length: rows }, () => SAMPLE_ROW)).compile().sql;
      statements.set(rows, text);
    }
    return text;
  };

  // Shape ids by their values, for this database: shapes are few and never change.
  const shapeIdsByKey = new Map<string, number>();

  return {
    /**
     * The id of each shape, adding the shapes not stored yet. Each insert commits on its own, so an
     * id is never cached for a shape whose transaction rolled back. Two instances may add the same
     * shape once each; either id is right.
     */
    async shapeIds(db: Db, shapes: CallShape[]): Promise<number[]> {
      const ids: number[] = [];
      for (const shape of shapes) {
        const key = JSON.stringify([shape.tenant_id, shape.workload, shape.api_key_id, shape.method, shape.host, shape.path_template, shape.scope, shape.unmapped, shape.outcome, shape.error_code]);
        let id = shapeIdsByKey.get(key);
        if (id === undefined) {
          const found = await db
            .selectFrom('gateway_call_shapes')
            .select('id')
            .where((eb) => eb.and(Object.entries(shape).map(([column, value]) => eb(column as keyof CallShape, 'is not distinct from', value))))
            .orderBy('id')
            .limit(1)
            .executeTakeFirst();
          id = Number((found ?? (await db.insertInto('gateway_call_shapes').values(shape).returning('id').executeTakeFirstOrThrow())).id);
          if (shapeIdsByKey.size > 100_000) shapeIdsByKey.clear();
          shapeIdsByKey.set(key, id);
        }
        ids.push(id);
      }
      return ids;
    },

    /**
     * Inserts `count` events, INSERT_CHUNK rows per statement. `rowParams(i, params)` appends event
     * i's values in the column order of SAMPLE_ROW: the writer reads them straight from a packed batch
     * (usage-writer.ts), since building an object per event first cost as much again.
     */
    async insertRows(db: Db, count: number, rowParams: (i: number, params: unknown[]) => void): Promise<void> {
      for (let i = 0; i < count; i += INSERT_CHUNK) {
        const rows = Math.min(INSERT_CHUNK, count - i);
        const params: unknown[] = [];
        for (let j = 0; j < rows; j++) rowParams(i + j, params);
        await db.executeQuery(CompiledQuery.raw(insertSql(db, rows), params));
      }
    },

    /** True when this call claimed the day (the first use of the token that day, on any instance). */
    async claimDay(db: Db, tokenId: string, day: string): Promise<boolean> {
      const rows = await db.insertInto('gateway_daily_use').values({ token_id: tokenId, day }).onConflict((oc) => oc.doNothing()).returning('token_id').execute();
      return rows.length === 1;
    },

    /**
     * Retention, one window at a time: among the `limit` rows after id `afterId` (ids follow
     * insertion, hence time), deletes those from before `before` (ISO time). Returns how many, the
     * last id of the window, and whether to go on: only while windows are full and still hold old
     * rows, so a pass with nothing to delete reads one window, never the whole table, and a stray
     * newer row (another instance's clock) does not stop the rows after it from going.
     */
    async deleteWindowBefore(db: Db, before: string, afterId: number, limit: number): Promise<{ deleted: number; lastId: number; more: boolean }> {
      const window = await db.selectFrom('gateway_usage_events').select(['id', 'at']).where('id', '>', afterId).orderBy('id').limit(limit).execute();
      let lastOld: number | null = null;
      for (const row of window) if (row.at < before) lastOld = Number(row.id);
      const lastId = window.length > 0 ? Number(window[window.length - 1]!.id) : afterId;
      if (lastOld === null) return { deleted: 0, lastId, more: false };
      const result = await db.deleteFrom('gateway_usage_events').where('id', '>', afterId).where('id', '<=', lastOld).where('at', '<', before).executeTakeFirst();
      return { deleted: Number(result.numDeletedRows), lastId, more: window.length === limit };
    },

    async listForToken(db: Db, tokenId: string, limit = 1000): Promise<StoredUsageEvent[]> {
      const rows = await db
        .selectFrom('gateway_usage_events as e')
        .innerJoin('gateway_call_shapes as s', 's.id', 'e.shape_id')
        .select(['e.id', 'e.at', 'e.token_id', 'e.status', 'e.source_address', 'e.latency_ms'])
        .select(['s.tenant_id', 's.workload', 's.api_key_id', 's.method', 's.host', 's.path_template', 's.scope', 's.unmapped', 's.outcome', 's.error_code'])
        .where('e.token_id', '=', tokenId)
        .orderBy('e.id')
        .limit(limit)
        .execute();
      return rows.map((r) => ({
        id: Number(r.id),
        at: r.at,
        tokenId: r.token_id,
        tenantId: r.tenant_id,
        workload: r.workload,
        apiKeyId: r.api_key_id,
        actor: r.api_key_id ? `apikey:${r.api_key_id}` : 'unknown',
        method: r.method,
        host: r.host,
        pathTemplate: r.path_template,
        scope: r.scope,
        unmapped: Number(r.unmapped) === 1,
        outcome: r.outcome as UsageEvent['outcome'],
        errorCode: r.error_code,
        status: Number(r.status),
        sourceAddress: r.source_address,
        latencyMs: Number(r.latency_ms),
      }));
    },
  };
}

export type UsageRepo = ReturnType<typeof createUsageRepo>;
