import type { AlertSeverity, NewAlert } from '../alerts/alert.types.ts';
import type { Db } from '../storage/database.ts';

/** What detection needs of the alerts capability (src/alerts): raise, de-duplicated per (token, kind). */
export interface AlertRaiser {
  raise(trx: Db, alert: NewAlert, at: Date): Promise<{ id: string; created: boolean }>;
}

/** The two policy values detection reads for a tenant (src/governance/policy.rules.ts). */
export interface DetectionPolicy {
  mode: 'enforce' | 'audit';
  suspendOnAlertSeverity: 'high' | 'critical' | null;
}

/** Bounds of detection's own resources (docs/detection.md). */
export interface DetectionLimits {
  /** Usage events waiting to be judged above which a committed batch is not judged (counted, logged). */
  maxQueuedEvents: number;
  /** Tokens whose baselines are kept in memory (least recently used leave first). */
  maxCachedTokens: number;
  /** How often baselines that changed are written. */
  checkpointMs: number;
  /** Events judged between yields to the event loop (the gateway's calls go first). */
  sliceEvents: number;
}

export const DEFAULT_DETECTION_LIMITS: DetectionLimits = {
  maxQueuedEvents: 200_000,
  maxCachedTokens: 20_000,
  checkpointMs: 5_000,
  sliceEvents: 1_000,
};

/** One usage event as evidence: never the full path, the query or the full source address. */
export interface EvidenceEvent {
  at: string;
  workload: string | null;
  method: string;
  pathTemplate: string;
  scope: string | null;
  network: string | null;
  status: number;
  outcome: string;
  errorCode: string | null;
}

/** Counters for /metrics and the benchmark. */
export interface DetectionStats {
  /** Events handed over (committed batches). */
  receivedEvents: number;
  /** Events judged against baselines. */
  judgedEvents: number;
  /** Events of batches not judged because the queue was full (use-after-revoke events are never among them). */
  droppedEvents: number;
  /** Batches whose judging failed (logged). */
  failedBatches: number;
  queuedEvents: number;
  /** Tokens with calls after revocation/suspension/expiry waiting to be alerted. */
  pendingUseAfterRevoke: number;
  cachedTokens: number;
  alerts: Record<string, number>;
  suspended: number;
  wouldSuspend: number;
}

export type { AlertSeverity };
