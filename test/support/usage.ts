import type { UsageEvent } from '../../src/gateway/gateway.types.ts';
import type { Harness } from './harness.ts';

/** A forwarded-call usage event for `tokenId`; `i` makes its time (ms after 2026-11-28T10:00Z) and latency distinct. */
export function usageEvent(tokenId: string, i: number, overrides: Partial<UsageEvent> = {}): UsageEvent {
  return {
    atMs: Date.UTC(2026, 10, 28, 10, 0, 0, i),
    tokenId,
    tenantId: 'ten_x',
    workload: 'billing-sync',
    apiKeyId: 'key_x',
    actor: 'apikey:key_x',
    method: 'GET',
    host: 'api.example.com',
    pathTemplate: '/items/{id}',
    scope: 'invoices.read',
    unmapped: false,
    outcome: 'forwarded',
    errorCode: null,
    status: 200,
    sourceAddress: '127.0.0.1',
    latencyMs: i + 0.25,
    ...overrides,
  };
}

/** How many usage events are stored for a token. */
export async function countUsage(h: Harness, tokenId: string): Promise<number> {
  const row = await h.custody.storage.db.selectFrom('gateway_usage_events').select((eb) => eb.fn.countAll<number>().as('n')).where('token_id', '=', tokenId).executeTakeFirstOrThrow();
  return Number(row.n);
}
