import type { FastifyInstance } from 'fastify';
import { mount } from '../http/mount.ts';
import { decodeCursor } from '../shared/cursor.ts';
import { webhookEndpoints as w } from './webhook.contract.ts';
import type { WebhookService } from './webhook.service.ts';

export function webhookRoutes(webhooks: WebhookService) {
  return async (app: FastifyInstance) => {
    mount(app, w.create, async ({ principal, body }) => webhooks.create(principal, body));
    mount(app, w.list, async ({ principal, query: q }) =>
      webhooks.list(principal, { tenantId: q.tenantId, afterId: q.cursor === undefined ? undefined : decodeCursor('webhook', q.cursor), limit: q.limit === undefined ? 50 : Number(q.limit) }),
    );
    mount(app, w.get, async ({ principal, params }) => webhooks.get(principal, params.id));
    mount(app, w.remove, async ({ principal, params }) => webhooks.remove(principal, params.id));
    mount(app, w.deliveries, async ({ principal, params, query: q }) => webhooks.deliveries(principal, params.id, { cursor: q.cursor, limit: q.limit === undefined ? 50 : Number(q.limit) }));
  };
}
