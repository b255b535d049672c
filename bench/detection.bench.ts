/**
 * Detection on use (src/detection): does it keep up with the gateway, and does it leave the
 * gateway's capacity alone?
 *
 * 1. Throughput of detection alone: committed batches of 4,000 events (the gateway's writer-thread
 *    batch size) handed to `ingest` as the recorder hands them, over BENCH_DETECTION_TOKENS tokens
 *    (default 1,000) on a SQLite file: first a day and an hour of learning (every value new, each
 *    remembered in the database), then steady use (the common case: every value known). Figures:
 *    events per second of wall time, and microseconds of this process's CPU per event.
 * 2. The gateway with detection on and off at the same moments: closed-loop rounds (32 callers,
 *    1.5 s, the gateway bench's load generator and placement) alternating on/off, each round's
 *    capacity in requests per CPU-second of the whole process (serving thread, writer thread,
 *    detection), the ratio taken within each pair and its median reported. The gateway's peak
 *    event rate is the best achieved req/s of any round (one usage event per call).
 * Goal (issue 15): detection keeps up with the gateway's peak event rate, and the gateway's
 * capacity is unchanged within noise (the paired ratio's median ≥ 0.95×).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Custody } from '../src/app/custody.ts';
import { buildServer } from '../src/app/server.ts';
import { systemPrincipal } from '../src/auth/roles.ts';
import type { UsageEvent } from '../src/gateway/gateway.types.ts';
import { PackedBatchBuilder, type PackedEvents } from '../src/gateway/usage-writer.ts';
import { Secret } from '../src/shared/secret.ts';
import { load, placeProcesses, seedGateway, startCustody, startUpstream, type LoadResult, type Target } from './gateway.bench.ts';

const TOKENS = Number(process.env.BENCH_DETECTION_TOKENS ?? 1_000);
const BATCH = 4_000;
const STEADY_EVENTS = Number(process.env.BENCH_DETECTION_EVENTS ?? 400_000);
const PAIRS = Number(process.env.BENCH_DETECTION_ROUNDS ?? 8);
const ROUND = { concurrency: 32, durationMs: 1_500 };
const HOUR = 3_600_000;

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
function report(name: string, figure: string, goal: string, pass: boolean) {
  console.log(`  ${pass ? 'PASS' : 'MISS'}  ${name}: ${figure} (goal ${goal})`);
}

/** Batches of BATCH events built by `eventAt(i)`, packed as the recorder packs them. */
function batches(total: number, eventAt: (i: number) => UsageEvent): PackedEvents[] {
  const out: PackedEvents[] = [];
  for (let start = 0; start < total; start += BATCH) {
    const b = new PackedBatchBuilder(BATCH);
    for (let i = start; i < Math.min(total, start + BATCH); i++) b.add(eventAt(i));
    out.push(b.finish());
  }
  return out;
}

/** Hands every batch to detection and waits until all are judged: events per second (wall) and CPU µs per event. */
async function judge(custody: Custody, packed: PackedEvents[]): Promise<{ perSecond: number; cpuUs: number; events: number }> {
  const events = packed.reduce((n, p) => n + p.count, 0);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (const p of packed) {
    // Fed as fast as it judges (two batches ahead), never past its queue's bound: every event is judged.
    while (custody.detection.stats().queuedEvents > 2 * BATCH) await new Promise<void>((r) => setImmediate(r));
    custody.detection.ingest(p);
  }
  await custody.detection.drain();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { perSecond: events / (ms / 1000), cpuUs: (cpu.user + cpu.system) / events, events };
}

async function benchDetectionAlone(): Promise<{ perSecond: number; cpuUs: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'custody-bench-det-'));
  const custody = await startCustody(path.join(dir, 'custody.db'), `1:${randomBytes(32).toString('base64')}`);
  try {
    const admin = systemPrincipal('bench');
    const tenant = await custody.tenants.create(admin, { name: `bench-${randomBytes(3).toString('hex')}` });
    const provider = await custody.providers.create(admin, { name: `bench-${randomBytes(3).toString('hex')}`, tokenEndpoint: 'https://issuer.example.com/token', clientId: 'bench', apiBaseUrls: ['https://api.example.com/v1'] });
    const ids: string[] = [];
    for (let i = 0; i < TOKENS; i++) {
      ids.push((await custody.tokens.register(admin, { tenantId: tenant.id, providerId: provider.id, owner: 'bench', workloads: ['billing-sync'], scopes: ['invoices.read'], accessToken: new Secret(`at-${randomBytes(8).toString('hex')}`) })).id);
    }
    const t0 = Date.UTC(2026, 10, 1);
    // Token k's calls come from its own /24 and alternate between two endpoints (its n-th call).
    const event = (k: number, atMs: number, n: number): UsageEvent => ({
      atMs,
      tokenId: ids[k]!,
      tenantId: tenant.id,
      workload: 'billing-sync',
      apiKeyId: 'key_bench',
      actor: 'apikey:key_bench',
      method: 'GET',
      host: 'api.example.com',
      pathTemplate: n % 2 ? '/invoices/{id}' : '/invoices',
      scope: 'invoices.read',
      unmapped: false,
      outcome: 'forwarded',
      errorCode: null,
      status: 200,
      sourceAddress: `10.${Math.floor(k / 250) % 250}.${k % 250}.${n % 200}`,
      latencyMs: 2,
    });
    // Learning: 25 hours, each token called ~20 times an hour (every value new at first).
    const learnEvents = TOKENS * 25 * 20;
    const learnStep = (25 * HOUR) / learnEvents;
    const learning = await judge(custody, batches(learnEvents, (i) => event(i % TOKENS, t0 + i * learnStep, Math.floor(i / TOKENS))));
    // Steady: the same use, later (spread over an hour: no bucket near a spike).
    const steadyStep = HOUR / STEADY_EVENTS;
    const from = t0 + 25 * HOUR;
    const steady = await judge(custody, batches(STEADY_EVENTS, (i) => event((i * 7919) % TOKENS, from + i * steadyStep, i)));
    const s = custody.detection.stats();
    console.log(`  Detection alone, ${fmt(TOKENS)} tokens, batches of ${fmt(BATCH)} (SQLite file):`);
    console.log(`    learning (${fmt(learning.events)} events, every value new at first): ${fmt(learning.perSecond)} events/s, ${fmt(learning.cpuUs, 2)} µs CPU an event`);
    console.log(`    steady   (${fmt(steady.events)} events, values known):               ${fmt(steady.perSecond)} events/s, ${fmt(steady.cpuUs, 2)} µs CPU an event`);
    console.log(`    alerts raised: ${JSON.stringify(s.alerts)}; dropped: ${s.droppedEvents}; failed batches: ${s.failedBatches}`);
    return steady;
  } finally {
    await custody.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function benchGatewayOnOff(): Promise<{ peak: number; cpuUsPerCall: number }> {
  const placement = placeProcesses();
  const upstream = await startUpstream(placement.children);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'custody-bench-det-gw-'));
  const custody = await startCustody(path.join(dir, 'custody.db'), `1:${randomBytes(32).toString('base64')}`);
  const app = await buildServer(custody);
  try {
    await custody.gateway.start();
    await app.listen({ host: '127.0.0.1', port: 0 });
    const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const seeded = await seedGateway(custody, upstream.origin);
    const target: Target = { name: 'gateway', origin, path: `/gw/${seeded.tokenId}/invoices/2024/7?page=2`, headers: { authorization: `Bearer ${seeded.key}` }, cpuOf: 'self' };
    console.log(`  The gateway with detection on and off: ${PAIRS} pairs of ${ROUND.durationMs / 1000}-second closed-loop rounds (${ROUND.concurrency} callers), on/off order alternating; ${placement.describe}.`);
    // Warm both ways (JIT, connections, the writer thread, detection's baseline of this token).
    for (const on of [true, false]) {
      custody.detection.setEnabled(on);
      await load(placement, [target], { connections: ROUND.concurrency, durationMs: 2_000 });
    }
    const on: LoadResult[] = [];
    const off: LoadResult[] = [];
    let peakQueued = 0;
    const watch = setInterval(() => (peakQueued = Math.max(peakQueued, custody.detection.stats().queuedEvents)), 50);
    for (let i = 0; i < PAIRS; i++) {
      for (const enabled of i % 2 === 0 ? [true, false] : [false, true]) {
        custody.detection.setEnabled(enabled);
        const [r] = await load(placement, [target], { connections: ROUND.concurrency, durationMs: ROUND.durationMs });
        (enabled ? on : off).push(r!);
      }
    }
    clearInterval(watch);
    custody.detection.setEnabled(true);
    await custody.gateway.flushUsage();
    await custody.detection.drain();
    const capacity = (r: LoadResult) => (r.cpuUsPerRequest ? 1e6 / r.cpuUsPerRequest : Number.NaN);
    const ratios = on.map((r, i) => capacity(r) / capacity(off[i]!)).filter((x) => Number.isFinite(x));
    const peak = Math.max(...[...on, ...off].map((r) => r.rps));
    const errors = [...on, ...off].reduce((n, r) => n + r.errors, 0);
    const s = custody.detection.stats();
    console.log(`    capacity, median round: on ${fmt(median(on.map(capacity)))} vs off ${fmt(median(off.map(capacity)))} requests per CPU-second; achieved on ${fmt(median(on.map((r) => r.rps)))} vs off ${fmt(median(off.map((r) => r.rps)))} req/s; ${errors} errors`);
    console.log(`    detection during the on rounds: peak queue ${fmt(peakQueued)} events, judged ${fmt(s.judgedEvents)} of ${fmt(s.receivedEvents)} received, ${fmt(s.droppedEvents)} dropped`);
    if (ratios.length > 0) {
      const m = median(ratios);
      report('gateway capacity with detection on vs off (paired rounds)', `${fmt(m, 2)}× (rounds ${fmt(Math.min(...ratios), 2)}–${fmt(Math.max(...ratios), 2)})`, '≥ 0.95×, unchanged within noise', m >= 0.95);
    } else console.log('    (CPU per request could not be read here: no capacity ratio)');
    return { peak, cpuUsPerCall: median(off.map((r) => r.cpuUsPerRequest ?? Number.NaN)) };
  } finally {
    await app.close();
    await custody.close();
    upstream.child.kill();
    placement.restore();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<void> {
  console.log('\n== detection');
  const alone = await benchDetectionAlone();
  const gateway = await benchGatewayOnOff();
  report('detection throughput vs the gateway’s peak event rate (this run)', `${fmt(alone.perSecond)} vs ${fmt(gateway.peak)} events/s (${fmt(alone.perSecond / gateway.peak, 1)}×)`, '≥ 1×: keeps up', alone.perSecond >= gateway.peak);
  // Load-independent: what judging an event costs against what serving the call cost, both in CPU.
  if (Number.isFinite(gateway.cpuUsPerCall)) {
    const share = alone.cpuUs / gateway.cpuUsPerCall;
    console.log(`    CPU: detection ${fmt(alone.cpuUs, 2)} µs an event vs the gateway's ${fmt(gateway.cpuUsPerCall, 1)} µs a call (detection off, median round): ${fmt(share * 100, 1)} % more per call; events per CPU-second ${fmt(1e6 / alone.cpuUs)} vs calls per CPU-second ${fmt(1e6 / gateway.cpuUsPerCall)} (${fmt(gateway.cpuUsPerCall / alone.cpuUs, 0)}×)`);
  }
}
