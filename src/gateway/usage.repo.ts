import type { Db } from '../storage/database.ts';
import type { GatewayUsageEventsTable } from '../storage/schema.ts';
import type { UsageEvent } from './gateway.types.ts';

type UsageRow = Omit<GatewayUsageEventsTable, 'id'>;

const INSERT_CHUNK = 200;

function toRow(e: UsageEvent): UsageRow {
  return {
    at: e.at,
    token_id: e.tokenId,
    tenant_id: e.tenantId,
    workload: e.workload,
    api_key_id: e.apiKeyId,
    method: e.method,
    host: e.host,
    path_template: e.pathTemplate,
    scope: e.scope,
    unmapped: e.unmapped ? 1 : 0,
    outcome: e.outcome,
    error_code: e.errorCode,
    status: e.status,
    source_address: e.sourceAddress,
    latency_ms: Math.round(e.latencyMs * 1000) / 1000,
  };
}

export interface StoredUsageEvent extends UsageEvent {
  id: number;
}

export function createUsageRepo() {
  return {
    async insertEvents(db: Db, events: UsageEvent[]): Promise<void> {
      for (let i = 0; i < events.length; i += INSERT_CHUNK) {
        await db.insertInto('gateway_usage_events').values(events.slice(i, i + INSERT_CHUNK).map(toRow)).execute();
      }
    },

    /** Moves lastUsedAt forward only: batches from several instances may land out of order. */
    async touchToken(db: Db, tokenId: string, at: string, by: string): Promise<void> {
      await db
        .updateTable('tokens')
        .set({ last_used_at: at, last_used_by: by })
        .where('id', '=', tokenId)
        .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', at)]))
        .execute();
    },

    async touchScope(db: Db, tokenId: string, scope: string, at: string): Promise<void> {
      await db
        .insertInto('token_scope_usage')
        .values({ token_id: tokenId, scope, last_used_at: at })
        .onConflict((oc) =>
          oc
            .columns(['token_id', 'scope'])
            .doUpdateSet((eb) => ({ last_used_at: eb.ref('excluded.last_used_at') }))
            .where('token_scope_usage.last_used_at', '<', at),
        )
        .execute();
    },

    /** True when this call claimed the day (the first use of the token that day, on any instance). */
    async claimDay(db: Db, tokenId: string, day: string): Promise<boolean> {
      const rows = await db.insertInto('gateway_daily_use').values({ token_id: tokenId, day }).onConflict((oc) => oc.doNothing()).returning('token_id').execute();
      return rows.length === 1;
    },

    async listForToken(db: Db, tokenId: string, limit = 1000): Promise<StoredUsageEvent[]> {
      const rows = await db.selectFrom('gateway_usage_events').selectAll().where('token_id', '=', tokenId).orderBy('id').limit(limit).execute();
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
