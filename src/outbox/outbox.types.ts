import type { Db } from '../storage/database.ts';

/** Kinds of outbox job. Each kind has one handler registered with the worker. */
export type OutboxKind = 'upstream_revocation' | 'notice_delivery' | 'ssf_push' | 'webhook_delivery';

export type OutboxStatus = 'pending' | 'done' | 'gave_up';

export interface OutboxJob {
  id: string;
  kind: OutboxKind;
  subjectId: string;
  tenantId: string | null;
  payload: Record<string, unknown>;
  attempts: number;
  createdAt: string;
}

/**
 * Marks the job finished inside the handler's own transaction: true for the one caller that
 * finishes it, false when it already was (a redelivery after a lost lease), and then the handler
 * records nothing. The handler opens that transaction (its capability's unit of work) so the job,
 * the outcome and their ledger entries commit together.
 */
export type Completion = (trx: Db) => Promise<boolean>;

/** What a handler reports for one attempt. */
export type DeliveryResult =
  /** Delivered: `record` finishes the job (`complete`) and writes the outcome, in one transaction. */
  | { kind: 'done'; record: (complete: Completion) => Promise<void> }
  /** Try again later; `retryAfterMs` is the peer's own hint (Retry-After), honoured when larger than the backoff. */
  | { kind: 'retry'; error: string; retryAfterMs?: number };

export interface OutboxHandler {
  deliver(job: OutboxJob): Promise<DeliveryResult>;
  /** Called when the give-up window has passed: finish the job (`complete`), record the failure and raise an alert, in one transaction. */
  giveUp(complete: Completion, job: OutboxJob, lastError: string): Promise<void>;
}

export interface OutboxWorkerOptions {
  /** How often to look for due jobs when nothing wakes the worker. */
  pollMs: number;
  /** First retry delay; doubles each attempt (with jitter) up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** After this long since the job was written, stop retrying, alert, and leave the local state as it is. */
  giveUpAfterMs: number;
  /** A claimed job is invisible to other workers for this long; a worker that dies loses its claim after it. */
  leaseMs: number;
  /** Jobs delivered at the same time. */
  concurrency: number;
  /** Of those, at most this many from the bulk lane: the rest stay free for single revocations. */
  bulkConcurrency: number;
  /** Bulk-lane jobs started per second at most (per worker): the drain of a bulk revocation is paced. */
  bulkPerSecond: number;
}

export const DEFAULT_OUTBOX_OPTIONS: OutboxWorkerOptions = {
  pollMs: 1000,
  baseDelayMs: 1000,
  maxDelayMs: 5 * 60_000,
  giveUpAfterMs: 24 * 3600_000,
  leaseMs: 60_000,
  concurrency: 16,
  bulkConcurrency: 8,
  bulkPerSecond: 200,
};
