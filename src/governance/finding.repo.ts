import type { Db } from '../storage/database.ts';
import type { StorageDialect } from '../storage/dialect.ts';
import type { FindingsTable } from '../storage/schema.ts';

/** What reconciliation compares a live finding by: everything but its reasons (their digest stands in). */
export type LiveFinding = Pick<FindingsTable, 'id' | 'type' | 'subject_id' | 'status' | 'severity' | 'digest' | 'exception_id' | 'enforcement_stage' | 'next_action_at' | 'first_seen_at'>;
const LIVE_COLUMNS = ['id', 'type', 'subject_id', 'status', 'severity', 'digest', 'exception_id', 'enforcement_stage', 'next_action_at', 'first_seen_at'] as const;
import type { FindingSeverity, FindingStatus, FindingType } from './finding.types.ts';

export interface FindingFilter {
  tenantId?: string;
  tokenId?: string;
  types?: FindingType[];
  severity?: FindingSeverity;
  /** Without it, live (not resolved) findings only. */
  status?: FindingStatus;
  afterId?: string;
  limit: number;
}

/** The findings table: one live row per subject and type (the partial unique index), resolved rows kept as history. */
export function createFindingRepo(dialect: StorageDialect) {
  return {
    /** The live findings of these subjects. */
    async liveFor(db: Db, subjectIds: readonly string[]): Promise<LiveFinding[]> {
      if (subjectIds.length === 0) return [];
      return db.selectFrom('findings').select(LIVE_COLUMNS).where(dialect.anyOf('subject_id', subjectIds)).where('resolved_at', 'is', null).execute();
    },

    /**
     * The live findings of tokens whose ids lie in (afterId, lastId] (null: open-ended): a sweep's
     * page, read as one range of the live-findings index.
     */
    async liveInTokenRange(db: Db, afterId: string | null, lastId: string | null): Promise<LiveFinding[]> {
      // Token ids are tok_ and 26 base32 characters: '~' sorts after every one of them.
      return db
        .selectFrom('findings')
        .select(LIVE_COLUMNS)
        .where('resolved_at', 'is', null)
        .where('subject_id', '>', afterId ?? 'tok_')
        .where('subject_id', '<=', lastId ?? 'tok_~')
        .execute();
    },

    async insert(db: Db, rows: FindingsTable[]): Promise<void> {
      if (rows.length > 0) await dialect.insertRows(db, 'findings', rows);
    },

    /** Updates a live finding if its enforcement state is still `expect` (what was read); false if it moved. */
    async update(db: Db, id: string, changes: Partial<FindingsTable>, expect: { stage: string | null; nextActionAt: string | null }): Promise<boolean> {
      let q = db.updateTable('findings').set(changes).where('id', '=', id);
      q = expect.stage === null ? q.where('enforcement_stage', 'is', null) : q.where('enforcement_stage', '=', expect.stage as NonNullable<FindingsTable['enforcement_stage']>);
      q = expect.nextActionAt === null ? q.where('next_action_at', 'is', null) : q.where('next_action_at', '=', expect.nextActionAt);
      const r = await q.executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },


    async resolve(db: Db, ids: readonly string[], at: string): Promise<void> {
      if (ids.length > 0) await db.updateTable('findings').set({ status: 'resolved', resolved_at: at, next_action_at: null }).where(dialect.anyOf('id', ids)).where('resolved_at', 'is', null).execute();
    },

    async recordSweep(db: Db, startedAt: string, finishedAt: string, result: object): Promise<void> {
      await db.insertInto('governance_sweeps').values({ started_at: startedAt, finished_at: finishedAt, result: JSON.stringify(result) }).onConflict((oc) => oc.column('started_at').doNothing()).execute();
      // A bounded history: the newest 500 sweeps.
      const cutoff = await db.selectFrom('governance_sweeps').select('started_at').orderBy('started_at', 'desc').offset(500).limit(1).executeTakeFirst();
      if (cutoff) await db.deleteFrom('governance_sweeps').where('started_at', '<=', cutoff.started_at).execute();
    },

    /** When the newest finished sweep started (every finding still live was confirmed by it). */
    async lastSweepStart(db: Db): Promise<string | null> {
      const row = await db.selectFrom('governance_sweeps').select('started_at').orderBy('started_at', 'desc').limit(1).executeTakeFirst();
      return row?.started_at ?? null;
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

    /** Live findings by type (metrics): counted on the (status, type) index alone. */
    async countsByType(db: Db): Promise<{ type: FindingType; n: number }[]> {
      const rows = await db
        .selectFrom('findings')
        .select(['type', (eb) => eb.fn.countAll<number>().as('n')])
        .where('status', 'in', ['open', 'acknowledged', 'excepted'])
        .groupBy('type')
        .execute();
      return rows.map((r) => ({ type: r.type, n: Number(r.n) }));
    },
  };
}

export type FindingRepo = ReturnType<typeof createFindingRepo>;
