import { describe, expect, it } from 'vitest';
import { createCallWatchdog, createFairShare, type CutReason, type WatchedCall } from './call-guard.ts';

describe('fair share of upstream connections', () => {
  it('caps a workload within its tenant, and a tenant across its workloads, per origin', () => {
    const share = createFairShare({ maxCallsPerTenant: 3, maxCallsPerWorkload: 2 });
    expect(share.acquire('https://a', 't1', 'sync')).toBeNull();
    expect(share.acquire('https://a', 't1', 'sync')).toBeNull();
    expect(share.acquire('https://a', 't1', 'sync')).toBe('workload');
    expect(share.acquire('https://a', 't1', 'report')).toBeNull();
    expect(share.acquire('https://a', 't1', 'other')).toBe('tenant');
    // Another tenant, and another origin, are counted apart.
    expect(share.acquire('https://a', 't2', 'sync')).toBeNull();
    expect(share.acquire('https://b', 't1', 'sync')).toBeNull();
    expect(share.inFlight('https://a')).toBe(4);
    share.release('https://a', 't1', 'sync');
    expect(share.acquire('https://a', 't1', 'other')).toBeNull();
  });

  it('forgets every counter that falls to zero (bounded by the calls in flight)', () => {
    const share = createFairShare({ maxCallsPerTenant: 2, maxCallsPerWorkload: 2 });
    for (let i = 0; i < 1000; i++) {
      expect(share.acquire(`https://o${i}`, `t${i}`, null)).toBeNull();
      share.release(`https://o${i}`, `t${i}`, null);
    }
    expect(share.inFlight('https://o1')).toBe(0);
    expect(share.acquire('https://o1', 't1', null)).toBeNull();
    expect(share.acquire('https://o1', 't1', null)).toBeNull();
    expect(share.acquire('https://o1', 't1', null)).toBe('tenant');
  });
});

describe('call watchdog', () => {
  const call = (startedAt: number, over: Partial<WatchedCall> = {}) => {
    const cuts: CutReason[] = [];
    const c: WatchedCall = { startedAt, bodyOpen: false, bodyChunks: 0, pausedAt: 0, cut: (r) => cuts.push(r), ...over };
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
