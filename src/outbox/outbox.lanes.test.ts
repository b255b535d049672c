import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { startHarness, type Harness } from '../../test/support/harness.ts';
import { eventually } from '../../test/support/wait.ts';
import { createLogger } from '../shared/logger.ts';
import { systemClock } from '../shared/clock.ts';
import { newId } from '../shared/ids.ts';
import { createOutboxRepo, LANE, type Lane } from './outbox.repo.ts';
import type { OutboxHandler, OutboxJob } from './outbox.types.ts';
import { createOutboxWorker } from './outbox.worker.ts';
import { DEFAULT_OUTBOX_OPTIONS } from './outbox.types.ts';

/**
 * The outbox's two lanes: a single revocation is delivered before a bulk revocation's drain,
 * which is paced. The handler here stands in for the issuer (it holds each delivery a while and
 * notes the order); the storage, the claims and the worker are the real ones.
 */
describeEachDatabase('outbox lanes', (kind) => {
  let h: Harness;
  const repo = createOutboxRepo();

  beforeAll(async () => {
    h = await startHarness(kind);
  });
  afterAll(() => h?.close());

  const enqueue = async (n: number, lane: Lane, prefix: string, payload: Record<string, unknown> = {}) => {
    const jobs = Array.from({ length: n }, (_, i) => ({ kind: 'upstream_revocation' as const, subjectId: `${prefix}-${i}-${newId('token')}`, tenantId: null, payload }));
    await h.custody.storage.db.transaction().execute((trx) => repo.enqueueMany(trx, h.custody.storage.dialect, jobs, new Date(), lane));
    return jobs.map((j) => j.subjectId);
  };

  const workerWith = (handler: OutboxHandler, options: Partial<typeof DEFAULT_OUTBOX_OPTIONS>) =>
    createOutboxWorker({
      storage: h.custody.storage,
      clock: systemClock,
      logger: createLogger('silent'),
      handlers: { upstream_revocation: handler, notice_delivery: handler, ssf_push: handler, webhook_delivery: handler },
      options: { ...DEFAULT_OUTBOX_OPTIONS, ...options },
    });
  const done = (): ReturnType<OutboxHandler['deliver']> =>
    Promise.resolve({ kind: 'done', record: (complete) => h.custody.storage.db.transaction().execute(async (trx) => void (await complete(trx))) });

  it('delivers a single revocation ahead of a bulk drain in progress, and paces the drain', async () => {
    const started: { subject: string; at: number }[] = [];
    let bulkRunning = 0;
    let bulkMostAtOnce = 0;
    const handler: OutboxHandler = {
      async deliver(job: OutboxJob) {
        started.push({ subject: job.subjectId, at: performance.now() });
        const isBulk = job.subjectId.startsWith('bulk');
        if (isBulk) bulkMostAtOnce = Math.max(bulkMostAtOnce, ++bulkRunning);
        await new Promise((resolve) => setTimeout(resolve, 40));
        if (isBulk) bulkRunning--;
        return done();
      },
      giveUp: async () => {},
    };
    const bulk = await enqueue(60, LANE.bulk, 'bulk');
    const worker = workerWith(handler, { pollMs: 1_000, concurrency: 6, bulkConcurrency: 4, bulkPerSecond: 20 });
    await worker.start();
    try {
      await eventually(() => started.length >= 4, { what: 'the bulk drain to start' });
      const [urgent] = await enqueue(1, LANE.urgent, 'urgent');
      const enqueuedAt = performance.now();
      worker.kick(); // what the token owner's committed listener does
      await eventually(() => started.some((s) => s.subject === urgent), { what: 'the urgent job to start' });
      const urgentStart = started.find((s) => s.subject === urgent)!;
      // Started before the bulk lane was drained: most of it still waits.
      const bulkBefore = started.filter((s) => s.subject.startsWith('bulk') && s.at <= urgentStart.at).length;
      expect(bulkBefore).toBeLessThan(bulk.length / 2);
      expect(urgentStart.at).toBeGreaterThanOrEqual(enqueuedAt);

      // Paced: over any window, no more bulk starts than the allowance (20 a second, a bucket of 20).
      await eventually(() => started.filter((s) => s.subject.startsWith('bulk')).length >= 40, { what: 'forty bulk deliveries', timeoutMs: 10_000 });
      const bulkStarts = started.filter((s) => s.subject.startsWith('bulk')).map((s) => s.at);
      const spanS = (bulkStarts[39]! - bulkStarts[0]!) / 1000;
      // 40 starts with a bucket of 20 and a refill of 20/s need at least about one second.
      expect(spanS).toBeGreaterThan(0.8);
      // At most bulkConcurrency bulk deliveries ran at once.
      expect(bulkMostAtOnce).toBeLessThanOrEqual(4);
    } finally {
      await worker.stop();
    }
    expect(await worker.pendingByLane()).toMatchObject({ urgent: 0 });
    // The rest of this drain is not the next test's business.
    await h.custody.storage.db.updateTable('outbox_jobs').set({ status: 'done' }).where('status', '=', 'pending').execute();
  });

  it("holds back a provider's bulk jobs when its issuer pushes back (Retry-After), and only that provider's", async () => {
    const started: { provider: string; at: number }[] = [];
    let refusals = 1;
    const handler: OutboxHandler = {
      async deliver(job) {
        const provider = String(job.payload.providerId);
        started.push({ provider, at: performance.now() });
        if (provider === 'prv_slow' && refusals-- > 0) return { kind: 'retry', error: 'issuer answered 429', retryAfterMs: 2_000 };
        return done();
      },
      giveUp: async () => {},
    };
    await enqueue(12, LANE.bulk, 'pushback', { providerId: 'prv_slow' });
    // One bulk delivery at a time, so what started before the push-back was known is exactly one.
    const worker = workerWith(handler, { pollMs: 50, concurrency: 6, bulkConcurrency: 1, bulkPerSecond: 1000 });
    await worker.start();
    try {
      const slow = () => started.filter((s) => s.provider === 'prv_slow').map((s) => s.at);
      await eventually(() => slow().length >= 1, { what: 'the first delivery' });
      // Another provider's drain goes on meanwhile.
      await enqueue(6, LANE.bulk, 'other', { providerId: 'prv_fine' });
      worker.kick();
      await eventually(() => started.filter((s) => s.provider === 'prv_fine').length === 6, { what: "the other provider's jobs", timeoutMs: 5_000 });
      const fineDone = Math.max(...started.filter((s) => s.provider === 'prv_fine').map((s) => s.at));
      await eventually(() => slow().length >= 2, { what: 'a delivery after the push-back', timeoutMs: 8_000 });
      expect(fineDone).toBeLessThan(slow()[1]!);
      // The first was refused with Retry-After: 2 s (long enough that the other provider's six finish
      // first even on a busy machine); none of that provider's started before it passed.
      expect(slow()[1]! - slow()[0]!).toBeGreaterThanOrEqual(1_950);
    } finally {
      await worker.stop();
    }
  });
});
