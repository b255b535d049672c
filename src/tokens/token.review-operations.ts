import type { NewLedgerEntry } from '../ledger/ledger.types.ts';
import type { Clock } from '../shared/clock.ts';
import { CustodyError } from '../shared/errors.ts';
import type { Db } from '../storage/database.ts';
import type { StorageDialect } from '../storage/dialect.ts';
import { holdsPrivilege, reviewDueOf, TERMINAL_STATES, type PracticalTestPolicies } from './token.practical-test.ts';
import type { TokenRow } from './token.repo.ts';
import type { TokenWork } from './token.unit-of-work.ts';

const DAY_MS = 86_400_000;

/**
 * The owner re-justifies a live token's purpose: recorded (it may restate the same purpose), and the
 * next review falls due after the tenant's review interval; ledgered `token.justified`. The one
 * implementation behind `POST /v1/tokens/{id}/justify` and an access review's keep. Answers the new
 * review date.
 */
export async function justifyRow(work: TokenWork, row: TokenRow, actor: string, purpose: string, reviewIntervalDays: number, now: Date): Promise<string> {
  if (!holdsPrivilege(row.state)) throw new CustodyError('illegal_transition', `Token ${row.id} is ${row.state}: a ${row.state} token is final and needs no justification.`);
  const next = new Date(now.getTime() + reviewIntervalDays * DAY_MS).toISOString();
  await work.write(row.id, { purpose, review_due_at: next }, [
    { actor, action: 'token.justified', tenantId: row.tenant_id, subjectId: row.id, data: { purpose, previousPurpose: row.purpose, reviewDueAt: { from: row.review_due_at, to: next }, reviewIntervalDays } },
  ]);
  return next;
}

/** What an access review covers: at least one of these, together they narrow (owner matched without regard to case, as the owners directory does). */
export interface ReviewScope {
  tenantId?: string | null;
  owner?: string | null;
  providerId?: string | null;
}

/** A live token as a review campaign's creation reads it. */
export interface ReviewTarget {
  id: string;
  tenantId: string;
  owner: string;
}

/**
 * What access reviews (src/reviews) do to tokens, as named operations of their owner: the live
 * tokens a campaign covers, and a decision's or an escalation's change, each inside the caller's
 * unit of work (ledgered, change hooks run, the gateway and findings hear of it after the commit).
 */
export function createTokenReviewOperations(deps: { dialect: StorageDialect; clock: Clock; policies: () => Promise<PracticalTestPolicies> }) {
  const { dialect, clock } = deps;

  const inScope = (db: Db, scope: ReviewScope) => {
    // "Not terminal" rather than "in the live states": read in id order (an index range per
    // tenant or provider, the primary key otherwise) and stopped at the page's limit.
    let q = db.selectFrom('tokens').where('state', 'not in', [...TERMINAL_STATES]);
    if (scope.tenantId) q = q.where('tenant_id', '=', scope.tenantId);
    if (scope.providerId) q = q.where('provider_id', '=', scope.providerId);
    if (scope.owner) q = q.where((eb) => eb(eb.fn('lower', ['owner']), '=', scope.owner!.toLowerCase()));
    return q;
  };

  return {
    /** How many live tokens a scope covers (a campaign's size, checked before anything is written). */
    async countInScope(db: Db, scope: ReviewScope): Promise<number> {
      const row = await inScope(db, scope).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst();
      return Number(row?.n ?? 0);
    },

    /** A page of the live tokens a scope covers, in id order after `afterId`. */
    async pageInScope(db: Db, scope: ReviewScope, afterId: string | null, limit: number): Promise<ReviewTarget[]> {
      let q = inScope(db, scope).select(['id', 'tenant_id', 'owner']);
      if (afterId) q = q.where('id', '>', afterId);
      const rows = await q.orderBy('id').limit(limit).execute();
      return rows.map((r) => ({ id: r.id, tenantId: r.tenant_id, owner: r.owner }));
    },

    /**
     * The writes of a review decision or escalation, bound to the policies read now: call this
     * before opening the unit of work (on SQLite nothing outside a unit of work can be read while
     * it runs).
     */
    async prepare() {
      const policies = await deps.policies();
      const live = async (work: TokenWork, tokenId: string): Promise<TokenRow> => {
        const row = await work.lockedRow(tokenId);
        if (!row) throw new CustodyError('token_not_found');
        if (!holdsPrivilege(row.state)) throw new CustodyError('illegal_transition', `Token ${tokenId} is ${row.state}: a ${row.state} token is final and cannot be changed.`);
        return row;
      };
      return {
        /** The token's state and owner, locked until the unit of work ends; null when there is no such token. */
        async current(work: TokenWork, tokenId: string): Promise<{ state: TokenRow['state']; owner: string; tenantId: string } | null> {
          const row = await work.lockedRow(tokenId);
          return row ? { state: row.state, owner: row.owner, tenantId: row.tenant_id } : null;
        },

        /** A keep: exactly `POST /v1/tokens/{id}/justify` (the justification becomes the purpose). Answers the new review date. */
        async justify(work: TokenWork, tokenId: string, actor: string, purpose: string): Promise<string> {
          const row = await live(work, tokenId);
          return justifyRow(work, row, actor, purpose, policies.forTenant(row.tenant_id).reviewIntervalDays, clock.now());
        },

        /** A revoke: the lifecycle transition, in force in the gateway at the commit; its upstream revocation is queued by the outbox's transition hook. */
        async revoke(work: TokenWork, tokenId: string, actor: string, reason: string): Promise<void> {
          await work.transition(await live(work, tokenId), 'revoke', actor, reason);
        },

        /** A reassign: the token's owner changes, ledgered `token.owner_changed` with the reason (as the owners' reassignment writes it). */
        async changeOwner(work: TokenWork, tokenId: string, to: string, actor: string, reason: string): Promise<{ from: string }> {
          const row = await live(work, tokenId);
          if (row.owner !== to) {
            await work.write(tokenId, { owner: to }, [{ actor, action: 'token.owner_changed', tenantId: row.tenant_id, subjectId: tokenId, data: { from: row.owner, to, reason } }]);
          }
          return { from: row.owner };
        },

        /**
         * An escalation: the review of each live token falls due at `at` — brought forward, never
         * pushed back (a review already due earlier stays as it is), ledgered
         * `token.review_due_changed` with the reason. Findings re-evaluate the tokens after the
         * commit (review_overdue once `at` has passed), and enforcement takes its course. Answers the
         * tokens changed.
         */
        async makeReviewDue(work: TokenWork, tokenIds: readonly string[], at: string, actor: string, reason: string): Promise<{ id: string; from: string | null }[]> {
          if (tokenIds.length === 0) return [];
          const rows = await dialect
            .forUpdate(
              work.trx
                .selectFrom('tokens')
                .select(['id', 'tenant_id', 'state', 'review_due_at', 'approved_at', 'issued_at'])
                .where(dialect.anyOf('id', tokenIds))
                .orderBy('id'),
            )
            .execute();
          const moving = rows.filter((r) => holdsPrivilege(r.state) && reviewDueOf({ reviewDueAt: r.review_due_at, approvedAt: r.approved_at, issuedAt: r.issued_at }, policies.forTenant(r.tenant_id)) > at);
          const entries: NewLedgerEntry[] = moving.map((r) => ({ actor, action: 'token.review_due_changed', tenantId: r.tenant_id, subjectId: r.id, data: { from: r.review_due_at, to: at, reason } }));
          await work.writeMany(
            moving.map((r) => r.id),
            { review_due_at: at },
            entries,
          );
          return moving.map((r) => ({ id: r.id, from: r.review_due_at }));
        },
      };
    },
  };
}

export type TokenReviewOperations = ReturnType<typeof createTokenReviewOperations>;
export type PreparedReviewOperations = Awaited<ReturnType<TokenReviewOperations['prepare']>>;
