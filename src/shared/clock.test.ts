import { describe, expect, it } from 'vitest';
import { fixedClock, isoAt, nowMs, systemClock } from './clock.ts';

describe('clock helpers for hot paths', () => {
  it('isoAt writes exactly what toISOString writes, across milliseconds, seconds, days and years', () => {
    const times = [
      Date.UTC(2026, 10, 28, 11, 59, 59, 999),
      Date.UTC(2026, 10, 28, 12, 0, 0, 0),
      Date.UTC(2026, 10, 28, 12, 0, 0, 7),
      Date.UTC(2026, 10, 28, 12, 0, 0, 42),
      Date.UTC(2026, 10, 28, 12, 0, 0, 420),
      Date.UTC(2026, 11, 31, 23, 59, 59, 5),
      Date.UTC(2027, 0, 1, 0, 0, 0, 99),
      Date.UTC(1969, 11, 31, 23, 59, 59, 1),
      Date.UTC(10_000, 0, 1, 0, 0, 0, 3),
      Date.UTC(2026, 10, 28, 12, 0, 0, 7),
    ];
    for (const t of times) expect(isoAt(t)).toBe(new Date(t).toISOString());
  });

  it('isoAt writes exactly what toISOString writes, in or out of order, and for times that are not whole milliseconds', () => {
    const times = [Date.UTC(2026, 10, 28, 12, 0, 0, 5), Date.UTC(2026, 10, 28, 11, 0, 0, 5), Date.UTC(2026, 10, 28, 12, 0, 0, 999), -1, 0, 1.5, Date.UTC(2026, 10, 28, 12, 0, 0, 0) + 0.25, -8.64e15, 8.64e15];
    for (const t of times) expect(isoAt(t)).toBe(new Date(t).toISOString());
    expect(() => isoAt(Number.NaN)).toThrow(RangeError);
  });

  it('uses the real time for the system clock and the given time for any other clock', () => {
    const before = Date.now();
    const ms = nowMs(systemClock);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(Date.now());
    const clock = fixedClock('2026-01-02T03:04:05.006Z');
    expect(nowMs(clock)).toBe(Date.parse('2026-01-02T03:04:05.006Z'));
    expect(isoAt(nowMs(clock))).toBe('2026-01-02T03:04:05.006Z');
  });
});
