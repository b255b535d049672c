import type { Db } from '../storage/database.ts';
import type { StorageDialect } from '../storage/dialect.ts';
import type { FindingsTable } from '../storage/schema.ts';
import type { FindingSeverity, FindingStatus, FindingType } from './finding.types.ts';

export interface FindingFilter {
  tenantId?: string;
  tokenId?: string;
  types?: FindingType[];
  severity?: FindingSeverity;
  status?: FindingStatus;
  /** Live (not resolved) findings only, unless a status says otherwise. */
  afterId?: string;
  limit: number;
}

/** The findings table: one live row per subject and type (the partial unique index), resolved rows kept as history. */
export function createFindingRepo(dialect: StorageDialect) {
  return {
    /** The live findings of these subjects. */
    async liveFor(db: Db, subjectIds: readonly string[]): Promise<FindingsTable[]> {
      if (subjectIds.length === 0) return [];
      return db.selectFrom('findings').selectAll().where(dialect.anyOf('subject_id', subjectIds)).where('resolved_at', 'is', null).execute();
    },

    async insert(db: Db, rows: FindingsTable[]): Promise<void> {
      if (rows.length > 0) await dialect.insertRows(db, 'findings', rows);
    },

    async update(db: Db, id: string, changes: Partial<FindingsTable>): Promise<void> {
      await db.updateTable('findings').set(changes).where('id', '=', id).execute();
    },

    /** Still true: moves last_seen_at of many findings in one statement. */
    async seen(db: Db, ids: readonly string[], at: string): Promise<void> {
      if (ids.length > 0) await db.updateTable('findings').set({ last_seen_at: at }).where(dialect.anyOf('id', ids)).execute();
    },

    async resolve(db: Db, ids: readonly string[], at: string): Promise<void> {
      if (ids.length > 0) await db.updateTable('findings').set({ status: 'resolved', resolved_at: at }).where(dialect.anyOf('id', ids)).where('resolved_at', 'is', null).execute();
    },

    /** Subjects with live findings not confirmed since `before` (the sweep did not reach them: gone, or no longer live). */
    async staleSubjects(db: Db, before: string, limit: number): Promise<{ subject_id: string; token_id: string | null; workload_id: string | null }[]> {
      return db.selectFrom('findings').select(['subject_id', 'token_id', 'workload_id']).distinct().where('resolved_at', 'is', null).where('last_seen_at', '<', before).limit(limit).execute();
    },

    async findById(db: Db, id: string): Promise<FindingsTable | undefined> {
      return db.selectFrom('findings').selectAll().where('id', '=', id).executeTakeFirst();
    },

    async list(db: Db, f: FindingFilter): Promise<FindingsTable[]> {
      let q = db.selectFrom('findings').selectAll();
      if (f.status) q = q.where('status', '=', f.status);
      else q = q.where('resolved_at', 'is', null);
      if (f.tenantId) q = q.where('tenant_id', '=', f.tenantId);
      if (f.tokenId) q = q.where('token_id', '=', f.tokenId);
      if (f.types) q = q.where('type', 'in', f.types.length > 0 ? f.types : ['unmanaged']);
      if (f.severity) q = q.where('severity', '=', f.severity);
      if (f.afterId) q = q.where('id', '>', f.afterId);
      return q.orderBy('id').limit(f.limit).execute();
    },

    /** Live findings counted by type, severity and status (for a tenant, or all). */
    async counts(db: Db, tenantId: string | undefined): Promise<{ tenant_id: string | null; type: FindingType; severity: FindingSeverity; status: FindingStatus; n: number }[]> {
      let q = db
        .selectFrom('findings')
        .select(['tenant_id', 'type', 'severity', 'status', (eb) => eb.fn.countAll<number>().as('n')])
        .where('resolved_at', 'is', null);
      if (tenantId) q = q.where('tenant_id', '=', tenantId);
      const rows = await q.groupBy(['tenant_id', 'type', 'severity', 'status']).execute();
      return rows.map((r) => ({ ...r, n: Number(r.n) }));
    },

    /** Live findings by type (metrics). */
    async countsByType(db: Db): Promise<{ type: FindingType; n: number }[]> {
      const rows = await db.selectFrom('findings').select(['type', (eb) => eb.fn.countAll<number>().as('n')]).where('resolved_at', 'is', null).groupBy('type').execute();
      return rows.map((r) => ({ type: r.type, n: Number(r.n) }));
    },
  };
}

export type FindingRepo = ReturnType<typeof createFindingRepo>;
