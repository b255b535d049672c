import { canSeeTenant, type Principal } from '../auth/roles.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { Clock } from '../shared/clock.ts';
import { CustodyError } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import type { Storage } from '../storage/database.ts';
import type { FindingExceptionsTable } from '../storage/schema.ts';
import type { TenantService } from '../tenants/tenant.service.ts';
import type { TokenService } from '../tokens/token.service.ts';
import type { FindingException } from './exception.contract.ts';
import type { FindingType } from './finding.types.ts';
import type { ContextData } from './governance.context.ts';

/** The longest an exception may run: it is time-boxed, and renewing it is a decision someone makes again. */
const MAX_EXCEPTION_DAYS = 365;

function toException(r: FindingExceptionsTable, now: string): FindingException {
  const status = r.withdrawn_at ? 'withdrawn' : r.expires_at <= now ? 'expired' : 'active';
  return {
    id: r.id,
    tenantId: r.tenant_id,
    tokenId: r.token_id,
    findingType: r.finding_type,
    approvedBy: r.approved_by,
    reason: r.reason,
    expiresAt: r.expires_at,
    status,
    createdAt: r.created_at,
    createdBy: r.created_by,
    withdrawnAt: r.withdrawn_at,
    withdrawnBy: r.withdrawn_by,
  };
}

/**
 * Time-boxed exceptions (the seed's "customer-specific exceptions"): a finding type accepted for a
 * tenant or one of its tokens, by a named approver, until a date. Created and withdrawn in the ledger.
 */
export function createExceptionService(deps: { storage: Storage; ledger: LedgerService; clock: Clock; tenants: TenantService; tokens: TokenService }) {
  const { storage, ledger, clock } = deps;
  const listeners: ((e: FindingException) => void)[] = [];

  return {
    /** Told after an exception is created or withdrawn: the findings it covers are recomputed. */
    onChange(listener: (e: FindingException) => void) {
      listeners.push(listener);
    },

    /** The exceptions in force now, as plain data (governance.context.ts applies them). */
    async activeRows(): Promise<ContextData['exceptions']> {
      const now = clock.now().toISOString();
      const rows = await storage.db.selectFrom('finding_exceptions').select(['id', 'tenant_id', 'token_id', 'finding_type', 'expires_at']).where('withdrawn_at', 'is', null).where('expires_at', '>', now).execute();
      return rows.map((r) => ({ id: r.id, tenantId: r.tenant_id, tokenId: r.token_id, findingType: r.finding_type, expiresAt: r.expires_at }));
    },

    async create(principal: Principal, input: { tenantId: string; tokenId?: string; findingType: FindingType; approvedBy: string; reason: string; expiresAt: string }): Promise<FindingException> {
      await deps.tenants.findVisible(storage.db, principal, input.tenantId);
      if (input.tokenId) {
        const token = await deps.tokens.get(principal, input.tokenId);
        if (token.tenantId !== input.tenantId) throw new CustodyError('token_not_found', `Token ${input.tokenId} is not a token of tenant ${input.tenantId}.`);
      }
      const now = clock.now();
      const expiresAt = new Date(input.expiresAt).toISOString();
      const problems = [];
      if (expiresAt <= now.toISOString()) problems.push({ path: 'body/expiresAt', message: 'must be in the future' });
      if (new Date(expiresAt).getTime() - now.getTime() > MAX_EXCEPTION_DAYS * 86_400_000) problems.push({ path: 'body/expiresAt', message: `must be at most ${MAX_EXCEPTION_DAYS} days ahead: exceptions are time-boxed; renew one when it ends` });
      if (problems.length > 0) throw new CustodyError('validation_failed', `The exception is not valid: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}.`, problems);
      const row: FindingExceptionsTable = {
        id: newId('exception'),
        tenant_id: input.tenantId,
        token_id: input.tokenId ?? null,
        finding_type: input.findingType,
        approved_by: input.approvedBy,
        reason: input.reason,
        expires_at: expiresAt,
        created_at: now.toISOString(),
        created_by: principal.actor,
        withdrawn_at: null,
        withdrawn_by: null,
      };
      await storage.db.transaction().execute(async (trx) => {
        await trx.insertInto('finding_exceptions').values(row).execute();
        await ledger.append(trx, { actor: principal.actor, action: 'exception.created', tenantId: row.tenant_id, subjectId: row.id, data: { tokenId: row.token_id, findingType: row.finding_type, approvedBy: row.approved_by, reason: row.reason, expiresAt } });
      });
      const out = toException(row, now.toISOString());
      for (const l of listeners) l(out);
      return out;
    },

    async list(principal: Principal, filter: { tenantId?: string; tokenId?: string; status?: 'active' | 'expired' | 'withdrawn' }): Promise<FindingException[]> {
      const now = clock.now().toISOString();
      let q = storage.db.selectFrom('finding_exceptions').selectAll().orderBy('id', 'desc');
      const tenantId = principal.tenantId ?? filter.tenantId;
      if (principal.tenantId !== null && filter.tenantId && filter.tenantId !== principal.tenantId) return [];
      if (tenantId) q = q.where('tenant_id', '=', tenantId);
      if (filter.tokenId) q = q.where('token_id', '=', filter.tokenId);
      if (filter.status === 'withdrawn') q = q.where('withdrawn_at', 'is not', null);
      if (filter.status === 'active') q = q.where('withdrawn_at', 'is', null).where('expires_at', '>', now);
      if (filter.status === 'expired') q = q.where('withdrawn_at', 'is', null).where('expires_at', '<=', now);
      return (await q.limit(1000).execute()).map((r) => toException(r, now));
    },

    async withdraw(principal: Principal, id: string): Promise<FindingException> {
      const now = clock.now().toISOString();
      const row = await storage.db.transaction().execute(async (trx) => {
        const r = await storage.dialect.forUpdate(trx.selectFrom('finding_exceptions').selectAll().where('id', '=', id)).executeTakeFirst();
        if (!r || !canSeeTenant(principal, r.tenant_id)) throw new CustodyError('exception_not_found');
        if (r.withdrawn_at || r.expires_at <= now) throw new CustodyError('exception_expired', `Exception ${id} is already ${r.withdrawn_at ? 'withdrawn' : 'expired'}.`);
        await trx.updateTable('finding_exceptions').set({ withdrawn_at: now, withdrawn_by: principal.actor }).where('id', '=', id).execute();
        await ledger.append(trx, { actor: principal.actor, action: 'exception.withdrawn', tenantId: r.tenant_id, subjectId: id, data: { tokenId: r.token_id, findingType: r.finding_type } });
        return { ...r, withdrawn_at: now, withdrawn_by: principal.actor };
      });
      const out = toException(row, now);
      for (const l of listeners) l(out);
      return out;
    },
  };
}

export type ExceptionService = ReturnType<typeof createExceptionService>;
