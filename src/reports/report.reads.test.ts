import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seed, startHarness, type Harness, type Seeded } from '../../test/support/harness.ts';
import { createReportReads, inlineReportReads } from './report.reads.ts';

/** The report's reading threads on a SQLite file: the same answers as the serving thread's, and failures told, not hung. */
describe('report reading threads (sqlite file)', () => {
  let h: Harness;
  let s: Seeded;
  const from = '2020-01-01T00:00:00.000Z';
  const to = '2100-01-01T00:00:00.000Z';

  beforeAll(async () => {
    h = await startHarness('sqlite');
    s = await seed(h);
    await h.custody.tokens.transition(h.admin, s.tokenB, 'revoke', 'check');
    await h.custody.findings.sweep();
  });
  afterAll(() => h.close());

  const database = () => h.config.database;

  it('answers each read as the serving thread does, a tenant or all, including what was committed a moment ago', async () => {
    expect(database()).toMatchObject({ kind: 'sqlite' });
    const inline = inlineReportReads(h.custody.storage);
    const threads = createReportReads(h.custody.storage, database());
    try {
      for (const t of [undefined, s.tenantA, s.tenantB]) {
        expect(await threads.lackingCounts(t)).toEqual(await inline.lackingCounts(t));
        expect(await threads.connections(t)).toEqual(await inline.connections(t));
        expect(await threads.revocationTimes(t, from, to)).toEqual(await inline.revocationTimes(t, from, to));
        expect(await threads.findingCounts(t)).toEqual(await inline.findingCounts(t));
      }
      await h.custody.tokens.transition(h.admin, s.tokenA, 'revoke', 'check');
      expect((await threads.revocationTimes(s.tenantA, from, to)).revocations).toBe(1);
      expect(await threads.connections(s.tenantA)).toEqual(await inline.connections(s.tenantA));
    } finally {
      await threads.close();
    }
  });

  it('rejects what is in flight when a thread dies, then starts a new one; after close every read is refused with shutting_down', async () => {
    const threads = createReportReads(h.custody.storage, database());
    // Many reads at once: more than the threads, so each thread has a queue.
    const many = await Promise.all(Array.from({ length: 6 }, () => threads.findingCounts(undefined)));
    expect(new Set(many.map((m) => JSON.stringify(m))).size).toBe(1);
    expect(threads.threads().length).toBeGreaterThanOrEqual(1);
    expect(threads.threads().length).toBeLessThanOrEqual(2);
    // Kill every reading thread while reads are queued on it: each read is rejected, none hangs.
    const queued = Promise.allSettled(Array.from({ length: 4 }, () => threads.connections(undefined)));
    await Promise.all(threads.threads().map((w) => w.terminate()));
    const settled = await queued;
    expect(settled.filter((r) => r.status === 'rejected').length).toBeGreaterThan(0);
    for (const r of settled) if (r.status === 'rejected') expect(String(r.reason)).toMatch(/reading thread (stopped|failed)/);
    // The next read starts a new thread and answers.
    expect(await threads.connections(s.tenantA)).toEqual(await inlineReportReads(h.custody.storage).connections(s.tenantA));
    await threads.close();
    await expect(threads.lackingCounts(undefined)).rejects.toMatchObject({ code: 'shutting_down' });
  });
});
