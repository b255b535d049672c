import type { Principal } from '../auth/roles.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { Clock } from '../shared/clock.ts';
import type { Db, Storage } from '../storage/database.ts';
import type { InactiveApproversTable } from '../storage/schema.ts';
import type { TenantService } from '../tenants/tenant.service.ts';
import type { TokenService, TokenWork } from '../tokens/token.service.ts';
import type { SignalSubjectRef, SignalTargetRow, TokenSignalTargets } from '../tokens/token.signal-targets.ts';
import type { InactiveApprover } from './approver.contract.ts';

/**
 * The `issuer` an account is recorded under when the event named it without one: by its email
 * address (an SSF `email` subject; the subject is the address, lower-cased), or by the
 * transmitter's opaque identifier (an `opaque` subject; matched as the account's subject at any
 * issuer of the tenant, as offboarding matches the tokens it approved). Neither is a URL, so
 * neither collides with a real issuer.
 */
export const EMAIL_ISSUER = 'email';
export const OPAQUE_ISSUER = 'opaque';

const toApprover = (r: InactiveApproversTable): InactiveApprover => ({
  tenantId: r.tenant_id,
  issuer: r.issuer,
  subject: r.subject,
  reason: r.reason,
  source: r.source,
  deactivatedAt: r.deactivated_at,
  deactivatedBy: r.deactivated_by,
});

/**
 * Approver offboarding (OWASP NHI1): a customer administrator who approved tokens has left.
 *
 * Invariants:
 * - Recorded per tenant and account at an issuer (`inactive_approvers`), in the same unit of work
 *   that sets `approver_active = 0` on every live token that account approved in that tenant, with a
 *   ledger entry per token and one for the approver. Governance re-evaluates the changed tokens
 *   after the commit (`approver_inactive`), and enforcement gives notice, then suspends after the grace.
 * - A consent by a recorded account is refused (`approver_deactivated`, src/oauth/consent.service.ts
 *   asks `isDeactivated`): recorded by issuer and subject, by email (an SSF email subject; matched
 *   against the consent's verified email, without regard to case), or by an opaque id (matched
 *   against the consent's subject at any issuer); another administrator's re-approval renews the token's approver (and
 *   `approver_active` with it).
 * - Only the tenant's own tokens: another tenant's tokens approved by the same account are untouched.
 */
export function createApproverService(deps: { storage: Storage; ledger: LedgerService; clock: Clock; tenants: TenantService; tokens: TokenService; targets: TokenSignalTargets }) {
  const { storage, ledger, clock, tokens, targets } = deps;

  /**
   * In the caller's unit of work: records each (issuer, subject) as inactive in the tenant and
   * marks the given tokens' approver inactive. Answers the ids changed and whether each approver was new.
   */
  async function offboard(
    work: TokenWork,
    input: { tenantId: string; approvers: { issuer: string; subject: string }[]; rows: readonly SignalTargetRow[]; reason: string; source: 'api' | 'ssf'; actor: string },
  ): Promise<{ tokenIds: string[]; recorded: InactiveApproversTable[]; alreadyInactive: number }> {
    const at = clock.now().toISOString();
    const seen = new Set<string>();
    const recorded: InactiveApproversTable[] = [];
    let alreadyInactive = 0;
    for (const a of input.approvers) {
      const key = `${a.issuer}\n${a.subject}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const row: InactiveApproversTable = { tenant_id: input.tenantId, issuer: a.issuer, subject: a.subject, reason: input.reason, source: input.source, deactivated_at: at, deactivated_by: input.actor };
      const inserted = await work.trx.insertInto('inactive_approvers').values(row).onConflict((oc) => oc.columns(['tenant_id', 'issuer', 'subject']).doNothing()).executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0) alreadyInactive++;
      else recorded.push(row);
    }
    const tokenIds = await targets.markApproverInactive(work, input.rows, input.actor, { reason: input.reason, source: input.source });
    if (recorded.length > 0 || tokenIds.length > 0) {
      await ledger.appendMany(
        work.trx,
        [...seen].map((key) => {
          const [issuer, subject] = key.split('\n') as [string, string];
          return { actor: input.actor, action: 'approver.deactivated', tenantId: input.tenantId, subjectId: null, data: { issuer, subject, reason: input.reason, source: input.source, tokens: tokenIds.length } };
        }),
      );
    }
    return { tokenIds, recorded, alreadyInactive };
  }

  return {
    offboard,

    /** POST /v1/approvers/deactivate. */
    async deactivate(principal: Principal, input: { tenantId: string; issuer: string; subject: string; reason?: string | undefined }) {
      await deps.tenants.findVisible(storage.db, principal, input.tenantId);
      const reason = input.reason ?? 'the approver left the customer';
      const subject: SignalSubjectRef = { format: 'iss_sub', iss: input.issuer, sub: input.subject };
      const result = await tokens.unitOfWork(async (work) => {
        const rows = await targets.approvedTokens(work, input.tenantId, subject);
        return offboard(work, { tenantId: input.tenantId, approvers: [{ issuer: input.issuer, subject: input.subject }], rows, reason, source: 'api', actor: principal.actor });
      });
      const stored = await storage.db.selectFrom('inactive_approvers').selectAll().where('tenant_id', '=', input.tenantId).where('issuer', '=', input.issuer).where('subject', '=', input.subject).executeTakeFirstOrThrow();
      return { approver: toApprover(stored), tokensFlagged: result.tokenIds.length, tokenIds: result.tokenIds.slice(0, 100), alreadyInactive: result.alreadyInactive > 0 };
    },

    async listInactive(principal: Principal, tenantId: string | undefined): Promise<{ items: InactiveApprover[]; truncated: boolean }> {
      const scope = principal.tenantId ?? tenantId;
      if (tenantId) await deps.tenants.findVisible(storage.db, principal, tenantId);
      let q = storage.db.selectFrom('inactive_approvers').selectAll().orderBy('deactivated_at', 'desc').limit(1_001);
      if (scope) q = q.where('tenant_id', '=', scope);
      const rows = await q.execute();
      return { items: rows.slice(0, 1_000).map(toApprover), truncated: rows.length > 1_000 };
    },

    /**
     * Whether the account is recorded as inactive in the tenant (consent refuses it): by its issuer
     * and subject, by an opaque id equal to its subject, or by its (verified) email.
     */
    async isDeactivated(db: Db, tenantId: string, issuer: string, subject: string, email: string | null = null): Promise<boolean> {
      const r = await db
        .selectFrom('inactive_approvers')
        .select('subject')
        .where('tenant_id', '=', tenantId)
        .where((eb) =>
          eb.or([
            eb.and([eb('issuer', '=', issuer), eb('subject', '=', subject)]),
            eb.and([eb('issuer', '=', OPAQUE_ISSUER), eb('subject', '=', subject)]),
            ...(email ? [eb.and([eb('issuer', '=', EMAIL_ISSUER), eb('subject', '=', email.toLowerCase())])] : []),
          ]),
        )
        .executeTakeFirst();
      return r !== undefined;
    },
  };
}

export type ApproverService = ReturnType<typeof createApproverService>;
