import { describe, expect, it } from 'vitest';
import { createCallWatchdog, createFairShare, type CutReason, type WatchedCall } from './call-guard.ts';

describe('fair share of upstream connections', () => {
  const k = (tenantId: string, workload: string | null, providerId = 'prv_a', origin = 'https://a') => ({ providerId, tenantId, workload, origin });

  it('caps a workload within its tenant, and a tenant across its workloads, per provider', () => {
    const share = createFairShare({ maxCallsPerTenant: 3, maxCallsPerWorkload: 2, connectionsPerOrigin: 100 });
    expect(share.acquire(k('t1', 'sync'))).toBeNull();
    expect(share.acquire(k('t1', 'sync'))).toBeNull();
    expect(share.acquire(k('t1', 'sync'))).toBe('workload');
    expect(share.acquire(k('t1', 'report'))).toBeNull();
    expect(share.acquire(k('t1', 'other'))).toBe('tenant');
    // Another tenant, and another provider, are counted apart.
    expect(share.acquire(k('t2', 'sync'))).toBeNull();
    expect(share.acquire(k('t1', 'sync', 'prv_b', 'https://b'))).toBeNull();
    expect(share.inFlight('https://a')).toBe(4);
    share.release(k('t1', 'sync'));
    expect(share.acquire(k('t1', 'other'))).toBeNull();
  });

  it("counts every host of a provider in one share: a second name for the same server does not double it", () => {
    const share = createFairShare({ maxCallsPerTenant: 2, maxCallsPerWorkload: 2, connectionsPerOrigin: 100 });
    expect(share.acquire(k('t1', null, 'prv_a', 'http://127.0.0.1:9'))).toBeNull();
    expect(share.acquire(k('t1', null, 'prv_a', 'http://localhost:9'))).toBeNull();
    expect(share.acquire(k('t1', null, 'prv_a', 'http://localhost:9'))).toBe('tenant');
  });

  it("refuses at once when the origin's connections are all taken, whoever holds them", () => {
    const share = createFairShare({ maxCallsPerTenant: 2, maxCallsPerWorkload: 2, connectionsPerOrigin: 4 });
    for (const t of ['t1', 't1', 't2', 't2']) expect(share.acquire(k(t, null))).toBeNull();
    expect(share.acquire(k('t3', null))).toBe('origin');
    share.release(k('t1', null));
    expect(share.acquire(k('t3', null))).toBeNull();
  });

  it('forgets every counter that falls to zero (bounded by the calls in flight)', () => {
    const share = createFairShare({ maxCallsPerTenant: 2, maxCallsPerWorkload: 2, connectionsPerOrigin: 100 });
    for (let i = 0; i < 1000; i++) {
      expect(share.acquire(k(`t${i}`, null, `prv_${i}`, `https://o${i}`))).toBeNull();
      share.release(k(`t${i}`, null, `prv_${i}`, `https://o${i}`));
    }
    expect(share.inFlight('https://o1')).toBe(0);
    expect(share.acquire(k('t1', null))).toBeNull();
    expect(share.acquire(k('t1', null))).toBeNull();
    expect(share.acquire(k('t1', null))).toBe('tenant');
  });
});

describe('call watchdog', () => {
  const call = (startedAt: number, over: Partial<WatchedCall> = {}) => {
    const cuts: CutReason[] = [];
    const c: WatchedCall = { startedAt, bodyOpen: false, bodyChunks: 0, bodyBytes: 0, pausedAt: 0, responseStartedAt: 0, responseBytes: 0, cut: (r) => cuts.push(r), ...over };
    return { c, cuts };
  };

  it('cuts a body that stops arriving, not one that keeps moving', () => {
    const w = createCallWatchdog({ idleTimeoutMs: 100, callDeadlineMs: 10_000 });
    const stalled = call(0, { bodyOpen: true });
    const moving = call(0, { bodyOpen: true });
    w.track(stalled.c);
    w.track(moving.c);
    for (let t = 50; t <= 300; t += 50) {
      moving.c.bodyChunks++;
      w.sweep(t);
    }
    expect(stalled.cuts).toEqual(['body_idle']);
    expect(moving.cuts).toEqual([]);
    expect(w.size).toBe(1);
    w.close();
  });

  it('cuts a response the caller stopped reading, and any call past its deadline', () => {
    const w = createCallWatchdog({ idleTimeoutMs: 100, callDeadlineMs: 1_000 });
    const paused = call(0, { pausedAt: 10 });
    const long = call(0);
    w.track(paused.c);
    w.track(long.c);
    w.sweep(105);
    expect(paused.cuts).toEqual([]);
    w.sweep(110);
    expect(paused.cuts).toEqual(['response_idle']);
    w.sweep(999);
    expect(long.cuts).toEqual([]);
    w.sweep(1_000);
    expect(long.cuts).toEqual(['deadline']);
    expect(w.size).toBe(0);
    w.close();
  });

  it('cuts a body that trickles in just often enough never to idle, once it falls under the minimum rate', () => {
    const w = createCallWatchdog({ idleTimeoutMs: 100, callDeadlineMs: 10_000, minBytesPerSecond: 1000 });
    const trickle = call(0, { bodyOpen: true });
    const steady = call(0, { bodyOpen: true });
    w.track(trickle.c);
    w.track(steady.c);
    for (let t = 50; t <= 400; t += 50) {
      trickle.c.bodyChunks++;
      trickle.c.bodyBytes += 1; // 20 bytes a second
      steady.c.bodyChunks++;
      steady.c.bodyBytes += 100; // 2,000 bytes a second
      w.sweep(t);
    }
    expect(trickle.cuts).toEqual(['body_too_slow']);
    expect(steady.cuts).toEqual([]);
    w.close();
  });

  it('judges the rate per window: an early burst buys no time for a trickle after it', () => {
    const w = createCallWatchdog({ idleTimeoutMs: 100, callDeadlineMs: 10_000, minBytesPerSecond: 1000 });
    const burst = call(0, { bodyOpen: true });
    w.track(burst.c);
    // 100 KB in the first moments (far above the rate for the whole call), then one byte each 50 ms.
    burst.c.bodyChunks++;
    burst.c.bodyBytes += 100_000;
    for (let t = 50; t <= 400; t += 50) {
      burst.c.bodyChunks++;
      burst.c.bodyBytes += 1;
      w.sweep(t);
    }
    expect(burst.cuts).toEqual(['body_too_slow']);
    w.close();
  });

  it('cuts a caller that reads a trickle at a time while the provider waits for it', () => {
    const w = createCallWatchdog({ idleTimeoutMs: 100, callDeadlineMs: 10_000, minBytesPerSecond: 1000 });
    const slow = call(0, { responseStartedAt: 10, responseBytes: 10 });
    w.track(slow.c);
    for (let t = 50; t <= 400; t += 50) {
      slow.c.pausedAt = t - 10; // paused again and again, each pause shorter than the idle timeout
      w.sweep(t);
    }
    expect(slow.cuts).toEqual(['response_too_slow']);
    w.close();
  });

  it('cuts every call at once on shutdown', () => {
    const w = createCallWatchdog({ idleTimeoutMs: 100, callDeadlineMs: 10_000 });
    const a = call(0);
    const b = call(0, { bodyOpen: true });
    w.track(a.c);
    w.track(b.c);
    w.cutAll('shutdown');
    expect([a.cuts, b.cuts, w.size]).toEqual([['shutdown'], ['shutdown'], 0]);
    w.close();
  });

  it('forgets a call that ended', () => {
    const w = createCallWatchdog({ idleTimeoutMs: 100, callDeadlineMs: 1_000 });
    const done = call(0, { bodyOpen: true });
    w.track(done.c);
    w.untrack(done.c);
    w.sweep(5_000);
    expect(done.cuts).toEqual([]);
    w.close();
  });
});
