import { sql, type Selectable } from 'kysely';
import type { Db } from '../storage/database.ts';
import type { SsfStreamsTable } from '../storage/schema.ts';

export type StreamRow = Selectable<SsfStreamsTable>;

/** The ssf_streams table (owned by src/streams alone). */
export function createStreamRepo() {
  return {
    async insert(db: Db, row: SsfStreamsTable): Promise<void> {
      await db.insertInto('ssf_streams').values(row).execute();
    },
    async find(db: Db, id: string): Promise<StreamRow | undefined> {
      return db.selectFrom('ssf_streams').selectAll().where('id', '=', id).executeTakeFirst();
    },
    /** A tenant's streams, or every stream (tenantId null), oldest first. Bounded by the per-tenant limit times the tenants. */
    async list(db: Db, tenantId: string | null): Promise<StreamRow[]> {
      let q = db.selectFrom('ssf_streams').selectAll();
      if (tenantId !== null) q = q.where('tenant_id', '=', tenantId);
      return q.orderBy('id').execute();
    },
    async countForTenant(db: Db, tenantId: string): Promise<number> {
      const r = await db.selectFrom('ssf_streams').select((eb) => eb.fn.countAll<number>().as('n')).where('tenant_id', '=', tenantId).executeTakeFirstOrThrow();
      return Number(r.n);
    },
    /** The streams of these tenants that still take events (enabled or paused), for a revocation's own transaction. */
    async liveForTenants(db: Db, tenantIds: readonly string[]): Promise<StreamRow[]> {
      if (tenantIds.length === 0) return [];
      return db.selectFrom('ssf_streams').selectAll().where('tenant_id', 'in', [...tenantIds]).where('status', '!=', 'disabled').execute();
    },
    async update(db: Db, id: string, set: Partial<SsfStreamsTable>): Promise<boolean> {
      const r = await db.updateTable('ssf_streams').set(set).where('id', '=', id).executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },
    async delete(db: Db, id: string): Promise<void> {
      await db.deleteFrom('ssf_streams').where('id', '=', id).execute();
    },
    /** Events queued for a stream (and, past the bound, dropped): counters moved in the queuing transaction. */
    async countQueued(db: Db, id: string, queued: number, dropped: number): Promise<void> {
      await db
        .updateTable('ssf_streams')
        .set({ pending_events: sql`pending_events + ${queued}`, dropped_events: sql`dropped_events + ${dropped}` })
        .where('id', '=', id)
        .execute();
    },
    /** One event left the outbox: delivered (with when) or given up / dropped. */
    async countFinished(db: Db, id: string, outcome: { delivered: boolean; at: string; error: string | null }): Promise<void> {
      await db
        .updateTable('ssf_streams')
        .set({
          pending_events: sql`case when pending_events > 0 then pending_events - 1 else 0 end`,
          ...(outcome.delivered
            ? { delivered_events: sql`delivered_events + 1`, last_delivered_at: outcome.at, last_error: null }
            : { dropped_events: sql`dropped_events + 1`, last_error: outcome.error }),
        })
        .where('id', '=', id)
        .execute();
    },
    async recordError(db: Db, id: string, error: string): Promise<void> {
      await db.updateTable('ssf_streams').set({ last_error: error.slice(0, 500) }).where('id', '=', id).execute();
    },
  };
}

export type StreamRepo = ReturnType<typeof createStreamRepo>;
