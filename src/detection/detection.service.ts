import { severityRank, type AlertSeverity, type NewAlert } from '../alerts/alert.types.ts';
import type { UsageEvent } from '../gateway/gateway.types.ts';
import { PACKED_LAYOUT, type PackedEvents } from '../gateway/usage-writer.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { NewLedgerEntry } from '../ledger/ledger.types.ts';
import { isoAt, type Clock } from '../shared/clock.ts';
import type { Logger } from '../shared/logger.ts';
import type { Storage } from '../storage/database.ts';
import type { DetectionBaselinesTable } from '../storage/schema.ts';
import type { TokenService } from '../tokens/token.service.ts';
import { createDetectionRepo, knownKey, type KnownValueRow } from './detection.repo.ts';
import {
  CALLER_REFUSALS,
  DEFAULT_TUNING,
  hasLearned,
  KNOWN_KINDS,
  networkOf,
  NEW_VALUE_ALERTS,
  rollTo,
  spikeSeverity,
  spikeThreshold,
  STATE_DENIALS,
  type DetectionAlertKind,
  type DetectionTuning,
  type KnownKind,
  type VolumeBaseline,
} from './detection.rules.ts';
import { DEFAULT_DETECTION_LIMITS, type AlertRaiser, type DetectionLimits, type DetectionPolicy, type DetectionStats, type EvidenceEvent } from './detection.types.ts';

/**
 * Detection on use (issue 15 item 3), off the gateway's hot path. Invariants:
 * - baselines learn from committed usage only: the usage recorder hands over each batch after the writer has
 *   committed it (`ingest`), which only queues it; judging runs later on this thread, in slices
 *   that yield to the event loop, so it never blocks or slows `record`/`admit`, and a failure here
 *   never loses usage (the events are already stored);
 * - only the token's use is judged: a call refused because its caller may not use the token
 *   (`CALLER_REFUSALS`: `token_not_found`, `workload_not_allowed`) neither teaches nor moves its
 *   baseline, nor counts toward its spike or its new values — whoever can name a token cannot
 *   raise (or, in enforce mode, suspend by) an alert on it;
 * - calls naming a revoked, suspended or expired token are heard from the gateway at the refusal
 *   (`noteStateRefusal`), before any bound applies, coalesced per token (a set bounded by the
 *   tokens that exist: a refusal for an unknown or another tenant's token, `token_not_found`, is
 *   never looked at) and alerted first, within a second of the call; a failed raise puts them back
 *   and is retried: they are never dropped;
 * - everything else waits in a queue bounded by `maxQueuedEvents`: a batch arriving when it is
 *   full is not judged, and that is counted (metrics) and logged, never silently lost;
 * - baselines live in a bounded cache (least recently used leave first, written before they go)
 *   and in the database (016-detection), written every `checkpointMs` and at close: a restart
 *   neither learns again nor alerts again; a new value is remembered insert-if-absent, so of two
 *   instances only the one that inserted it alerts;
 * - an alert at or above the tenant's `suspendOnAlertSeverity` suspends a live (active) token
 *   (kind `signal`, actor `detection`) in enforce mode, or ledgers `policy.would_suspend` in audit
 *   mode — in the same transaction as the alert.
 */
export interface DetectionDeps {
  storage: Storage;
  tokens: Pick<TokenService, 'unitOfWork'>;
  alerts: AlertRaiser;
  ledger: LedgerService;
  policyFor: (tenantId: string) => Promise<DetectionPolicy>;
  clock: Clock;
  logger: Logger;
  tuning?: Partial<DetectionTuning>;
  limits?: Partial<DetectionLimits>;
}

export const DETECTION_ACTOR = 'detection';
/** Evidence events kept per alert (an alert's evidence is small JSON). */
const EVIDENCE_EVENTS = 5;
/** Values named in one alert's message and data. */
const VALUES_PER_ALERT = 10;
/** Alerts raised per transaction. */
const ALERTS_PER_TRANSACTION = 100;
/** Ids per query when loading baselines. */
const LOAD_CHUNK = 1_000;
/** At most one "queue full" log line this often. */
const FULL_LOG_EVERY_MS = 10_000;

interface TokenBaseline {
  tokenId: string;
  tenantId: string;
  firstSeenMs: number;
  callsSeen: number;
  volume: VolumeBaseline;
  known: Record<KnownKind, Set<string>>;
  /** The bucket and severity of the last spike alert (so one bucket alerts once per severity). */
  spikeAlerted: { bucketStartMs: number; severity: AlertSeverity } | null;
  /** Values past the bound on known values already alerted while cached (`kind\0value`). */
  overflow: Set<string>;
  dirty: boolean;
}

interface PendingUse {
  tenantId: string;
  calls: number;
  codes: Set<string>;
  evidence: EvidenceEvent[];
}

interface Candidate {
  tokenId: string;
  tenantId: string;
  kind: DetectionAlertKind;
  severity: AlertSeverity;
  message: string;
  data: Record<string, unknown>;
  evidence: EvidenceEvent[];
  /** For a new value: the values, and which were inserted by this call (others were found by another instance). */
  values?: { value: string; remembered: boolean }[];
}

function emptyKnown(): Record<KnownKind, Set<string>> {
  return { workload: new Set(), network: new Set(), endpoint: new Set(), scope: new Set() };
}

export function createDetectionService(deps: DetectionDeps) {
  const { storage, alerts, ledger, clock, logger } = deps;
  const tuning: DetectionTuning = { ...DEFAULT_TUNING, ...deps.tuning };
  const limits: DetectionLimits = { ...DEFAULT_DETECTION_LIMITS, ...deps.limits };
  const repo = createDetectionRepo(storage.dialect);
  const { fields: F, intsPerEvent: N, status: STATUS } = PACKED_LAYOUT;

  const cache = new Map<string, TokenBaseline>();
  /** Baselines that left the cache before they were written: written at the next checkpoint. */
  const leftDirty = new Map<string, TokenBaseline>();
  const queue: PackedEvents[] = [];
  let pendingUses = new Map<string, PendingUse>();
  let pumping: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  let closing = false;
  let enabled = true;
  let useFailures = 0;
  let lastFullLog = 0;
  const stats: DetectionStats = { receivedEvents: 0, judgedEvents: 0, droppedEvents: 0, failedBatches: 0, queuedEvents: 0, pendingUseAfterRevoke: 0, cachedTokens: 0, alerts: {}, suspended: 0, wouldSuspend: 0 };

  /** The event at index `i` as evidence. */
  function evidenceOf(p: PackedEvents, i: number): EvidenceEvent {
    const k = i * N;
    const text = (f: number) => (p.ints[k + f]! < 0 ? null : p.strings[p.ints[k + f]!]!);
    return {
      at: isoAt(p.times[i]!),
      workload: text(F.workload),
      method: text(F.method)!,
      pathTemplate: text(F.pathTemplate)!,
      scope: text(F.scope),
      network: networkOf(text(F.sourceAddress)),
      status: p.ints[k + STATUS]!,
      outcome: text(F.outcome)!,
      errorCode: text(F.errorCode),
    };
  }

  /**
   * A call refused because its token is revoked, suspended or expired, heard from the gateway at
   * the refusal (not after its batch is written: a loaded machine can delay that for seconds, and
   * this alert is due within one). Coalesced per token; synchronous and cheap.
   */
  function noteStateRefusal(e: UsageEvent): void {
    if (closed || !enabled || e.tenantId === null) return;
    let u = pendingUses.get(e.tokenId);
    if (!u) pendingUses.set(e.tokenId, (u = { tenantId: e.tenantId, calls: 0, codes: new Set(), evidence: [] }));
    u.calls++;
    if (e.errorCode) u.codes.add(e.errorCode);
    if (u.evidence.length < EVIDENCE_EVENTS) {
      u.evidence.push({ at: isoAt(e.atMs), workload: e.workload, method: e.method, pathTemplate: e.pathTemplate, scope: e.scope, network: networkOf(e.sourceAddress), status: e.status, outcome: e.outcome, errorCode: e.errorCode });
    }
    pump();
  }

  /**
   * Takes a committed batch onto the bounded queue (its calls refused for the token's state were
   * heard at the refusal and are skipped when judging). Synchronous and cheap: it runs on the
   * serving thread.
   */
  function ingest(p: PackedEvents): void {
    if (closed || !enabled) return;
    stats.receivedEvents += p.count;
    if (stats.queuedEvents + p.count > limits.maxQueuedEvents) {
      stats.droppedEvents += p.count;
      const now = Date.now();
      if (now - lastFullLog >= FULL_LOG_EVERY_MS) {
        lastFullLog = now;
        logger.warn({ queued: stats.queuedEvents, dropped: stats.droppedEvents, limit: limits.maxQueuedEvents }, 'detection is behind: a batch of usage was not judged against baselines (use after revocation is still alerted)');
      }
    } else {
      queue.push(p);
      stats.queuedEvents += p.count;
    }
    pump();
  }

  function pump(): Promise<void> {
    pumping ??= (async () => {
      // Let the call that handed the batch over return first.
      await new Promise<void>((r) => setImmediate(r));
      while (pendingUses.size > 0 || queue.length > 0) {
        if (pendingUses.size > 0) {
          const taken = pendingUses;
          pendingUses = new Map();
          try {
            await raiseUsesAfterRevoke(taken);
            useFailures = 0;
          } catch (err) {
            // Never dropped: back into the pending set, merged with what came meanwhile, and retried.
            for (const [id, u] of taken) {
              const now = pendingUses.get(id);
              if (now) {
                now.calls += u.calls;
                for (const c of u.codes) now.codes.add(c);
              } else pendingUses.set(id, u);
            }
            useFailures++;
            if (closing && useFailures >= 3) {
              // Shutting down with the database failing: said loudly, with the tokens, rather than hang the shutdown.
              logger.error({ err: (err as Error).message, tokenIds: [...pendingUses.keys()].slice(0, 100), tokens: pendingUses.size }, 'shutting down: use-after-revoke alerts could not be raised for these tokens');
              pendingUses = new Map();
            } else {
              logger.error({ err: (err as Error).message, tokens: taken.size }, 'raising use-after-revoke alerts failed; will retry');
              await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** useFailures, 5_000)));
            }
            continue;
          }
          continue;
        }
        const batch = queue.shift()!;
        try {
          await judgeBatch(batch);
        } catch (err) {
          stats.failedBatches++;
          logger.error({ err: (err as Error).message, events: batch.count }, 'judging a batch of usage failed; its events are stored but were not judged');
        } finally {
          stats.queuedEvents -= batch.count;
        }
      }
    })().finally(() => {
      pumping = null;
    });
    return pumping;
  }

  async function raiseUsesAfterRevoke(taken: Map<string, PendingUse>): Promise<void> {
    const candidates: Candidate[] = [];
    for (const [tokenId, u] of taken) {
      const states = [...u.codes].map((c) => c.replace('token_', '')).join(' or ');
      candidates.push({
        tokenId,
        tenantId: u.tenantId,
        kind: 'use_after_revoke',
        severity: 'high',
        message: `Token ${tokenId} is ${states}, yet ${u.calls} call${u.calls === 1 ? '' : 's'} named it through the gateway: the integration is still active. Find the workload still calling and stop it.`,
        data: { calls: u.calls, errorCodes: [...u.codes] },
        evidence: u.evidence,
      });
    }
    await raise(candidates);
  }

  /** The baselines of these tokens in the cache (loaded, or new), most recently used last. */
  async function ensureLoaded(needed: Map<string, { tenantId: string; atMs: number }>): Promise<void> {
    const missing: string[] = [];
    for (const id of needed.keys()) {
      const hit = cache.get(id) ?? leftDirty.get(id);
      if (hit) {
        cache.delete(id);
        cache.set(id, hit);
        leftDirty.delete(id);
      } else missing.push(id);
    }
    for (let i = 0; i < missing.length; i += LOAD_CHUNK) {
      const ids = missing.slice(i, i + LOAD_CHUNK);
      const [rows, known] = await Promise.all([repo.baselines(storage.db, ids), repo.knownValues(storage.db, ids)]);
      const byId = new Map(rows.map((r) => [r.token_id, r]));
      const knownOf = new Map<string, Record<KnownKind, Set<string>>>();
      for (const k of known) (knownOf.get(k.token_id) ?? knownOf.set(k.token_id, emptyKnown()).get(k.token_id)!)[k.kind].add(k.value);
      for (const id of ids) {
        if (cache.has(id)) continue; // loaded meanwhile
        const row = byId.get(id);
        const first = needed.get(id)!;
        const bucket = Math.floor(first.atMs / tuning.bucketMs) * tuning.bucketMs;
        cache.set(id, {
          tokenId: id,
          tenantId: row?.tenant_id ?? first.tenantId,
          firstSeenMs: row ? Date.parse(row.first_seen_at) : first.atMs,
          callsSeen: row?.calls_seen ?? 0,
          volume: row ? { mean: row.rate_ewma, peak: row.rate_peak, bucketStartMs: Date.parse(row.bucket_start), bucketCount: row.bucket_count } : { mean: 0, peak: 0, bucketStartMs: bucket, bucketCount: 0 },
          known: knownOf.get(id) ?? emptyKnown(),
          spikeAlerted: null,
          overflow: new Set(),
          dirty: !row,
        });
      }
    }
    // Over the bound: the least recently used leave (a changed one is written first, at the next checkpoint).
    for (const [id, b] of cache) {
      if (cache.size <= limits.maxCachedTokens) break;
      if (needed.has(id)) continue;
      cache.delete(id);
      if (b.dirty) leftDirty.set(id, b);
    }
    stats.cachedTokens = cache.size;
  }

  /** Judges one committed batch against the baselines of the tokens it names. */
  async function judgeBatch(p: PackedEvents): Promise<void> {
    const denied = p.strings.indexOf('denied');
    // Not the token's use: refusals of the caller (not allowed to use it), and refusals for its
    // state (heard at the refusal, `noteStateRefusal`).
    const skip = new Set<number>();
    p.strings.forEach((s, i) => {
      if (STATE_DENIALS.has(s) || CALLER_REFUSALS.has(s)) skip.add(i);
    });
    const needed = new Map<string, { tenantId: string; atMs: number }>();
    for (let i = 0, k = 0; i < p.count; i++, k += N) {
      if (skip.has(p.ints[k + F.errorCode]!) || p.ints[k + F.tenantId]! < 0) continue;
      const id = p.strings[p.ints[k + F.tokenId]!]!;
      if (!needed.has(id)) needed.set(id, { tenantId: p.strings[p.ints[k + F.tenantId]!]!, atMs: p.times[i]! });
    }
    if (needed.size === 0) return;
    await ensureLoaded(needed);

    // Each distinct string's network and endpoint, once per batch.
    const networks = new Map<number, string | null>();
    const endpoints = new Map<number, string>();
    const candidates = new Map<string, Candidate>();
    const toRemember: KnownValueRow[] = [];
    const valueOf = (k: number, kind: KnownKind): string | null => {
      if (kind === 'workload') return p.ints[k + F.workload]! < 0 ? null : p.strings[p.ints[k + F.workload]!]!;
      if (kind === 'scope') return p.ints[k + F.scope]! < 0 ? null : p.strings[p.ints[k + F.scope]!]!;
      if (kind === 'endpoint') {
        const pair = p.ints[k + F.method]! * p.strings.length + p.ints[k + F.pathTemplate]!;
        let e = endpoints.get(pair);
        if (e === undefined) endpoints.set(pair, (e = `${p.strings[p.ints[k + F.method]!]} ${p.strings[p.ints[k + F.pathTemplate]!]}`));
        return e;
      }
      const s = p.ints[k + F.sourceAddress]!;
      if (s < 0) return null;
      let n = networks.get(s);
      if (n === undefined) networks.set(s, (n = networkOf(p.strings[s]!)));
      return n;
    };

    for (let start = 0; start < p.count; start += limits.sliceEvents) {
      if (start > 0) await new Promise<void>((r) => setImmediate(r));
      const end = Math.min(p.count, start + limits.sliceEvents);
      for (let i = start, k = start * N; i < end; i++, k += N) {
        if (skip.has(p.ints[k + F.errorCode]!) || p.ints[k + F.tenantId]! < 0) continue;
        const b = cache.get(p.strings[p.ints[k + F.tokenId]!]!) ?? leftDirty.get(p.strings[p.ints[k + F.tokenId]!]!);
        if (!b) continue;
        const atMs = p.times[i]!;
        b.dirty = true;
        stats.judgedEvents++;
        const learned = hasLearned(b.firstSeenMs, b.callsSeen, atMs, tuning);
        // Volume: every call of a permitted caller that named the token (allowed or refused for what it asked).
        rollTo(b.volume, atMs, tuning);
        b.volume.bucketCount++;
        if (learned) spikeCheck(p, i, b, candidates, skip);
        // New values: only calls the gateway let through (a refused call taught nothing it may do).
        if (p.ints[k + F.outcome] === denied) continue;
        b.callsSeen++;
        for (const kind of KNOWN_KINDS) {
          if (kind === 'endpoint' && p.strings[p.ints[k + F.pathTemplate]!] === '-') continue;
          const value = valueOf(k, kind);
          if (value === null || b.known[kind].has(value)) continue;
          const remembered = b.known[kind].size < tuning.maxKnownPerKind;
          if (remembered) {
            b.known[kind].add(value);
            toRemember.push({ token_id: b.tokenId, kind, value, first_seen_at: isoAt(atMs) });
          } else {
            // Past the bound: alerted once while cached, not on every call (kept in memory only, bounded too).
            const key = `${kind}\u0000${value}`;
            if (b.overflow.has(key)) continue;
            if (b.overflow.size >= tuning.maxKnownPerKind) b.overflow.clear();
            b.overflow.add(key);
          }
          if (!learned) continue;
          const spec = NEW_VALUE_ALERTS[kind];
          const key = `${b.tokenId}\u0000${spec.kind}`;
          let c = candidates.get(key);
          if (!c) candidates.set(key, (c = { tokenId: b.tokenId, tenantId: b.tenantId, kind: spec.kind, severity: spec.severity, message: '', data: {}, evidence: [], values: [] }));
          if (c.values!.length < VALUES_PER_ALERT) c.values!.push({ value, remembered });
          if (c.evidence.length < EVIDENCE_EVENTS) c.evidence.push(evidenceOf(p, i));
        }
      }
    }

    // The values learnt and the alerts they raise commit together: a failure forgets both (and
    // the values leave the cache, so a later call discovers them again).
    try {
      await raise([...candidates.values()], toRemember);
    } catch (err) {
      for (const r of toRemember) (cache.get(r.token_id) ?? leftDirty.get(r.token_id))?.known[r.kind].delete(r.value);
      throw err;
    }
  }

  /**
   * The new-value candidates whose values this instance discovered (its insert landed; another
   * instance's alert stands for the others), with their message and data.
   */
  function discovered(candidates: Candidate[], inserted: Set<string>): Candidate[] {
    const ready: Candidate[] = [];
    for (const c of candidates) {
      if (!c.values) {
        ready.push(c);
        continue;
      }
      const kind = KNOWN_KINDS.find((k) => NEW_VALUE_ALERTS[k].kind === c.kind)!;
      const values = c.values.filter((v) => !v.remembered || inserted.has(knownKey(c.tokenId, kind, v.value))).map((v) => v.value);
      if (values.length === 0) continue;
      const spec = NEW_VALUE_ALERTS[kind];
      c.message = `Token ${c.tokenId} was used with ${spec.what} it had never used before: ${values.join(', ')}.`;
      c.data = { [kind === 'endpoint' ? 'endpoints' : `${kind}s`]: values, ...(values.length > c.values.filter((v) => v.remembered).length ? { notRemembered: `over ${tuning.maxKnownPerKind} known per token` } : {}) };
      ready.push(c);
    }
    return ready;
  }

  /** A spike alert once the bucket crosses its threshold (and again if it turns critical). */
  function spikeCheck(p: PackedEvents, i: number, b: TokenBaseline, candidates: Map<string, Candidate>, skip: Set<number>): void {
    const severity = spikeSeverity(b.volume, tuning);
    if (!severity) return;
    const prior = b.spikeAlerted;
    if (prior && prior.bucketStartMs === b.volume.bucketStartMs && severityRank(prior.severity) >= severityRank(severity)) return;
    b.spikeAlerted = { bucketStartMs: b.volume.bucketStartMs, severity };
    // The events of this token in the batch up to this one.
    const evidence: EvidenceEvent[] = [];
    const token = p.ints[i * N + F.tokenId];
    for (let j = i; j >= 0 && evidence.length < EVIDENCE_EVENTS; j--) if (p.ints[j * N + F.tokenId] === token && !skip.has(p.ints[j * N + F.errorCode]!)) evidence.unshift(evidenceOf(p, j));
    const threshold = Math.ceil(spikeThreshold(b.volume, tuning));
    candidates.set(`${b.tokenId}\u0000volume_spike`, {
      tokenId: b.tokenId,
      tenantId: b.tenantId,
      kind: 'volume_spike',
      severity,
      message: `Token ${b.tokenId} made ${b.volume.bucketCount} calls within one ${tuning.bucketMs / 1000}-second bucket, against a usual ${b.volume.mean.toFixed(1)} (threshold ${threshold}).`,
      data: { bucketStart: isoAt(b.volume.bucketStartMs), calls: b.volume.bucketCount, mean: Math.round(b.volume.mean * 100) / 100, peak: Math.round(b.volume.peak * 100) / 100, threshold },
      evidence,
    });
  }

  /** Raises alerts, and applies the policy's automatic suspension, each alert with its effects in one transaction. */
  async function raise(candidates: Candidate[], remember: KnownValueRow[] = []): Promise<void> {
    // With values to remember: one transaction (the values and the alerts they raise); otherwise chunks.
    const per = remember.length > 0 ? Math.max(1, candidates.length) : ALERTS_PER_TRANSACTION;
    for (let i = 0; i < candidates.length || (i === 0 && remember.length > 0); i += per) {
      const given = candidates.slice(i, i + per);
      const policies = new Map<string, DetectionPolicy>();
      for (const c of given) if (!policies.has(c.tenantId)) policies.set(c.tenantId, await deps.policyFor(c.tenantId));
      let suspended = 0;
      let would = 0;
      await deps.tokens.unitOfWork(async (work) => {
        const at = clock.now();
        const entries: NewLedgerEntry[] = [];
        const chunk = remember.length > 0 ? discovered(given, await repo.rememberIfAbsent(work.trx, remember)) : given;
        for (const c of chunk) {
          const alert: NewAlert = { kind: c.kind, severity: c.severity, tenantId: c.tenantId, subjectId: c.tokenId, message: c.message, data: c.data, evidence: { kind: 'usage', events: c.evidence } };
          const { id } = await alerts.raise(work.trx, alert, at);
          stats.alerts[c.kind] = (stats.alerts[c.kind] ?? 0) + 1;
          const policy = policies.get(c.tenantId)!;
          const threshold = policy.suspendOnAlertSeverity;
          if (threshold === null || severityRank(c.severity) < severityRank(threshold)) continue;
          const row = await work.lockedRow(c.tokenId);
          if (!row || row.state !== 'active') continue;
          const about = { alertId: id, alertKind: c.kind, severity: c.severity, threshold, mode: policy.mode };
          if (policy.mode === 'enforce') {
            await work.transition(row, 'suspend', DETECTION_ACTOR, `detection: ${c.severity} ${c.kind} alert ${id}`, { suspensionKind: 'signal' });
            entries.push({ actor: DETECTION_ACTOR, action: 'policy.enforced', tenantId: c.tenantId, subjectId: c.tokenId, data: { action: 'suspend', ...about } });
            suspended++;
          } else {
            entries.push({ actor: DETECTION_ACTOR, action: 'policy.would_suspend', tenantId: c.tenantId, subjectId: c.tokenId, data: { action: 'suspend', ...about, note: 'audit mode: nothing was changed' } });
            would++;
          }
        }
        await ledger.appendMany(work.trx, entries);
      });
      stats.suspended += suspended;
      stats.wouldSuspend += would;
    }
  }

  /** Writes the baselines that changed since the last checkpoint. */
  async function checkpoint(): Promise<void> {
    const dirty = [...leftDirty.values(), ...[...cache.values()].filter((b) => b.dirty)];
    if (dirty.length === 0) return;
    for (const b of dirty) b.dirty = false;
    leftDirty.clear();
    const now = clock.now().toISOString();
    const rows: DetectionBaselinesTable[] = dirty.map((b) => ({
      token_id: b.tokenId,
      tenant_id: b.tenantId,
      first_seen_at: isoAt(b.firstSeenMs),
      calls_seen: b.callsSeen,
      rate_ewma: b.volume.mean,
      rate_peak: b.volume.peak,
      bucket_start: isoAt(b.volume.bucketStartMs),
      bucket_count: b.volume.bucketCount,
      updated_at: now,
    }));
    try {
      await storage.db.transaction().execute((trx) => repo.saveBaselines(trx, rows));
    } catch (err) {
      for (const b of dirty) b.dirty = true;
      for (const b of dirty) if (!cache.has(b.tokenId)) leftDirty.set(b.tokenId, b);
      throw err;
    }
  }

  function scheduleCheckpoint() {
    if (closed) return;
    timer = setTimeout(() => {
      checkpoint()
        .catch((err: Error) => logger.warn({ err: err.message }, 'writing detection baselines failed; will try again'))
        .finally(scheduleCheckpoint);
    }, limits.checkpointMs);
    timer.unref();
  }

  return {
    ingest,
    noteStateRefusal,
    /** Starts writing baselines every `checkpointMs`. */
    start(): void {
      if (!timer && !closed) scheduleCheckpoint();
    },
    /** Judges everything handed over so far and writes the baselines (tests, benchmarks, shutdown). */
    async drain(): Promise<void> {
      while (pumping || queue.length > 0 || pendingUses.size > 0) await (pumping ?? pump());
      await checkpoint();
    },
    async close(): Promise<void> {
      closing = true;
      if (timer) clearTimeout(timer);
      timer = null;
      while (pumping || queue.length > 0 || pendingUses.size > 0) await (pumping ?? pump());
      closed = true;
      await checkpoint();
    },
    stats(): DetectionStats {
      return { ...stats, pendingUseAfterRevoke: pendingUses.size, alerts: { ...stats.alerts } };
    },
    /**
     * Turns detection off and on again (the benchmark measures the gateway's capacity with and
     * without it at the same moments). Off, committed batches are not looked at: not a setting to
     * run with.
     */
    setEnabled(on: boolean): void {
      enabled = on;
    },
    /** Forgets the cached baselines (tests: a restart reads them from the database). */
    forgetCache(): void {
      cache.clear();
      leftDirty.clear();
      stats.cachedTokens = 0;
    },
  };
}

export type DetectionService = ReturnType<typeof createDetectionService>;
