import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../../test/support/databases.ts';
import { seed, startHarness, type Harness, type Seeded } from '../../test/support/harness.ts';
import { countUsage, usageEvent } from '../../test/support/usage.ts';
import { isCustodyError } from '../shared/errors.ts';
import type { Storage } from '../storage/database.ts';
import { createUsageRecorder } from './usage-recorder.ts';


for (const kind of DATABASES) {
  describe(`gateway usage recorder (${kind})`, () => {
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
}
