import type { Selectable } from 'kysely';
import type { Db } from '../storage/database.ts';
import type { StorageDialect } from '../storage/dialect.ts';
import type { OutboxJobsTable } from '../storage/schema.ts';
import { newId } from '../shared/ids.ts';
import type { OutboxJob, OutboxKind } from './outbox.types.ts';

function toJob(r: Selectable<OutboxJobsTable>): OutboxJob {
  return {
    id: r.id,
    kind: r.kind as OutboxKind,
    subjectId: r.subject_id,
    tenantId: r.tenant_id,
    payload: JSON.parse(r.payload) as Record<string, unknown>,
    attempts: r.attempts,
    createdAt: r.created_at,
  };
}

/** The lanes: urgent jobs (a single revocation) are claimed first; bulk ones are paced behind them. */
export const LANE = { urgent: 0, bulk: 1 } as const;
export type Lane = (typeof LANE)[keyof typeof LANE];

/** The NOTIFY channel on which committed outbox jobs are announced to every instance's worker. */
export const OUTBOX_CHANNEL = 'custody_outbox';

/** Jobs per INSERT (one JSON parameter): bounds the statement's size. */
const ENQUEUE_CHUNK = 5_000;

/**
 * The outbox table. Claims are optimistic (a conditional UPDATE on the lease), which behaves the
 * same on SQLite and PostgreSQL: of two workers racing for a job, exactly one update matches.
 */
export function createOutboxRepo() {
  return {
    /**
     * Writes jobs in multi-row inserts. At most one job per (kind, subject): a second enqueue of
     * the same effect is a no-op.
     */
    async enqueueMany(trx: Db, dialect: StorageDialect, jobs: { kind: OutboxKind; subjectId: string; tenantId: string | null; payload: Record<string, unknown> }[], at: Date, lane: Lane): Promise<void> {
      const now = at.toISOString();
      for (let i = 0; i < jobs.length; i += ENQUEUE_CHUNK) {
        const rows = jobs.slice(i, i + ENQUEUE_CHUNK).map((job) => ({
          id: newId('outboxJob', at.getTime()),
          kind: job.kind,
          subject_id: job.subjectId,
          tenant_id: job.tenantId,
          payload: JSON.stringify(job.payload),
          status: 'pending',
          attempts: 0,
          next_attempt_at: now,
          locked_until: null,
          last_error: null,
          created_at: now,
          updated_at: now,
          completed_at: null,
          priority: lane,
        }));
        await dialect.insertRows(trx, 'outbox_jobs', rows, ['kind', 'subject_id']);
      }
    },

    /** Claims up to `limit` due jobs of a lane for `leaseMs`; returns the ones this caller won. */
    async claimDue(db: Db, now: Date, leaseMs: number, limit: number, lane: Lane = LANE.urgent): Promise<OutboxJob[]> {
      const nowIso = now.toISOString();
      const candidates = await db
        .selectFrom('outbox_jobs')
        .select(['id', 'attempts'])
        .where('status', '=', 'pending')
        .where('priority', '=', lane)
        .where('next_attempt_at', '<=', nowIso)
        .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', nowIso)]))
        .orderBy('next_attempt_at')
        .limit(limit)
        .execute();
      const won: OutboxJob[] = [];
      const until = new Date(now.getTime() + leaseMs).toISOString();
      for (const c of candidates) {
        const row = await db
          .updateTable('outbox_jobs')
          .set({ locked_until: until, attempts: c.attempts + 1, updated_at: nowIso })
          .where('id', '=', c.id)
          .where('status', '=', 'pending')
          .where('attempts', '=', c.attempts)
          .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', nowIso)]))
          .returningAll()
          .executeTakeFirst();
        if (row) won.push(toJob(row));
      }
      return won;
    },

    async complete(trx: Db, id: string, status: 'done' | 'gave_up', at: Date, lastError: string | null = null): Promise<boolean> {
      const r = await trx
        .updateTable('outbox_jobs')
        .set({ status, completed_at: at.toISOString(), updated_at: at.toISOString(), locked_until: null, last_error: lastError })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },

    async reschedule(db: Db, id: string, nextAt: Date, error: string, at: Date): Promise<void> {
      await db
        .updateTable('outbox_jobs')
        .set({ next_attempt_at: nextAt.toISOString(), locked_until: null, last_error: error.slice(0, 1000), updated_at: at.toISOString() })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .execute();
    },

    /** Pending jobs by lane (metrics, the CLI's progress). */
    async countPendingByLane(db: Db): Promise<{ urgent: number; bulk: number }> {
      const rows = await db.selectFrom('outbox_jobs').select(['priority', (eb) => eb.fn.countAll<number>().as('n')]).where('status', '=', 'pending').groupBy('priority').execute();
      const out = { urgent: 0, bulk: 0 };
      for (const r of rows) out[Number(r.priority) === LANE.bulk ? 'bulk' : 'urgent'] += Number(r.n);
      return out;
    },

    async countPending(db: Db): Promise<number> {
      const row = await db.selectFrom('outbox_jobs').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'pending').executeTakeFirstOrThrow();
      return Number(row.n);
    },

    async find(db: Db, kind: OutboxKind, subjectId: string): Promise<(OutboxJob & { status: string; lastError: string | null; nextAttemptAt: string }) | undefined> {
      const r = await db.selectFrom('outbox_jobs').selectAll().where('kind', '=', kind).where('subject_id', '=', subjectId).executeTakeFirst();
      return r ? { ...toJob(r), status: r.status, lastError: r.last_error, nextAttemptAt: r.next_attempt_at } : undefined;
    },
  };
}

export type OutboxRepo = ReturnType<typeof createOutboxRepo>;
