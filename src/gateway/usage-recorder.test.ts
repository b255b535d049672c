import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { seed, startHarness, type Harness, type Seeded } from '../../test/support/harness.ts';
import { countUsage, usageEvent } from '../../test/support/usage.ts';
import { eventually } from '../../test/support/wait.ts';
import { isCustodyError } from '../shared/errors.ts';
import type { Storage } from '../storage/database.ts';
import { createUsageRecorder } from './usage-recorder.ts';
import { unpackEvents, type PackedEvents, type UsageWriter } from './usage-writer.ts';

/** A writer that keeps what it is given, taking `delayMs` for each batch. */
function slowWriter(delayMs: number) {
  const batches: PackedEvents[] = [];
  const writer: UsageWriter = {
    write: async (batch) => {
      // Not a wait: a write that takes time is what this fake is for.
      await new Promise((r) => setTimeout(r, delayMs));
      batches.push(batch);
    },
    prune: async () => 0,
    close: async () => {},
  };
  return { writer, batches };
}


describeEachDatabase('gateway usage recorder', (kind) => {
  let h: Harness;
  let s: Seeded;
  beforeAll(async () => {
    h = await startHarness(kind);
    s = await seed(h);
  });
  afterAll(() => h.close());

  it('writes every queued event, over several batches, when closed (graceful shutdown)', async () => {
    const recorder = createUsageRecorder({ storage: h.custody.storage, ledger: h.custody.ledger, logger: h.custody.logger, batchSize: 100, flushIntervalMs: 60_000, highWater: 10_000, admissionWaitMs: 100 });
    for (let i = 0; i < 1234; i++) recorder.record(usageEvent(s.tokenA, i));
    await recorder.close();
    expect(recorder.queued).toBe(0);
    expect(await countUsage(h, s.tokenA)).toBe(1234);
    const used = await h.custody.ledger.list({ subjectId: s.tokenA, action: 'token.used', order: 'asc', limit: 10 });
    expect(used).toHaveLength(1);
  });

  it('hands the writer one batch per interval, not the batch being filled after every write; the rest follows with the next timer', async () => {
    const { writer, batches } = slowWriter(40);
    const recorder = createUsageRecorder({ storage: h.custody.storage, ledger: h.custody.ledger, logger: h.custody.logger, writer, batchSize: 1_000, flushIntervalMs: 100, highWater: 10_000, admissionWaitMs: 100 });
    // Calls keep finishing for ~600 ms, one every 5 ms: about 6 intervals (more on a busy machine).
    const began = performance.now();
    for (let i = 0; i < 120; i++) {
      recorder.record(usageEvent(s.tokenA, i, { outcome: 'denied', errorCode: 'scope_not_granted', status: 403 }));
      // Not a wait: calls finishing spread out over several intervals is the behaviour under test.
      await new Promise((r) => setTimeout(r, 5));
    }
    const intervals = Math.ceil((performance.now() - began) / 100);
    // Then nothing more arrives: what is still queued must go with the next timer all the same.
    await eventually(() => batches.reduce((n, b) => n + b.count, 0) === 120, { what: 'every event handed to the writer', timeoutMs: 3_000 });
    expect(recorder.queued).toBe(0);
    const written = batches.flatMap((b) => unpackEvents(b).map((e) => e.latencyMs));
    expect(written).toEqual(Array.from({ length: 120 }, (_, i) => i + 0.25));
    // A write takes 40 ms of each 100 ms interval: going on with the filling batch after each
    // write would have made about two and a half batches an interval (~15 over 600 ms); one an
    // interval, and the last one's remainder, is what is expected.
    expect(batches.length).toBeLessThanOrEqual(intervals + 3);
    await recorder.close();
  });

  it('hands over a full batch at once, without waiting for the timer', async () => {
    const { writer, batches } = slowWriter(1);
    const recorder = createUsageRecorder({ storage: h.custody.storage, ledger: h.custody.ledger, logger: h.custody.logger, writer, batchSize: 10, flushIntervalMs: 60_000, highWater: 10_000, admissionWaitMs: 100 });
    for (let i = 0; i < 25; i++) recorder.record(usageEvent(s.tokenA, i, { outcome: 'denied', errorCode: 'scope_not_granted', status: 403 }));
    await eventually(() => batches.length >= 2, { what: 'the two full batches to be written', timeoutMs: 3_000 });
    expect(batches.map((b) => b.count)).toEqual([10, 10]);
    expect(recorder.queued).toBe(5);
    await recorder.close();
    expect(batches.map((b) => b.count)).toEqual([10, 10, 5]);
  });

  it('applies back-pressure while the database cannot be written, then catches up without losing an event', async () => {
    let broken = true;
    const brokenDb = { transaction: () => ({ execute: async () => Promise.reject(new Error('database unavailable')) }) };
    const real = h.custody.storage;
    const flaky = { dialect: real.dialect, close: real.close, get db() { return broken ? brokenDb : real.db; } } as unknown as Storage;
    const recorder = createUsageRecorder({ storage: flaky, ledger: h.custody.ledger, logger: h.custody.logger, batchSize: 10, flushIntervalMs: 5, highWater: 20, admissionWaitMs: 100 });
    for (let i = 0; i < 25; i++) recorder.record(usageEvent(s.tokenB, i));
    const refused = await Promise.resolve(recorder.admit()).catch((err: unknown) => err);
    expect(isCustodyError(refused) && refused.code).toBe('gateway_overloaded');
    expect(isCustodyError(refused) && refused.status).toBe(503);
    expect(recorder.queued).toBe(25);

    broken = false;
    await recorder.flush();
    expect(recorder.admit()).toBeUndefined();
    await recorder.close();
    expect(await countUsage(h, s.tokenB)).toBe(25);
  });
});
