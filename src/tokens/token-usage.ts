import type { Db } from '../storage/database.ts';
import { reusable, sentinel } from '../storage/reusable-statement.ts';

/**
 * `recordUsage`: the token owner's operation for what the gateway's usage writer learns of each
 * token it forwarded for: last use (and by whom) and per-scope last use. It runs on the writer
 * thread's own connection, inside the writer's batch transaction, so it is a set of statements
 * rather than a service call. Usage changes nothing the gateway decides on (state, workloads,
 * scopes, credentials), so unlike every other token write it notifies no cache.
 *
 * One recorder per database connection: the compiled statement texts carry that database's
 * placeholder syntax.
 */
export function createTokenUsageRecorder() {
  // Moves lastUsedAt forward only: batches from several instances may land out of order.
  const touchToken = reusable(
    (db, tokenId: string, at: string, by: string) =>
      db
        .updateTable('tokens')
        .set({ last_used_at: at, last_used_by: by })
        .where('id', '=', tokenId)
        .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', at)])),
    [sentinel('token'), sentinel('at'), sentinel('by')],
  );

  const touchScope = reusable(
    (db, tokenId: string, scope: string, at: string) =>
      db
        .insertInto('token_scope_usage')
        .values({ token_id: tokenId, scope, last_used_at: at })
        .onConflict((oc) =>
          oc
            .columns(['token_id', 'scope'])
            .doUpdateSet((eb) => ({ last_used_at: eb.ref('excluded.last_used_at') }))
            .where('token_scope_usage.last_used_at', '<', at),
        ),
    [sentinel('token'), sentinel('scope'), sentinel('at')],
  );

  const touchWorkload = reusable(
    (db, tokenId: string, workload: string, at: string) =>
      db
        .insertInto('token_workload_usage')
        .values({ token_id: tokenId, workload, last_used_at: at })
        .onConflict((oc) =>
          oc
            .columns(['token_id', 'workload'])
            .doUpdateSet((eb) => ({ last_used_at: eb.ref('excluded.last_used_at') }))
            .where('token_workload_usage.last_used_at', '<', at),
        ),
    [sentinel('token'), sentinel('workload'), sentinel('at')],
  );

  return {
    /** The token was used at `at` by `by` (a workload or actor); moves lastUsedAt forward only. */
    async recordUse(db: Db, tokenId: string, at: string, by: string): Promise<void> {
      await touchToken(db, tokenId, at, by);
    },
    /** The token's `scope` was used at `at`; moves that scope's last use forward only. */
    async recordScopeUse(db: Db, tokenId: string, scope: string, at: string): Promise<void> {
      await touchScope(db, tokenId, scope, at);
    },
    /** `workload` used the token at `at`; moves that workload's last use forward only. */
    async recordWorkloadUse(db: Db, tokenId: string, workload: string, at: string): Promise<void> {
      await touchWorkload(db, tokenId, workload, at);
    },
  };
}

export type TokenUsageRecorder = ReturnType<typeof createTokenUsageRecorder>;
