import type { Notice } from '../governance/notice.contract.ts';
import type { Notifier } from '../governance/notice.service.ts';
import { LANE, type OutboxEnqueuer } from '../outbox/outbox.enqueue.ts';
import type { Clock } from '../shared/clock.ts';
import type { Storage } from '../storage/database.ts';
import { webhookJobSubject, type WebhookJobPayload } from './webhook.delivery.ts';
import { filterTakes, type WebhookMessage } from './webhook.events.ts';
import type { WebhookService } from './webhook.service.ts';

export const NOTICE_EVENT = 'notice.created';

/**
 * Notices of Governance II reach webhooks through this notifier: each notice becomes one
 * `notice.created` message per subscription that takes it (its tenant's, and the platform's),
 * queued in the outbox, where each subscription is retried on its own. Idempotent on the notice:
 * the outbox holds one job per subscription and notice, so a notice delivered again (a lost lease)
 * queues nothing new. The notice counts as delivered once its messages are queued.
 */
export function webhookNotifier(deps: { storage: Storage; webhooks: WebhookService; enqueue: OutboxEnqueuer; clock: Clock; onEnqueued: () => void }): Notifier {
  return {
    name: 'webhooks',
    async deliver(notice) {
      const subs = (await deps.webhooks.all()).filter((s) => (s.tenantId === null || s.tenantId === notice.tenantId) && filterTakes(s.events, NOTICE_EVENT));
      if (subs.length === 0) return;
      const jobs = subs.map((s) => {
        const payload: WebhookJobPayload = { subscriptionId: s.id, noticeId: notice.noticeId, type: NOTICE_EVENT };
        return { kind: 'webhook_delivery' as const, subjectId: webhookJobSubject(payload), tenantId: s.tenantId, payload };
      });
      await deps.storage.db.transaction().execute((trx) => deps.enqueue(trx, jobs, deps.clock.now(), LANE.bulk));
      deps.onEnqueued();
    },
  };
}

/**
 * A notice's message. The reauthorisation link is a bearer of the customer's consent: it is sent
 * only to a subscription that opted in (`includeNoticeLinks`, which only roles that may reauthorise
 * can set); others get the link's id and expiry, and read the link with GET /v1/notices/{id}.
 */
export function noticeMessage(notice: Notice, includeLink: boolean): WebhookMessage {
  const link = notice.link ? { id: notice.link.id, expiresAt: notice.link.expiresAt, url: includeLink ? notice.link.url : null } : null;
  const body = {
    type: NOTICE_EVENT,
    timestamp: notice.createdAt,
    data: {
      noticeId: notice.id,
      tenantId: notice.tenantId,
      tokenId: notice.tokenId,
      findingId: notice.findingId,
      findingType: notice.findingType,
      action: notice.action,
      deadline: notice.deadline,
      message: notice.message,
      recipients: notice.recipients,
      link,
    },
  };
  return { id: `msg_${notice.id}`, type: NOTICE_EVENT, body: JSON.stringify(body) };
}
