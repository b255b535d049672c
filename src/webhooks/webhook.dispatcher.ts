import type { LedgerService } from '../ledger/ledger.service.ts';
import { LANE, type OutboxEnqueuer } from '../outbox/outbox.enqueue.ts';
import type { Clock } from '../shared/clock.ts';
import type { Logger } from '../shared/logger.ts';
import type { Storage } from '../storage/database.ts';
import { readLedgerCursor, moveLedgerCursor } from '../events/ledger-cursor.ts';
import { webhookJobSubject, type WebhookJobPayload } from './webhook.delivery.ts';
import { indexSubscriptions, subscribersOf } from './webhook.events.ts';
import type { WebhookService } from './webhook.service.ts';

const CURSOR = 'webhooks';
/** Ledger entries read per step. */
const PAGE = 500;
/** Delivery-log rows deleted per prune (a short statement, repeated on later ticks). */
const PRUNE_BATCH = 5_000;
const PRUNE_EVERY_MS = 60_000;

/**
 * Tails the ledger by seq from a persisted cursor and enqueues one outbox job per matching
 * subscription and entry. The jobs and the cursor's move commit together, so a crash repeats at
 * most the page in flight, and its jobs are no-ops then (one job per subscription and message):
 * at-least-once delivery, without gaps. Ledger appends are serialised (ledger README), so entries
 * become visible in seq order and a cursor never passes an entry still to commit. Several
 * instances may run it: the cursor moves only from the value read (conditional update), so one
 * instance's page is enqueued once.
 */
export function createWebhookDispatcher(deps: { storage: Storage; ledger: LedgerService; webhooks: WebhookService; enqueue: OutboxEnqueuer; clock: Clock; logger: Logger; retentionDays: number; pollMs: number; onEnqueued: () => void }) {
  const { storage, ledger, clock } = deps;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<number> | null = null;
  let lastPrune = 0;

  /** One page: answers how many entries it moved past (0: caught up, or another instance took the page). */
  async function step(): Promise<number> {
    const from = await readLedgerCursor(storage, CURSOR, clock.now());
    // The head before the subscriptions: one created after this read has its own entry beyond the head.
    const head = (await ledger.head())?.seq ?? 0;
    if (head <= from) return 0;
    const subs = await deps.webhooks.all();
    if (subs.length === 0) {
      // Nobody to send to: skip to the head without reading the entries.
      const moved = await storage.db.transaction().execute((trx) => moveLedgerCursor(trx, CURSOR, from, head, clock.now()));
      return moved ? head - from : 0;
    }
    const entries = await ledger.list({ afterSeq: from, order: 'asc', limit: PAGE });
    if (entries.length === 0) return 0;
    const byTenant = indexSubscriptions(subs);
    const jobs: { kind: 'webhook_delivery'; subjectId: string; tenantId: string | null; payload: WebhookJobPayload }[] = [];
    for (const e of entries) {
      for (const s of subscribersOf(e, byTenant)) {
        const payload: WebhookJobPayload = { subscriptionId: s.id, seq: e.seq, type: e.action };
        jobs.push({ kind: 'webhook_delivery', subjectId: webhookJobSubject(payload), tenantId: s.tenantId, payload });
      }
    }
    const to = entries[entries.length - 1]!.seq;
    const moved = await storage.db.transaction().execute(async (trx) => {
      if (!(await moveLedgerCursor(trx, CURSOR, from, to, clock.now()))) return false;
      await deps.enqueue(trx, jobs, clock.now(), LANE.bulk);
      return true;
    });
    if (moved && jobs.length > 0) deps.onEnqueued();
    return moved ? entries.length : 0;
  }

  async function prune(): Promise<number> {
    if (deps.retentionDays <= 0) return 0;
    const cutoff = new Date(clock.now().getTime() - deps.retentionDays * 86_400_000).toISOString();
    const old = storage.db.selectFrom('webhook_deliveries').select('id').where('at', '<', cutoff).orderBy('at').limit(PRUNE_BATCH);
    const r = await storage.db.deleteFrom('webhook_deliveries').where('id', 'in', old).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** Catches up with the ledger (every page), and prunes the delivery log now and then; one run at a time. */
  function dispatch(): Promise<number> {
    running ??= (async () => {
      let total = 0;
      for (;;) {
        const n = await step();
        total += n;
        if (n === 0 || n < PAGE) break;
      }
      if (Date.now() - lastPrune >= PRUNE_EVERY_MS) {
        lastPrune = Date.now();
        const pruned = await prune();
        if (pruned > 0) deps.logger.info({ pruned }, 'webhook delivery log pruned');
      }
      return total;
    })().finally(() => {
      running = null;
    });
    return running;
  }

  return {
    dispatch,
    prune,
    start() {
      if (timer) return;
      timer = setInterval(() => void dispatch().catch((err: Error) => deps.logger.error({ err: err.message }, 'webhook dispatch failed; the next tick retries')), deps.pollMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      await running?.catch(() => {});
    },
  };
}

export type WebhookDispatcher = ReturnType<typeof createWebhookDispatcher>;
