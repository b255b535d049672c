import type { Db } from '../storage/database.ts';
import type { OAuthFlowsTable } from '../storage/schema.ts';

/** Consent flows (the `oauth_flows` table). */
export function createOAuthRepo() {
  return {
    async insertFlow(trx: Db, row: OAuthFlowsTable): Promise<void> {
      await trx.insertInto('oauth_flows').values(row).execute();
    },

    /**
     * Takes a flow for the one callback that may finish it. The conditional update is the replay
     * guard: a second callback with the same state finds nothing to claim.
     */
    async claimFlow(db: Db, state: string, now: Date): Promise<{ flow: OAuthFlowsTable | undefined; reason: 'ok' | 'unknown' | 'replayed' | 'expired' }> {
      const nowIso = now.toISOString();
      const flow = await db
        .updateTable('oauth_flows')
        .set({ consumed_at: nowIso })
        .where('state', '=', state)
        .where('consumed_at', 'is', null)
        .returningAll()
        .executeTakeFirst();
      if (!flow) {
        const seen = await db.selectFrom('oauth_flows').select('id').where('state', '=', state).executeTakeFirst();
        return { flow: undefined, reason: seen ? 'replayed' : 'unknown' };
      }
      if (flow.expires_at <= nowIso) return { flow, reason: 'expired' };
      return { flow, reason: 'ok' };
    },

    async findFlowByState(db: Db, state: string): Promise<OAuthFlowsTable | undefined> {
      return db.selectFrom('oauth_flows').selectAll().where('state', '=', state).executeTakeFirst();
    },

    async finishFlow(db: Db, id: string, outcome: string, tokenId: string | null): Promise<void> {
      await db.updateTable('oauth_flows').set({ outcome, token_id: tokenId }).where('id', '=', id).execute();
    },

  };
}

export type OAuthRepo = ReturnType<typeof createOAuthRepo>;
