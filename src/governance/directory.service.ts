import { canSeeTenant, type Principal } from '../auth/roles.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { Clock } from '../shared/clock.ts';
import { CustodyError } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import type { Storage } from '../storage/database.ts';
import type { ExpressionBuilder } from 'kysely';
import type { Database, OwnersTable, WorkloadsTable } from '../storage/schema.ts';
import type { TenantService } from '../tenants/tenant.service.ts';
import type { TokenService } from '../tokens/token.service.ts';
import type { Owner, Workload } from './directory.contract.ts';
import { PLATFORM_SCOPE as PLATFORM, type ContextData } from './governance.context.ts';


function toOwner(r: OwnersTable): Owner {
  return { id: r.id, name: r.name, kind: r.kind, contact: r.contact, active: r.active === 1, createdAt: r.created_at, updatedAt: r.updated_at };
}

function toWorkload(r: WorkloadsTable): Workload {
  return { id: r.id, name: r.name, tenantId: r.tenant_id, owner: r.owner, purpose: r.purpose, active: r.active === 1, createdAt: r.created_at, updatedAt: r.updated_at };
}

/** What a change of the directories touches: findings of these owners' and workloads' tokens are recomputed. */
export interface DirectoryChange {
  tokenIds?: string[];
  owners?: string[];
  workloads?: { tenantId: string | null; name: string }[];
}

/**
 * The accountable owners and the platform's workloads (issue 13). Tokens name owners and workloads
 * by name; a name missing from the directory is a finding, never an error (imports and legacy
 * records must still load). Every change is ledgered.
 */
export function createDirectoryService(deps: { storage: Storage; ledger: LedgerService; clock: Clock; tenants: TenantService; tokens: TokenService }) {
  const { storage, ledger, clock } = deps;
  const listeners: ((change: DirectoryChange) => void)[] = [];
  const changed = (c: DirectoryChange) => listeners.forEach((l) => l(c));

  return {
    onChange(listener: (change: DirectoryChange) => void) {
      listeners.push(listener);
    },

    /** The directories as plain data (governance.context.ts builds the findings rules' lookups from it). */
    async data(): Promise<Pick<ContextData, 'owners' | 'workloads'>> {
      const [owners, workloads] = await Promise.all([storage.db.selectFrom('owners').select(['name', 'active']).execute(), storage.db.selectFrom('workloads').selectAll().execute()]);
      return {
        owners: owners.map((o) => ({ name: o.name, active: o.active === 1 })),
        workloads: workloads.map((w) => ({ id: w.id, name: w.name, tenantId: w.tenant_id, scopeKey: w.scope_key, owner: w.owner, active: w.active === 1 })),
      };
    },

    /** Every owner's contact by name, lower-cased (names match without regard to case): where notices go. */
    async contacts(): Promise<Map<string, string | null>> {
      const rows = await storage.db.selectFrom('owners').select(['name', 'contact']).execute();
      return new Map(rows.map((r) => [r.name.toLowerCase(), r.contact]));
    },

    async listOwners(active?: boolean): Promise<Owner[]> {
      let q = storage.db.selectFrom('owners').selectAll().orderBy('name');
      if (active !== undefined) q = q.where('active', '=', active ? 1 : 0);
      return (await q.limit(10_000).execute()).map(toOwner);
    },

    async createOwner(principal: Principal, input: { name: string; kind: 'person' | 'team'; contact?: string; active?: boolean }): Promise<Owner> {
      const now = clock.now().toISOString();
      const row: OwnersTable = { id: newId('owner'), name: input.name, kind: input.kind, contact: input.contact ?? null, active: input.active === false ? 0 : 1, created_at: now, updated_at: now };
      try {
        await storage.db.transaction().execute(async (trx) => {
          // Names match without regard to case (tokens name owners as people type them).
          const clash = await trx.selectFrom('owners').select('name').where((eb) => eb(eb.fn('lower', ['name']), '=', input.name.toLowerCase())).executeTakeFirst();
          if (clash) throw new CustodyError('owner_exists', `An owner named "${clash.name}" already exists (names are matched without regard to case).`);
          await trx.insertInto('owners').values(row).execute();
          await ledger.append(trx, { actor: principal.actor, action: 'owner.created', subjectId: row.id, data: { name: row.name, kind: row.kind, active: row.active === 1 } });
        });
      } catch (err) {
        if (storage.dialect.isUniqueViolation(err)) throw new CustodyError('owner_exists', `An owner named "${input.name}" already exists.`);
        throw err;
      }
      changed({ owners: [row.name] });
      return toOwner(row);
    },

    async patchOwner(principal: Principal, id: string, input: { kind?: 'person' | 'team'; contact?: string | null; active?: boolean }): Promise<Owner> {
      const out = await storage.db.transaction().execute(async (trx) => {
        const row = await storage.dialect.forUpdate(trx.selectFrom('owners').selectAll().where('id', '=', id)).executeTakeFirst();
        if (!row) throw new CustodyError('owner_not_found');
        const changes: Partial<OwnersTable> = {};
        if (input.kind !== undefined && input.kind !== row.kind) changes.kind = input.kind;
        if (input.contact !== undefined && input.contact !== row.contact) changes.contact = input.contact;
        if (input.active !== undefined && (input.active ? 1 : 0) !== row.active) changes.active = input.active ? 1 : 0;
        if (Object.keys(changes).length === 0) return row;
        const next = { ...row, ...changes, updated_at: clock.now().toISOString() };
        await trx.updateTable('owners').set({ ...changes, updated_at: next.updated_at }).where('id', '=', id).execute();
        const action = changes.active === 0 ? 'owner.deactivated' : changes.active === 1 ? 'owner.reactivated' : 'owner.changed';
        await ledger.append(trx, { actor: principal.actor, action, subjectId: id, data: { name: row.name, from: { kind: row.kind, contact: row.contact, active: row.active === 1 }, to: { kind: next.kind, contact: next.contact, active: next.active === 1 } } });
        return next;
      });
      changed({ owners: [out.name] });
      return toOwner(out);
    },

    async listWorkloads(principal: Principal, tenantId?: string): Promise<Workload[]> {
      let q = storage.db.selectFrom('workloads').selectAll().orderBy('name');
      const tenant = principal.tenantId ?? tenantId;
      if (principal.tenantId !== null && tenantId && tenantId !== principal.tenantId) return [];
      // A tenant's view: its own workloads and the platform-wide ones.
      if (tenant) q = q.where((eb) => eb.or([eb('tenant_id', '=', tenant), eb('tenant_id', 'is', null)]));
      const rows = (await q.limit(10_000).execute()).map(toWorkload);
      // The platform's own staff are not shown to a customer: a platform-wide workload's owner is
      // for platform staff (as the owners directory is).
      return principal.tenantId === null ? rows : rows.map((w) => (w.tenantId === null ? { ...w, owner: null } : w));
    },

    async createWorkload(principal: Principal, input: { name: string; tenantId?: string; owner?: string; purpose?: string }): Promise<Workload> {
      if (input.tenantId) await deps.tenants.findVisible(storage.db, principal, input.tenantId);
      const now = clock.now().toISOString();
      const row: WorkloadsTable = {
        id: newId('workload'),
        name: input.name,
        tenant_id: input.tenantId ?? null,
        scope_key: input.tenantId ?? PLATFORM,
        owner: input.owner ?? null,
        purpose: input.purpose ?? null,
        active: 1,
        created_at: now,
        updated_at: now,
      };
      try {
        await storage.db.transaction().execute(async (trx) => {
          await trx.insertInto('workloads').values(row).execute();
          await ledger.append(trx, { actor: principal.actor, action: 'workload.created', tenantId: row.tenant_id, subjectId: row.id, data: { name: row.name, owner: row.owner, purpose: row.purpose } });
        });
      } catch (err) {
        if (storage.dialect.isUniqueViolation(err)) {
          const existing = await storage.db.selectFrom('workloads').select(['id', 'active']).where('name', '=', input.name).where('scope_key', '=', row.scope_key).executeTakeFirst();
          const hint = existing && existing.active === 0 ? ` It is retired: make it active again (custody workloads update ${existing.id} --active; PATCH /v1/workloads/${existing.id}).` : existing ? ` (${existing.id})` : '';
          throw new CustodyError('workload_exists', `A workload named "${input.name}" already exists ${input.tenantId ? `for tenant ${input.tenantId}` : 'platform-wide'}.${hint}`);
        }
        throw err;
      }
      changed({ workloads: [{ tenantId: row.tenant_id, name: row.name }] });
      return toWorkload(row);
    },

    async patchWorkload(principal: Principal, id: string, input: { owner?: string | null; purpose?: string | null; active?: boolean }): Promise<Workload> {
      const out = await storage.db.transaction().execute(async (trx) => {
        const row = await storage.dialect.forUpdate(trx.selectFrom('workloads').selectAll().where('id', '=', id)).executeTakeFirst();
        if (!row || !canSeeTenant(principal, row.tenant_id)) throw new CustodyError('workload_not_found');
        const changes: Partial<WorkloadsTable> = {};
        if (input.owner !== undefined && input.owner !== row.owner) changes.owner = input.owner;
        if (input.purpose !== undefined && input.purpose !== row.purpose) changes.purpose = input.purpose;
        if (input.active !== undefined && (input.active ? 1 : 0) !== row.active) changes.active = input.active ? 1 : 0;
        if (Object.keys(changes).length === 0) return row;
        const next = { ...row, ...changes, updated_at: clock.now().toISOString() };
        await trx.updateTable('workloads').set({ ...changes, updated_at: next.updated_at }).where('id', '=', id).execute();
        await ledger.append(trx, { actor: principal.actor, action: 'workload.changed', tenantId: row.tenant_id, subjectId: id, data: { name: row.name, from: { owner: row.owner, purpose: row.purpose, active: row.active === 1 }, to: { owner: next.owner, purpose: next.purpose, active: next.active === 1 } } });
        return next;
      });
      changed({ workloads: [{ tenantId: out.tenant_id, name: out.name }] });
      return toWorkload(out);
    },

    /** Moves every live token and workload of `fromOwner` to `toOwner` in one ledgered transaction. */
    async reassign(principal: Principal, input: { fromOwner: string; toOwner: string; reason?: string }): Promise<{ tokens: number; workloads: number }> {
      const target = await storage.db.selectFrom('owners').selectAll().where((eb) => eb(eb.fn('lower', ['name']), '=', input.toOwner.toLowerCase())).executeTakeFirst();
      if (!target) throw new CustodyError('owner_not_found', `"${input.toOwner}" is not in the owners directory; add them first (custody owners add, POST /v1/owners).`);
      if (target.active !== 1) throw new CustodyError('owner_inactive', `"${input.toOwner}" is deactivated; move the tokens to an active owner.`);
      if (input.fromOwner.toLowerCase() === target.name.toLowerCase()) {
        throw new CustodyError('validation_failed', `fromOwner and toOwner name the same owner ("${target.name}"): there is nothing to move.`, [{ path: 'body/toOwner', message: 'must differ from fromOwner' }]);
      }
      // Tokens and workloads take the directory's spelling of the new owner.
      const to = target.name;
      const reason = input.reason ?? `reassigned from ${input.fromOwner} to ${to}`;
      const sameName = (eb: ExpressionBuilder<Database, 'workloads'>) => eb(eb.fn('lower', ['owner']), '=', input.fromOwner.toLowerCase());
      const result = await deps.tokens.unitOfWork(async (work) => {
        const tokenIds = await deps.tokens.reassignOwner(work, input.fromOwner, to, principal.actor, reason);
        const workloads = await storage.dialect.forUpdate(work.trx.selectFrom('workloads').select(['id', 'tenant_id', 'name', 'owner']).where(sameName).orderBy('id')).execute();
        if (workloads.length > 0) {
          await work.trx.updateTable('workloads').set({ owner: to, updated_at: clock.now().toISOString() }).where(sameName).execute();
          await ledger.appendMany(
            work.trx,
            workloads.map((w) => ({ actor: principal.actor, action: 'workload.owner_changed', tenantId: w.tenant_id, subjectId: w.id, data: { name: w.name, from: w.owner, to, reason } })),
          );
        }
        await ledger.append(work.trx, { actor: principal.actor, action: 'owner.reassigned', subjectId: target.id, data: { from: input.fromOwner, to, reason, tokens: tokenIds.length, workloads: workloads.length } });
        return { tokenIds, workloads: workloads.length };
      });
      changed({ tokenIds: result.tokenIds, owners: [input.fromOwner, to] });
      return { tokens: result.tokenIds.length, workloads: result.workloads };
    },
  };
}

export type DirectoryService = ReturnType<typeof createDirectoryService>;
