import type { LedgerService } from '../ledger/ledger.service.ts';
import { LANE, type OutboxEnqueuer } from '../outbox/outbox.enqueue.ts';
import type { Clock } from '../shared/clock.ts';
import type { Logger } from '../shared/logger.ts';
import { newId } from '../shared/ids.ts';
import type { Db, Storage } from '../storage/database.ts';
import { sql } from 'kysely';
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
 * Ledger messages a subscription may have waiting in the outbox (its receiver slow or down: they
 * are retried for up to the give-up window). Past it, the dispatcher queues none of its new events:
 * they are dropped, and said so in its delivery log with how many (GET /v1/events still has them).
 */
export const MAX_PENDING_PER_SUBSCRIPTION = 10_000;

type Job = { kind: 'webhook_delivery'; subjectId: string; tenantId: string | null; payload: WebhookJobPayload & { seq: number } };

/**
 * Tails the ledger by seq from a persisted cursor and enqueues one outbox job per matching
 * subscription and entry. The jobs and the cursor's move commit together, so a crash repeats at
 * most the page in flight, and its jobs are no-ops then (one job per subscription and message):
 * at-least-once delivery, without gaps. Ledger appends are serialised (ledger README), so entries
 * become visible in seq order and a cursor never passes an entry still to commit. Several
 * instances may run it: the cursor moves only from the value read (conditional update), so one
 * instance's page is enqueued once. A subscription's waiting messages are bounded
 * (MAX_PENDING_PER_SUBSCRIPTION, counted on its row in the same transactions that queue and finish
 * them); past the bound its new events are dropped with a delivery-log row saying how many.
 */
export function createWebhookDispatcher(deps: {
  storage: Storage;
  ledger: LedgerService;
  webhooks: WebhookService;
  enqueue: OutboxEnqueuer;
  clock: Clock;
  logger: Logger;
  retentionDays: number;
  pollMs: number;
  onEnqueued: () => void;
  /** MAX_PENDING_PER_SUBSCRIPTION unless a test says otherwise. */
  maxPendingPerSubscription?: number;
}) {
  const { storage, ledger, clock } = deps;
  const maxPending = deps.maxPendingPerSubscription ?? MAX_PENDING_PER_SUBSCRIPTION;

  /**
   * Inside the page's transaction: keeps, per subscription, the jobs its waiting count has room
   * for (oldest first), moves the count, and writes one delivery-log row for those dropped. Jobs
   * of a subscription removed meanwhile are left out (there is nobody to send them to).
   */
  async function bound(trx: Db, jobs: Job[]): Promise<{ kept: Job[]; dropped: { subscriptionId: string; n: number; fromSeq: number; toSeq: number }[] }> {
    const bySub = new Map<string, Job[]>();
    for (const j of jobs) (bySub.get(j.payload.subscriptionId) ?? bySub.set(j.payload.subscriptionId, []).get(j.payload.subscriptionId)!).push(j);
    if (bySub.size === 0) return { kept: [], dropped: [] };
    const rows = await trx.selectFrom('webhook_subscriptions').select(['id', 'pending_jobs']).where('id', 'in', [...bySub.keys()]).execute();
    const pending = new Map(rows.map((r) => [r.id, Number(r.pending_jobs ?? 0)]));
    const kept: Job[] = [];
    const dropped: { subscriptionId: string; n: number; fromSeq: number; toSeq: number }[] = [];
    const at = clock.now();
    for (const [subscriptionId, mine] of bySub) {
      const waiting = pending.get(subscriptionId);
      if (waiting === undefined) continue;
      const taken = mine.slice(0, Math.max(0, maxPending - waiting));
      kept.push(...taken);
      if (taken.length > 0) {
        await trx
          .updateTable('webhook_subscriptions')
          .set({ pending_jobs: sql`pending_jobs + ${taken.length}` })
          .where('id', '=', subscriptionId)
          .execute();
      }
      const lost = mine.slice(taken.length);
      if (lost.length === 0) continue;
      const first = lost[0]!.payload;
      const last = lost[lost.length - 1]!.payload;
      dropped.push({ subscriptionId, n: lost.length, fromSeq: first.seq, toSeq: last.seq });
      await trx
        .insertInto('webhook_deliveries')
        .values({
          id: newId('webhookDelivery', at.getTime()),
          subscription_id: subscriptionId,
          message_id: `msg_ledger_${first.seq}`,
          event_type: first.type,
          attempt: 0,
          outcome: 'dropped',
          status_code: null,
          error: `${lost.length} event${lost.length === 1 ? '' : 's'} (ledger seq ${first.seq}–${last.seq}) not queued: ${maxPending} deliveries already waiting for this subscription; GET /v1/events?cursor=${first.seq - 1} has them`,
          duration_ms: 0,
          at: at.toISOString(),
        })
        .execute();
    }
    return { kept, dropped };
  }
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
    const jobs: Job[] = [];
    for (const e of entries) {
      for (const s of subscribersOf(e, byTenant)) {
        const payload = { subscriptionId: s.id, seq: e.seq, type: e.action };
        jobs.push({ kind: 'webhook_delivery', subjectId: webhookJobSubject(payload), tenantId: s.tenantId, payload });
      }
    }
    const to = entries[entries.length - 1]!.seq;
    // The cursor, the jobs, the waiting counts and the drop rows commit together: a crash repeats the page whole or not at all.
    const moved = await storage.db.transaction().execute(async (trx) => {
      if (!(await moveLedgerCursor(trx, CURSOR, from, to, clock.now()))) return null;
      const { kept, dropped } = await bound(trx, jobs);
      await deps.enqueue(trx, kept, clock.now(), LANE.bulk);
      return { kept: kept.length, dropped };
    });
    if (!moved) return 0;
    for (const d of moved.dropped) deps.logger.warn({ subscriptionId: d.subscriptionId, dropped: d.n, fromSeq: d.fromSeq, toSeq: d.toSeq, maxPending }, 'webhook events dropped: too many deliveries waiting for the subscription');
    if (moved.kept > 0) deps.onEnqueued();
    return entries.length;
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
