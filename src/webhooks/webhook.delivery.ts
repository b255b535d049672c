import { sql } from 'kysely';
import { request, type Dispatcher } from 'undici';
import type { AlertService } from '../alerts/alert.service.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { Completion, DeliveryResult, OutboxHandler, OutboxJob } from '../outbox/outbox.types.ts';
import type { Clock } from '../shared/clock.ts';
import { CustodyError } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import type { Secret } from '../shared/secret.ts';
import type { Db, Storage } from '../storage/database.ts';
import type { WebhookDeliveriesTable } from '../storage/schema.ts';
import { createSsrfGuard, targetRefusalOf, type Resolver } from '../gateway/ssrf-guard.ts';
import { ledgerMessage, type WebhookMessage } from './webhook.events.ts';
import { checkWebhookUrl, type StoredSubscription, type WebhookService } from './webhook.service.ts';
import { signMessage } from './webhook.signature.ts';

/** The job of one message to one subscription: a ledger entry by its seq, or a notice by its id (webhook.notifier.ts). */
export type WebhookJobPayload = ({ subscriptionId: string; seq: number } | { subscriptionId: string; noticeId: string }) & { type: string };

/** At most one job per (kind, subject): the subject names the subscription and the message, so a re-enqueue is a no-op. */
export const webhookJobSubject = (p: WebhookJobPayload) => ('seq' in p ? `${p.subscriptionId}:ledger:${p.seq}` : `${p.subscriptionId}:notice:${p.noticeId}`);

export interface WebhookDeliveryOptions {
  /** Per attempt: connect, answer headers, and the whole exchange. */
  timeoutMs: number;
  production: boolean;
  resolve?: Resolver;
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

const errorText = (err: unknown, timeoutMs: number): string => {
  const refusal = targetRefusalOf(err);
  if (refusal) return `refused: ${refusal.host} is a ${refusal.range} address`;
  const e = err as { name?: string; code?: string | number; message?: string; cause?: { code?: string; message?: string } };
  // The deadline's DOMException would read "23: The operation was aborted due to timeout".
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || TIMEOUT_CODES.has(String(e.code ?? e.cause?.code))) return `timed out after ${timeoutMs} ms`;
  return `${e.code ?? e.cause?.code ?? 'error'}: ${e.message ?? String(err)}`.slice(0, 300);
};

/**
 * Delivers webhook jobs (outbox kind `webhook_delivery`, bulk lane) per Standard Webhooks: the body
 * is rebuilt from its source at each attempt (the outbox holds no bodies or secrets), signed with
 * the subscription's secret, and POSTed through a pool whose connections are pinned to addresses
 * the gateway's policy allows (no redirects followed). 2xx is delivered; anything else is retried
 * with the outbox's backoff and finally given up with an alert (`webhook_undelivered`). Each
 * attempt writes a delivery-log row: status code or error, and duration; never the secret.
 */
export function createWebhookDelivery(deps: {
  storage: Storage;
  ledger: LedgerService;
  alerts: AlertService;
  webhooks: WebhookService;
  clock: Clock;
  logger: Logger;
  options: WebhookDeliveryOptions;
  /** A notice's message (with its link when the subscription opted in), or null when it is gone. */
  noticeMessage: (noticeId: string, includeLink: boolean) => Promise<WebhookMessage | null>;
}) {
  const { storage, ledger, clock, webhooks, options } = deps;
  const guard = createSsrfGuard({ connectionsPerOrigin: 8, connectTimeoutMs: options.timeoutMs, ...(options.resolve ? { resolve: options.resolve } : {}) });
  const pool: Dispatcher = guard.dispatcherFor(!options.production);

  async function messageOf(sub: StoredSubscription, p: WebhookJobPayload): Promise<WebhookMessage | null> {
    if ('noticeId' in p) return deps.noticeMessage(p.noticeId, sub.includeNoticeLinks);
    const [entry] = await ledger.list({ afterSeq: p.seq - 1, order: 'asc', limit: 1 });
    return entry && entry.seq === p.seq ? ledgerMessage(entry) : null;
  }

  /** A ledger message left the outbox (delivered, given up, or nothing left to send): one fewer waiting. Notices are not counted. */
  async function countFinished(trx: Db, p: WebhookJobPayload): Promise<void> {
    if (!('seq' in p)) return;
    await trx
      .updateTable('webhook_subscriptions')
      .set({ pending_jobs: sql`case when pending_jobs > 0 then pending_jobs - 1 else 0 end` })
      .where('id', '=', p.subscriptionId)
      .execute();
  }

  async function logAttempt(db: Db, row: Omit<WebhookDeliveriesTable, 'id'>): Promise<void> {
    await db.insertInto('webhook_deliveries').values({ id: newId('webhookDelivery', clock.now().getTime()), ...row }).execute();
  }

  /** One POST; resolves with the status code (any), rejects on a network failure or timeout. */
  async function post(url: string, msg: WebhookMessage, secret: Secret): Promise<{ status: number; retryAfterMs?: number }> {
    const ts = Math.floor(clock.now().getTime() / 1000);
    const res = await request(url, {
      method: 'POST',
      dispatcher: pool,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Custody-Webhooks/1',
        'webhook-id': msg.id,
        'webhook-timestamp': String(ts),
        'webhook-signature': signMessage(secret, msg.id, ts, msg.body),
      },
      body: msg.body,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    // The answer's body is not read beyond what the connection needs: receivers owe us only a status.
    await res.body.dump({ limit: 64 * 1024 }).catch(() => {});
    const ra = res.headers['retry-after'];
    const seconds = typeof ra === 'string' && /^\d{1,6}$/.test(ra) ? Number(ra) * 1000 : undefined;
    return { status: res.statusCode, ...(seconds !== undefined ? { retryAfterMs: seconds } : {}) };
  }

  const handler: OutboxHandler = {
    async deliver(job: OutboxJob): Promise<DeliveryResult> {
      const payload = job.payload as WebhookJobPayload;
      const finishQuietly: DeliveryResult = {
        kind: 'done',
        record: async (complete) =>
          storage.db.transaction().execute(async (trx) => {
            if (await complete(trx)) await countFinished(trx, payload);
          }),
      };
      const sub = await webhooks.find(storage.db, payload.subscriptionId);
      // Removed since: nothing more is sent to it.
      if (!sub) return finishQuietly;
      const msg = await messageOf(sub, payload);
      if (!msg) return finishQuietly;
      const secret = await webhooks.secretOf(storage.db, sub.id);
      if (!secret) return finishQuietly;
      const started = performance.now();
      let status: number | null = null;
      let error: string | null = null;
      let retryAfterMs: number | undefined;
      try {
        // The rule at delivery, not only at creation: a deployment moved to production stops sending to private hosts.
        checkWebhookUrl(sub.url, options.production);
        const answer = await post(sub.url, msg, secret);
        status = answer.status;
        retryAfterMs = answer.retryAfterMs;
        if (status < 200 || status > 299) error = status >= 300 && status < 400 ? `HTTP ${status}: redirects are not followed` : `HTTP ${status}`;
      } catch (err) {
        error = err instanceof CustodyError ? `refused: ${err.message}` : errorText(err, options.timeoutMs);
      }
      const durationMs = Math.round(performance.now() - started);
      const row = { subscription_id: sub.id, message_id: msg.id, event_type: msg.type, attempt: job.attempts, status_code: status, error, duration_ms: durationMs, at: clock.now().toISOString() };
      if (error === null) {
        return {
          kind: 'done',
          record: async (complete) => {
            await storage.db.transaction().execute(async (trx) => {
              if (!(await complete(trx))) return;
              await countFinished(trx, payload);
              await logAttempt(trx, { ...row, outcome: 'delivered' });
            });
          },
        };
      }
      await logAttempt(storage.db, { ...row, outcome: 'failed' });
      return { kind: 'retry', error: `webhook ${sub.id}: ${error}`, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
    },

    async giveUp(complete: Completion, job: OutboxJob, lastError: string): Promise<void> {
      const payload = job.payload as WebhookJobPayload;
      await storage.db.transaction().execute(async (trx) => {
        if (!(await complete(trx))) return;
        await countFinished(trx, payload);
        const sub = await webhooks.find(trx, payload.subscriptionId);
        if (!sub) return;
        const at = clock.now();
        const messageId = 'seq' in payload ? `msg_ledger_${payload.seq}` : `msg_${payload.noticeId}`;
        await logAttempt(trx, { subscription_id: sub.id, message_id: messageId, event_type: payload.type ?? 'unknown', attempt: job.attempts, outcome: 'gave_up', status_code: null, error: lastError.slice(0, 300), duration_ms: 0, at: at.toISOString() });
        await ledger.append(trx, { actor: 'system:webhooks', action: 'webhook.undelivered', tenantId: sub.tenantId, subjectId: sub.id, data: { messageId, attempts: job.attempts, error: lastError.slice(0, 300) } });
        await deps.alerts.raise(
          trx,
          {
            kind: 'webhook_undelivered',
            severity: 'medium',
            tenantId: sub.tenantId,
            subjectId: sub.id,
            message: `Webhook ${sub.id} could not deliver ${messageId} after ${job.attempts} attempts (${lastError.slice(0, 200)}). Check the receiver, then read GET /v1/webhooks/${sub.id}/deliveries; events it missed are in GET /v1/events.`,
            data: { subscriptionId: sub.id, messageId },
          },
          at,
        );
      });
      deps.logger.warn({ subscriptionId: payload.subscriptionId, attempts: job.attempts }, 'webhook delivery given up');
    },
  };

  return { handler, close: () => guard.close() };
}

export type WebhookDelivery = ReturnType<typeof createWebhookDelivery>;
