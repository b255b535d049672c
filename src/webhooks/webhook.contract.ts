import { Type, type Static } from 'typebox';
import { endpoint } from '../contract/endpoint.ts';
import { IdOf, LimitParam, Nullable, Text, Timestamp } from '../contract/schemas.ts';
import { MAX_FILTERS } from './webhook.events.ts';

export const WebhookSchema = Type.Object(
  {
    id: Type.String(),
    tenantId: Nullable(Type.String({ description: 'The tenant whose events it takes; null: every tenant (platform-wide)' })),
    url: Type.String(),
    events: Type.Array(Type.String(), { description: 'Event types and prefixes it takes: token.revoked, alert.*, *' }),
    description: Nullable(Type.String()),
    includeNoticeLinks: Type.Boolean({ description: "Whether notice.created events carry the notice's single-use reauthorisation link" }),
    createdAt: Timestamp,
    createdBy: Type.String(),
  },
  { $id: 'Webhook' },
);
export type Webhook = Static<typeof WebhookSchema>;

export const CreatedWebhookSchema = Type.Object({
  ...WebhookSchema.properties,
  secret: Type.String({ description: 'The Standard Webhooks signing secret (whsec_…): shown once, here; Custody keeps it encrypted and never shows it again' }),
});

export const CreateWebhookBody = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 2000, description: 'https URL of the receiver (http and private hosts outside production only)' }),
    events: Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { minItems: 1, maxItems: MAX_FILTERS }),
    tenantId: Type.Optional(IdOf('tenant', "Only this tenant's events (a tenant administrator's subscriptions are always its own tenant's)")),
    description: Type.Optional(Text(200)),
    includeNoticeLinks: Type.Optional(Type.Boolean({ description: 'Send the reauthorisation link with each notice (default false); for a mailer that forwards notices to customers' })),
  },
  { additionalProperties: false },
);
export type CreateWebhookInput = Static<typeof CreateWebhookBody>;

export const WebhookDeliverySchema = Type.Object(
  {
    id: Type.String(),
    messageId: Type.String({ description: 'The webhook-id header: the same on every attempt of one message' }),
    eventType: Type.String(),
    attempt: Type.Integer(),
    outcome: Type.Union([Type.Literal('delivered'), Type.Literal('failed'), Type.Literal('gave_up'), Type.Literal('dropped')], {
      description: 'failed: will be retried; gave_up: no more attempts (an alert was raised); dropped: events not queued because too many were already waiting (the error says how many)',
    }),
    statusCode: Nullable(Type.Integer()),
    error: Nullable(Type.String()),
    durationMs: Type.Integer(),
    at: Timestamp,
  },
  { $id: 'WebhookDelivery' },
);
export type WebhookDelivery = Static<typeof WebhookDeliverySchema>;

const Page = Type.Object({ cursor: Type.Optional(Type.String({ maxLength: 200 })), limit: LimitParam }, { additionalProperties: false });
const tags = ['webhooks'];
const params = Type.Object({ id: IdOf('webhook') });

export const webhookEndpoints = {
  create: endpoint({
    method: 'POST',
    path: '/v1/webhooks',
    summary: 'Subscribe a receiver to events (Standard Webhooks)',
    description:
      'Each event is POSTed as `{type, timestamp, data}` with `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<HMAC-SHA256>` headers, retried with backoff until the receiver answers 2xx. The signing secret is in this answer only.',
    tags,
    permission: 'webhooks.manage',
    body: CreateWebhookBody,
    status: 201,
    response: CreatedWebhookSchema,
    errors: ['tenant_not_found', 'webhook_url_refused', 'webhook_filter_invalid', 'webhook_limit_reached'],
  }),
  list: endpoint({
    method: 'GET',
    path: '/v1/webhooks',
    summary: 'Webhook subscriptions (never their secrets)',
    description: 'A tenant administrator sees its tenant’s subscriptions only.',
    tags,
    permission: 'webhooks.read',
    query: Type.Object({ tenantId: Type.Optional(IdOf('tenant')), cursor: Type.Optional(Type.String({ maxLength: 200 })), limit: LimitParam }, { additionalProperties: false }),
    status: 200,
    response: Type.Object({ items: Type.Array(WebhookSchema), nextCursor: Nullable(Type.String()) }),
    errors: ['invalid_cursor'],
  }),
  get: endpoint({ method: 'GET', path: '/v1/webhooks/:id', summary: 'One webhook subscription', tags, permission: 'webhooks.read', params, status: 200, response: WebhookSchema, errors: ['webhook_not_found'] }),
  remove: endpoint({
    method: 'DELETE',
    path: '/v1/webhooks/:id',
    summary: 'Remove a webhook subscription',
    description: 'Nothing more is sent to it, including retries already queued. Its delivery log goes with it.',
    tags,
    permission: 'webhooks.manage',
    params,
    status: 200,
    response: WebhookSchema,
    errors: ['webhook_not_found'],
  }),
  deliveries: endpoint({
    method: 'GET',
    path: '/v1/webhooks/:id/deliveries',
    summary: 'The delivery log of a subscription, newest first',
    description: 'One row per attempt: the answer’s status code or the error, and how long it took. Rows older than the retention are pruned.',
    tags,
    permission: 'webhooks.read',
    params,
    query: Page,
    status: 200,
    response: Type.Object({ items: Type.Array(WebhookDeliverySchema), nextCursor: Nullable(Type.String()) }),
    errors: ['webhook_not_found', 'invalid_cursor'],
  }),
};
