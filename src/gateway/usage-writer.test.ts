import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { seed, startHarness, type Harness, type Seeded } from '../../test/support/harness.ts';
import { countUsage, usageEvent } from '../../test/support/usage.ts';
import { isoAt } from '../shared/clock.ts';
import { Secret } from '../shared/secret.ts';
import { createUsageRecorder } from './usage-recorder.ts';
import { createUsageRepo } from './usage.repo.ts';
import { createUsageStores, createWorkerUsageWriter, PackedBatchBuilder, packEvents, unpackEvents, writeUsageBatch } from './usage-writer.ts';


describe('packing usage batches for the writer thread', () => {
  it('gives back exactly the events it was given: nulls, booleans, numbers, repeated and distinct strings', () => {
    const batch = [
      usageEvent('tok_a', 1),
      usageEvent('tok_b', 2, { tenantId: null, workload: null, apiKeyId: null, host: null, scope: null, unmapped: true, outcome: 'denied', errorCode: 'scope_not_granted', status: 403, sourceAddress: null }),
      usageEvent('tok_a', 3, { outcome: 'failed', errorCode: 'upstream_unavailable', status: 502, latencyMs: 12345.678 }),
      usageEvent('tok_ünïcode', 4, { pathTemplate: '/föö/{id}', method: 'DELETE' }),
    ];
    const packed = packEvents(batch);
    expect(packed.count).toBe(4);
    // Repeated strings are stored once.
    expect(packed.strings.filter((s) => s === 'tok_a')).toHaveLength(1);
    expect(unpackEvents(packed)).toEqual(batch);
  });

  it('packs one event at a time, growing as it goes; a finished batch keeps its own arrays', () => {
    const builder = new PackedBatchBuilder(1);
    const events = Array.from({ length: 37 }, (_, i) => usageEvent(i % 2 ? 'tok_a' : 'tok_b', i, { status: 200 + i }));
    events.slice(0, 5).forEach((e) => builder.add(e));
    const early = builder.finish();
    events.slice(5).forEach((e) => builder.add(e));
    expect(unpackEvents(early)).toEqual(events.slice(0, 5));
    expect(unpackEvents(builder.finish())).toEqual(events);
  });

  it('packs an empty batch', () => {
    expect(unpackEvents(packEvents([]))).toEqual([]);
  });
});

describeEachDatabase('usage writer thread', (kind) => {
  let h: Harness;
  let s: Seeded;
  beforeAll(async () => {
    h = await startHarness(kind);
    s = await seed(h);
  });
  afterAll(() => h.close());

  it('writes batches on its own connection: events, last use of the token and of the scope', async () => {
    const writer = createWorkerUsageWriter(h.db.config);
    try {
      await writer.write(packEvents([usageEvent(s.tokenA, 1), usageEvent(s.tokenA, 2, { workload: 'reporting' })]));
      await writer.write(packEvents([usageEvent(s.tokenA, 3, { scope: 'customers.read' })]));
    } finally {
      await writer.close();
    }
    expect(await countUsage(h, s.tokenA)).toBe(3);
    const token = await h.custody.storage.db.selectFrom('tokens').select(['last_used_at', 'last_used_by']).where('id', '=', s.tokenA).executeTakeFirstOrThrow();
    expect(token).toEqual({ last_used_at: isoAt(usageEvent(s.tokenA, 3).atMs), last_used_by: 'billing-sync' });
    const scopes = await h.custody.storage.db.selectFrom('token_scope_usage').select(['scope', 'last_used_at']).where('token_id', '=', s.tokenA).orderBy('scope').execute();
    expect(scopes).toEqual([
      { scope: 'customers.read', last_used_at: isoAt(usageEvent(s.tokenA, 3).atMs) },
      { scope: 'invoices.read', last_used_at: isoAt(usageEvent(s.tokenA, 2).atMs) },
    ]);
  });

  it('stores every field of a packed batch in its own column, over more than one insert statement', async () => {
    const token = (await h.custody.tokens.register(h.admin, { tenantId: s.tenantA, providerId: s.providerId, owner: 'o', scopes: ['invoices.read'], accessToken: new Secret('at-columns-test') })).id;
    const batch = Array.from({ length: 60 }, (_, i) =>
      i % 3 === 0
        ? usageEvent(token, i, { tenantId: null, workload: null, apiKeyId: null, actor: 'unknown', host: null, scope: null, unmapped: true, outcome: 'denied', errorCode: 'unmapped_call_refused', status: 403, sourceAddress: null, latencyMs: i + 0.1234 })
        : usageEvent(token, i, { method: i % 2 ? 'POST' : 'GET', pathTemplate: `/t/${i % 5}`, status: 200 + (i % 7), sourceAddress: `10.0.0.${i}`, latencyMs: i * 1.5 }),
    );
    await writeUsageBatch(h.custody.storage.db, createUsageStores(), packEvents(batch));
    const stored = await createUsageRepo().listForToken(h.custody.storage.db, token);
    expect(stored.map(({ id: _id, ...e }) => e)).toEqual(batch.map(({ atMs, ...e }) => ({ ...e, at: new Date(atMs).toISOString(), latencyMs: Math.round(e.latencyMs * 1000) / 1000 })));
    // Last use comes from the newest forwarded event; denied ones do not count.
    const newestForwarded = batch.filter((e) => e.outcome === 'forwarded').at(-1)!;
    expect((await h.custody.tokens.get(h.admin, token)).lastUsedAt).toBe(new Date(newestForwarded.atMs).toISOString());
  });

  it('deletes usage events past their retention, keeps the rest and last-use fields, and ledgers the deletion', async () => {
    // A database of its own: pruning deletes every old event of the database, and the counts
    // below are of this test's events only (the other tests' events are dated 2026-11-28).
    const own = await startHarness(kind);
    try {
      const mine = await seed(own);
      const dayMs = 24 * 60 * 60_000;
      const daysAgo = (d: number, i: number) => Date.now() - d * dayMs + i;
      const token = (await own.custody.tokens.register(own.admin, { tenantId: mine.tenantA, providerId: mine.providerId, owner: 'o', scopes: ['invoices.read'], accessToken: new Secret('at-retention-test') })).id;
      // More than one deletion batch (5,000).
      const old = Array.from({ length: 5_012 }, (_, i) => usageEvent(token, i, { atMs: daysAgo(120, i) }));
      const recent = Array.from({ length: 5 }, (_, i) => usageEvent(token, i, { atMs: daysAgo(10, i) }));
      // A newer event stored before the old ones (an instance with a clock ahead) must not shield them.
      const early = usageEvent(token, 0, { atMs: daysAgo(1, 0) });
      await writeUsageBatch(own.custody.storage.db, createUsageStores(), packEvents([early, ...old, ...recent]));
      await own.custody.storage.db.updateTable('tokens').set({ last_used_at: isoAt(recent[4]!.atMs), last_used_by: 'billing-sync' }).where('id', '=', token).execute();

      // The default retention is 90 days.
      expect(await own.custody.gateway.pruneUsage()).toBe(5_012);
      const left = await createUsageRepo().listForToken(own.custody.storage.db, token);
      expect(left.map((e) => e.at)).toEqual([early, ...recent].map((e) => new Date(e.atMs).toISOString()));
      expect((await own.custody.tokens.get(own.admin, token)).lastUsedAt).toBe(new Date(recent[4]!.atMs).toISOString());
      const [pruned] = await own.custody.ledger.list({ action: 'usage.pruned', order: 'desc', limit: 1 });
      expect(pruned).toMatchObject({ actor: 'system:retention', data: { deleted: 5_012, retentionDays: 90 } });
      expect(Date.parse((pruned!.data as { before: string }).before)).toBeLessThan(Date.now() - 89 * dayMs);

      // Nothing left to delete: nothing ledgered.
      expect(await own.custody.gateway.pruneUsage()).toBe(0);
      expect(await own.custody.ledger.list({ action: 'usage.pruned', order: 'desc', limit: 5 })).toHaveLength(1);
    } finally {
      await own.close();
    }
  });

  it('replaces a writer thread that died, and the recorder writes the batch it held again: nothing is lost', async () => {
    const threads: Worker[] = [];
    const writer = createWorkerUsageWriter(h.db.config, { onStart: (w) => threads.push(w) });
    const recorder = createUsageRecorder({ storage: h.custody.storage, ledger: h.custody.ledger, logger: h.custody.logger, writer, batchSize: 10, flushIntervalMs: 60_000, highWater: 10_000, admissionWaitMs: 100 });
    for (let i = 0; i < 10; i++) recorder.record(usageEvent(s.tokenB, i));
    await recorder.flush();
    expect(threads).toHaveLength(1);

    // The thread dies with a batch in flight.
    for (let i = 10; i < 20; i++) recorder.record(usageEvent(s.tokenB, i));
    await threads[0]!.terminate();
    for (let i = 20; i < 35; i++) recorder.record(usageEvent(s.tokenB, i));
    await recorder.close();
    expect(threads.length).toBeGreaterThanOrEqual(2);
    // None lost. Delivery is at least once: had the thread died between its commit and its
    // answer, that one batch of 10 would be stored twice.
    const stored = await countUsage(h, s.tokenB);
    expect(stored).toBeGreaterThanOrEqual(35);
    expect(stored).toBeLessThanOrEqual(45);
  });
});
