import { createHash } from 'node:crypto';
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
export type CallShape = Omit<GatewayCallShapesTable, 'id' | 'shape_key' | 'last_seen_at'>;

const SHAPE_CACHE_SIZE = 100_000;
const SHAPE_CACHE_MS = 60 * 60_000;

/** A shape's key: as migration 009 computes it (sha256 of the values in column order, as JSON). */
export function callShapeKey(s: CallShape): string {
  return createHash('sha256')
    .update(JSON.stringify([s.tenant_id, s.workload, s.api_key_id, s.method, s.host, s.path_template, s.scope, s.unmapped, s.outcome, s.error_code]))
    .digest('hex');
}

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

  // Shape ids by key, for this database, for an hour: shapes unused for a retention period are
  // deleted (pruneShapes), and an id remembered for longer could name one that is gone. Bounded.
  const shapeIdsByKey = new Map<string, { id: number; until: number }>();

  return {
    /**
     * The id of each shape, adding the shapes not stored yet: an indexed upsert on the shape's key
     * (one statement, whatever the table holds), each committing on its own, so an id is never
     * cached for a shape whose transaction rolled back. Instances adding the same shape at once
     * get the same row.
     */
    async shapeIds(db: Db, shapes: CallShape[]): Promise<number[]> {
      const ids: number[] = [];
      const now = Date.now();
      for (const shape of shapes) {
        const key = callShapeKey(shape);
        const cached = shapeIdsByKey.get(key);
        let id = cached && cached.until > now ? cached.id : undefined;
        if (id === undefined) {
          await db.insertInto('gateway_call_shapes').values({ ...shape, shape_key: key, last_seen_at: new Date(now).toISOString() }).onConflict((oc) => oc.column('shape_key').doNothing()).execute();
          id = Number((await db.selectFrom('gateway_call_shapes').select('id').where('shape_key', '=', key).executeTakeFirstOrThrow()).id);
          if (shapeIdsByKey.size >= SHAPE_CACHE_SIZE) shapeIdsByKey.delete(shapeIdsByKey.keys().next().value!);
          shapeIdsByKey.set(key, { id, until: now + SHAPE_CACHE_MS });
        }
        ids.push(id);
      }
      return ids;
    },

    /**
     * Marks shapes as used now (in the batch's transaction), at most once a day each, so
     * retention knows which shapes events still refer to.
     */
    async touchShapes(db: Db, ids: number[], at: string): Promise<void> {
      const dayAgo = new Date(Date.parse(at) - 86_400_000).toISOString();
      for (let i = 0; i < ids.length; i += 500) {
        await db
          .updateTable('gateway_call_shapes')
          .set({ last_seen_at: at })
          .where('id', 'in', ids.slice(i, i + 500))
          .where((eb) => eb.or([eb('last_seen_at', 'is', null), eb('last_seen_at', '<', dayAgo)]))
          .execute();
      }
    },

    /**
     * Retention for shapes: deletes those no batch has used since `before` (their events, all older,
     * are gone), in short batches; forgets the ids this repository remembered. Returns how many.
     */
    async pruneShapes(db: Db, before: string): Promise<number> {
      // A day's grace beyond the events' cutoff: a shape used since is never near it.
      const cutoff = new Date(Date.parse(before) - 86_400_000).toISOString();
      let total = 0;
      for (;;) {
        const stale = (await db.selectFrom('gateway_call_shapes').select('id').where('last_seen_at', '<', cutoff).limit(1_000).execute()).map((s) => s.id);
        if (stale.length === 0) break;
        try {
          const r = await db.deleteFrom('gateway_call_shapes').where('id', 'in', stale).where('last_seen_at', '<', cutoff).executeTakeFirst();
          total += Number(r.numDeletedRows);
        } catch {
          // An event still refers to one of them (written out of order by another instance, older
          // than what retention deleted): keep them as seen now, to be looked at next time.
          await db.updateTable('gateway_call_shapes').set({ last_seen_at: new Date().toISOString() }).where('id', 'in', stale).execute();
        }
        if (stale.length < 1_000) break;
      }
      shapeIdsByKey.clear();
      return total;
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
