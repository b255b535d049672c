import type { Db } from '../storage/database.ts';
import type { StorageDialect } from '../storage/dialect.ts';
import { createOutboxRepo, LANE, OUTBOX_CHANNEL, type Lane } from './outbox.repo.ts';
import type { OutboxKind } from './outbox.types.ts';

export { LANE };

/**
 * How another capability puts a side effect in the outbox: inside its own transaction, so the job
 * exists exactly when the change that causes it committed; every instance's worker hears of it on
 * commit (PostgreSQL NOTIFY; the poll covers SQLite's single process). At most one job per kind and
 * subject: enqueuing the same effect twice is a no-op.
 */
export function createOutboxEnqueuer(dialect: StorageDialect) {
  const repo = createOutboxRepo();
  return async function enqueue(trx: Db, jobs: { kind: OutboxKind; subjectId: string; tenantId: string | null; payload: Record<string, unknown> }[], at: Date, lane: Lane): Promise<void> {
    if (jobs.length === 0) return;
    await repo.enqueueMany(trx, dialect, jobs, at, lane);
    await dialect.notify(trx, OUTBOX_CHANNEL, lane === LANE.urgent ? 'urgent' : 'bulk');
  };
}

export type OutboxEnqueuer = ReturnType<typeof createOutboxEnqueuer>;
