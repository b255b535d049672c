import type { Db } from '../storage/database.ts';
import type { OAuthFlowsTable } from '../storage/schema.ts';

/** Consent flows, and the token lookups consent and refresh need. */
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

    async finishFlow(db: Db, id: string, outcome: string, tokenId: string | null): Promise<void> {
      await db.updateTable('oauth_flows').set({ outcome, token_id: tokenId }).where('id', '=', id).execute();
    },

    /** The record a consent for this tenant, provider and subject continues (suspended) or succeeds (expired/revoked). */
    async findForSubject(db: Db, tenantId: string, providerId: string, subject: string, states: string[]): Promise<{ id: string; state: string } | undefined> {
      return db
        .selectFrom('tokens')
        .select(['id', 'state'])
        .where('tenant_id', '=', tenantId)
        .where('provider_id', '=', providerId)
        .where('subject', '=', subject)
        .where('state', 'in', states)
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst();
    },

    /** Refresh-token rotation is learned from what the issuer does, and shown on the provider. */
    async noteRotation(db: Db, providerId: string, rotated: boolean): Promise<void> {
      await db.updateTable('providers').set({ refresh_rotation: rotated ? 1 : 0 }).where('id', '=', providerId).execute();
    },
  };
}

export type OAuthRepo = ReturnType<typeof createOAuthRepo>;
