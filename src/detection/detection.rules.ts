import { isIP } from 'node:net';
import type { AlertSeverity } from '../alerts/alert.types.ts';

/**
 * Detection's rules as plain functions over plain data (docs/detection.md): what a token's
 * baseline is, when it has learned enough to judge, what counts as new, and what a volume spike is.
 * Invariants:
 * - a token is judged against its own baseline only, and only once it has learned: seen for at
 *   least `learnMs` since its first judged call AND at least `learnCalls` judged calls. Until then
 *   what it does is its baseline (nothing "new" alerts, no spike alerts);
 * - the volume baseline is an exponentially weighted mean of calls per bucket (empty buckets count
 *   as zero) and a slowly decaying peak; a bucket is a spike only above every one of: a minimum
 *   count, `spikeFactor` × the mean, and `peakFactor` × the peak — so a quiet token pages nobody and
 *   a nightly batch job's burst is its normal;
 * - at most `maxKnownPerKind` values are remembered per token and kind; past it a new value still
 *   alerts (the open alert's count grows) but is not remembered.
 */
export interface DetectionTuning {
  learnMs: number;
  learnCalls: number;
  maxKnownPerKind: number;
  bucketMs: number;
  /** Half-life of the mean's memory, in buckets. */
  meanHalfLifeBuckets: number;
  /** Half-life of the peak, in buckets. */
  peakHalfLifeBuckets: number;
  minSpikeCalls: number;
  spikeFactor: number;
  peakFactor: number;
  /** Critical: at least this many calls in the bucket and `criticalFactor` × the spike threshold. */
  minCriticalCalls: number;
  criticalFactor: number;
}

export const DEFAULT_TUNING: DetectionTuning = {
  learnMs: 24 * 60 * 60_000,
  learnCalls: 20,
  maxKnownPerKind: 100,
  bucketMs: 60_000,
  meanHalfLifeBuckets: 60,
  peakHalfLifeBuckets: 7 * 24 * 60,
  minSpikeCalls: 100,
  spikeFactor: 10,
  peakFactor: 2,
  minCriticalCalls: 1_000,
  criticalFactor: 5,
};

export const KNOWN_KINDS = ['workload', 'network', 'endpoint', 'scope'] as const;
export type KnownKind = (typeof KNOWN_KINDS)[number];

export const DETECTION_ALERT_KINDS = ['use_after_revoke', 'new_workload', 'new_network', 'new_endpoint', 'new_scope', 'volume_spike'] as const;
export type DetectionAlertKind = (typeof DETECTION_ALERT_KINDS)[number];

/** The alert kind of a new value of each kind, and its severity (docs/detection.md). */
export const NEW_VALUE_ALERTS: Record<KnownKind, { kind: DetectionAlertKind; severity: AlertSeverity; what: string }> = {
  workload: { kind: 'new_workload', severity: 'medium', what: 'a workload' },
  network: { kind: 'new_network', severity: 'medium', what: 'a source network' },
  endpoint: { kind: 'new_endpoint', severity: 'low', what: 'an endpoint' },
  scope: { kind: 'new_scope', severity: 'medium', what: 'a scope' },
};

/** The refusals that name a token no longer live: a call with it is "the revoked integration still active". */
export const STATE_DENIALS = new Set(['token_revoked', 'token_suspended', 'token_expired']);

/**
 * The refusals that say "this caller may not use this token" (src/gateway/gateway.policy.ts: no
 * such token for the caller's tenant — another tenant's, or none — and a workload not listed on
 * it). Such a call is not the token's use: it neither teaches the token's baseline nor counts
 * toward its volume or its spike, or anyone able to name a token could move (and in enforce mode
 * suspend) a token they may not use. The gateway checks these before the token's state, so a
 * use after revocation is always from a permitted caller.
 */
export const CALLER_REFUSALS = new Set(['token_not_found', 'workload_not_allowed']);

/**
 * The network a source address belongs to, as detection compares them: IPv4 /24, IPv6 /64 (an
 * IPv4-mapped IPv6 address is IPv4). Null for no address or one that is not an IP.
 */
export function networkOf(address: string | null): string | null {
  if (!address) return null;
  const bare = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
  const family = isIP(bare.split('%')[0]!);
  if (family === 4) {
    const [a, b, c] = bare.split('.');
    return `${a}.${b}.${c}.0/24`;
  }
  if (family !== 6) return null;
  // Expanded to eight groups first: `2001:db8:1::5` and `2001:db8:1:0:1:2:3:4` are one /64.
  const noZone = bare.split('%')[0]!;
  let groups: string[];
  if (noZone.includes('::')) {
    const [head, tail] = noZone.split('::') as [string, string];
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    groups = [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  } else groups = noZone.split(':');
  return `${groups
    .slice(0, 4)
    .map((g) => (parseInt(g, 16) || 0).toString(16))
    .join(':')}::/64`;
}

/** A token's volume baseline (persisted). */
export interface VolumeBaseline {
  mean: number;
  peak: number;
  /** Start of the bucket being counted, ms since the epoch. */
  bucketStartMs: number;
  bucketCount: number;
}

/**
 * Moves the baseline to the bucket holding `atMs`: the bucket being counted is folded into the
 * mean and the peak, and every empty bucket between decays them. A time in or before the current
 * bucket changes nothing (late events count in the current bucket).
 */
export function rollTo(v: VolumeBaseline, atMs: number, t: DetectionTuning): void {
  const bucket = Math.floor(atMs / t.bucketMs) * t.bucketMs;
  if (bucket <= v.bucketStartMs) return;
  const gap = (bucket - v.bucketStartMs) / t.bucketMs;
  const meanKeep = 0.5 ** (1 / t.meanHalfLifeBuckets);
  const peakKeep = 0.5 ** (1 / t.peakHalfLifeBuckets);
  // The counted bucket, then gap - 1 empty ones.
  v.mean = (v.mean * meanKeep + (1 - meanKeep) * v.bucketCount) * meanKeep ** (gap - 1);
  v.peak = Math.max(v.peak * peakKeep, v.bucketCount) * peakKeep ** (gap - 1);
  v.bucketStartMs = bucket;
  v.bucketCount = 0;
}

/** The count at which the current bucket is a spike. */
export function spikeThreshold(v: VolumeBaseline, t: DetectionTuning): number {
  return Math.max(t.minSpikeCalls, t.spikeFactor * v.mean, t.peakFactor * v.peak);
}

/** Whether the current bucket's count is a spike, and how bad. */
export function spikeSeverity(v: VolumeBaseline, t: DetectionTuning): AlertSeverity | null {
  const threshold = spikeThreshold(v, t);
  if (v.bucketCount < threshold) return null;
  if (v.bucketCount >= Math.max(t.minCriticalCalls, t.criticalFactor * threshold)) return 'critical';
  return 'medium';
}

/** Whether a token seen first at `firstSeenMs`, with `callsSeen` judged calls, has learned its baseline by `atMs`. */
export function hasLearned(firstSeenMs: number, callsSeen: number, atMs: number, t: DetectionTuning): boolean {
  return callsSeen >= t.learnCalls && atMs - firstSeenMs >= t.learnMs;
}
