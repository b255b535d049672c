import { describe, expect, it } from 'vitest';
import { DEFAULT_TUNING, hasLearned, networkOf, rollTo, spikeSeverity, spikeThreshold, type VolumeBaseline } from './detection.rules.ts';

const MIN = 60_000;

describe('detection rules', () => {
  it('groups IPv4 sources by /24 and IPv6 by /64, an IPv4-mapped address as IPv4', () => {
    expect(networkOf('10.1.2.3')).toBe('10.1.2.0/24');
    expect(networkOf('10.1.2.250')).toBe('10.1.2.0/24');
    expect(networkOf('10.1.3.1')).toBe('10.1.3.0/24');
    expect(networkOf('::ffff:192.0.2.9')).toBe('192.0.2.0/24');
    expect(networkOf('2001:db8:1::5')).toBe('2001:db8:1:0::/64');
    expect(networkOf('2001:db8:1:0:1:2:3:4')).toBe('2001:db8:1:0::/64');
    expect(networkOf('2001:db8:1:1::4')).toBe('2001:db8:1:1::/64');
    expect(networkOf(null)).toBeNull();
    expect(networkOf('not-an-ip')).toBeNull();
  });

  it('has learned only after both the learning time and the learning calls', () => {
    const t = DEFAULT_TUNING;
    expect(hasLearned(0, t.learnCalls, t.learnMs - 1, t)).toBe(false);
    expect(hasLearned(0, t.learnCalls - 1, t.learnMs, t)).toBe(false);
    expect(hasLearned(0, t.learnCalls, t.learnMs, t)).toBe(true);
  });

  it('folds buckets into the mean and peak, empty buckets decaying them', () => {
    const v: VolumeBaseline = { mean: 0, peak: 0, bucketStartMs: 0, bucketCount: 0 };
    // An hour of 10 calls a minute.
    for (let m = 0; m < 60; m++) {
      rollTo(v, m * MIN, DEFAULT_TUNING);
      v.bucketCount += 10;
    }
    rollTo(v, 60 * MIN, DEFAULT_TUNING);
    // One half-life: half way from 0 to 10.
    expect(v.mean).toBeCloseTo(5, 5);
    expect(v.peak).toBeCloseTo(10, 1);
    const before = v.mean;
    // An hour of silence halves it again.
    rollTo(v, 120 * MIN, DEFAULT_TUNING);
    expect(v.mean).toBeCloseTo(before / 2, 5);
    // A late event changes nothing.
    rollTo(v, 0, DEFAULT_TUNING);
    expect(v.bucketStartMs).toBe(120 * MIN);
  });

  it('calls a bucket a spike only above the minimum, the mean and the peak, and critical only when extreme', () => {
    const t = DEFAULT_TUNING;
    const quiet: VolumeBaseline = { mean: 0.1, peak: 2, bucketStartMs: 0, bucketCount: t.minSpikeCalls - 1 };
    expect(spikeSeverity(quiet, t)).toBeNull();
    quiet.bucketCount = t.minSpikeCalls;
    expect(spikeSeverity(quiet, t)).toBe('medium');
    quiet.bucketCount = t.minCriticalCalls;
    expect(spikeSeverity(quiet, t)).toBe('critical');
    // A nightly batch job's burst is its normal: the peak holds the threshold up.
    const batchy: VolumeBaseline = { mean: 1, peak: 400, bucketStartMs: 0, bucketCount: 500 };
    expect(spikeThreshold(batchy, t)).toBe(800);
    expect(spikeSeverity(batchy, t)).toBeNull();
  });
});
