import type { Principal } from '../auth/roles.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { Clock } from '../shared/clock.ts';
import { CustodyError } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import type { Storage, Db } from '../storage/database.ts';

import type { Tenant } from './tenant.contract.ts';

export type { Tenant };

function toTenant(r: { id: string; name: string; created_at: string }): Tenant {
  return { id: r.id, name: r.name, createdAt: r.created_at };
}

export function createTenantService(deps: { storage: Storage; ledger: LedgerService; clock: Clock }) {
  const { storage, ledger, clock } = deps;

  async function findVisible(db: Db, principal: Principal, id: string): Promise<Tenant> {
    if (principal.tenantId !== null && principal.tenantId !== id) throw new CustodyError('tenant_not_found');
    const row = await db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new CustodyError('tenant_not_found');
    return toTenant(row);
  }

  return {
    findVisible,
    /** Which of these tenant ids exist. */
    async existing(db: Db, ids: readonly string[]): Promise<Set<string>> {
      if (ids.length === 0) return new Set();
      return new Set((await db.selectFrom('tenants').select('id').where('id', 'in', [...ids]).execute()).map((r) => r.id));
    },
    async create(principal: Principal, input: { name: string }): Promise<Tenant> {
      const row = { id: newId('tenant'), name: input.name, created_at: clock.now().toISOString() };
      try {
        await storage.db.transaction().execute(async (trx) => {
          await trx.insertInto('tenants').values(row).execute();
          await ledger.append(trx, { actor: principal.actor, action: 'tenant.created', tenantId: row.id, subjectId: row.id, data: { name: row.name } });
        });
      } catch (err) {
        if (storage.dialect.isUniqueViolation(err)) throw new CustodyError('tenant_exists', `A tenant named "${input.name}" already exists.`);
        throw err;
      }
      return toTenant(row);
    },
    async list(principal: Principal): Promise<Tenant[]> {
      let q = storage.db.selectFrom('tenants').selectAll().orderBy('id');
      if (principal.tenantId !== null) q = q.where('id', '=', principal.tenantId);
      return (await q.execute()).map(toTenant);
    },
    get: (principal: Principal, id: string) => findVisible(storage.db, principal, id),
  };
}

export type TenantService = ReturnType<typeof createTenantService>;
