import { Type, type Static } from 'typebox';
import { endpoint } from '../contract/endpoint.ts';
import { IdOf, LimitParam, Nullable, Text, Timestamp } from '../contract/schemas.ts';
import { CAMPAIGN_STATUSES, DECISIONS, ITEM_STATUSES, REVIEW_LIMITS } from './review.types.ts';

const OwnerName = Type.String({ minLength: 1, maxLength: 200, description: 'An owner as tokens name them (matched without regard to case, as the owners directory does)' });

export const ReviewProgressSchema = Type.Object(
  {
    total: Type.Integer({ description: 'Items: one per live token the campaign covered when it was created' }),
    decided: Type.Integer({ description: 'kept + revoked + reassigned' }),
    open: Type.Integer({ description: 'Not decided yet' }),
    kept: Type.Integer(),
    revoked: Type.Integer(),
    reassigned: Type.Integer(),
    escalated: Type.Integer({ description: 'Still open at the deadline: the token’s review fell due and enforcement took over' }),
  },
  { $id: 'ReviewProgress' },
);

export const ReviewCampaignSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    tenantId: Nullable(Type.String({ description: 'null: a platform campaign (by owner or provider, over tenants), seen by platform staff only' })),
    owner: Nullable(Type.String()),
    providerId: Nullable(Type.String()),
    status: Type.Enum(CAMPAIGN_STATUSES, { description: 'creating (items being written) → open → closed (every item decided or escalated)' }),
    dueAt: Timestamp,
    remindDaysBefore: Type.Integer(),
    remindAt: Timestamp,
    remindersSentAt: Nullable(Timestamp),
    createdBy: Type.String(),
    createdAt: Timestamp,
    closedAt: Nullable(Timestamp),
    progress: ReviewProgressSchema,
  },
  { $id: 'ReviewCampaign' },
);
export type ReviewCampaign = Static<typeof ReviewCampaignSchema>;

export const ReviewItemSchema = Type.Object(
  {
    id: Type.String(),
    campaignId: Type.String(),
    tenantId: Type.String(),
    tokenId: Type.String(),
    reviewer: Type.Object({
      kind: Type.Union([Type.Literal('owner'), Type.Literal('tenant_admins')], { description: 'owner: the token’s owner (active in the owners directory); tenant_admins: the tenant’s administrators' }),
      name: Type.String({ description: 'The owner’s name, or tenant_admins' }),
    }),
    status: Type.Enum(ITEM_STATUSES),
    decidedAt: Nullable(Timestamp),
    decidedBy: Nullable(Type.String({ description: 'The actor, as the ledger names them (system:reviews for an escalation)' })),
    justification: Nullable(Type.String({ description: 'A keep’s justification (it became the token’s purpose)' })),
    reason: Nullable(Type.String({ description: 'A revoke’s or reassign’s reason, or why it was escalated' })),
    newOwner: Nullable(Type.String({ description: 'A reassign’s new owner' })),
    remindedAt: Nullable(Timestamp),
    reminderNoticeId: Nullable(Type.String({ description: 'Its one reminder, once given (GET /v1/notices/{id})' })),
    createdAt: Timestamp,
  },
  { $id: 'ReviewItem' },
);
export type ReviewItem = Static<typeof ReviewItemSchema>;

export const CreateReviewBody = Type.Object(
  {
    name: Text(200, 'What the campaign is, e.g. "Q1 2027 review of acme"'),
    tenantId: Type.Optional(IdOf('tenant', 'Every live token of this tenant (a tenant administrator must name their own)')),
    owner: Type.Optional(OwnerName),
    providerId: Type.Optional(IdOf('provider')),
    dueAt: Timestamp,
    remindDaysBefore: Type.Optional(
      Type.Integer({ minimum: 0, maximum: REVIEW_LIMITS.maxRemindDaysBefore, description: `Reminders go this many days before dueAt (default ${REVIEW_LIMITS.defaultRemindDaysBefore}; at once when that is already past)` }),
    ),
  },
  { additionalProperties: false },
);

export const ReviewListQuery = Type.Object(
  {
    tenantId: Type.Optional(IdOf('tenant')),
    status: Type.Optional(Type.Enum(CAMPAIGN_STATUSES)),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    limit: LimitParam,
  },
  { additionalProperties: false },
);

export const ReviewItemsQuery = Type.Object(
  {
    status: Type.Optional(Type.Enum(ITEM_STATUSES)),
    reviewer: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'An owner’s name, or tenant_admins' })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    limit: LimitParam,
  },
  { additionalProperties: false },
);

export const DecideBody = Type.Object(
  {
    decision: Type.Enum(DECISIONS, { description: 'keep (with a fresh justification), revoke (with a reason), reassign (with newOwner and a reason)' }),
    justification: Type.Optional(Type.String({ maxLength: 1000, description: `keep: why the token is still needed (at least ${REVIEW_LIMITS.minJustification} characters); it becomes the token’s purpose and its review date moves as POST /v1/tokens/{id}/justify moves it` })),
    newOwner: Type.Optional(OwnerName),
    reason: Type.Optional(Type.String({ maxLength: 500, description: 'revoke, reassign: why (recorded in the ledger)' })),
  },
  { additionalProperties: false },
);

export const DecisionResult = Type.Object({
  item: ReviewItemSchema,
  token: Type.Object({
    id: Type.String(),
    state: Type.String(),
    owner: Type.String(),
    purpose: Nullable(Type.String()),
    reviewDueAt: Nullable(Timestamp),
  }),
});

const tags = ['reviews'];
const CampaignParams = Type.Object({ id: IdOf('reviewCampaign') });
const ItemParams = Type.Object({ id: IdOf('reviewCampaign'), itemId: IdOf('reviewItem') });

export const reviewEndpoints = {
  create: endpoint({
    method: 'POST',
    path: '/v1/reviews',
    summary: 'Start an access review campaign',
    description:
      'One item per live (active or suspended) token of the scope — a tenant, an owner, a provider, or a combination, which narrows — assigned to the token’s owner, or to the tenant’s administrators when the owner is unknown or inactive in the owners directory. ' +
      `At most ${REVIEW_LIMITS.maxItems.toLocaleString('en')} items. Reminders go as notices before dueAt; items still open at dueAt are escalated (the token’s review falls due and enforcement takes over). ` +
      'A tenant administrator reviews their own tenant only and must name it. Ledgered (review.created).',
    tags,
    permission: 'reviews.manage',
    body: CreateReviewBody,
    status: 201,
    response: ReviewCampaignSchema,
    errors: ['review_scope_required', 'review_scope_empty', 'review_too_large', 'tenant_required', 'tenant_not_found', 'provider_not_found'],
  }),
  list: endpoint({
    method: 'GET',
    path: '/v1/reviews',
    summary: 'Access review campaigns, newest first, with their progress',
    description: 'A tenant administrator sees their tenant’s campaigns, and the platform’s (by owner or provider) that hold items of their tenant — with their tenant’s items and counts only.',
    tags,
    permission: 'reviews.read',
    query: ReviewListQuery,
    status: 200,
    response: Type.Object({ items: Type.Array(ReviewCampaignSchema), nextCursor: Nullable(Type.String()) }),
    errors: ['invalid_cursor', 'tenant_not_found'],
  }),
  get: endpoint({ method: 'GET', path: '/v1/reviews/:id', summary: 'One campaign, with its progress', tags, permission: 'reviews.read', params: CampaignParams, status: 200, response: ReviewCampaignSchema, errors: ['review_not_found'] }),
  items: endpoint({
    method: 'GET',
    path: '/v1/reviews/:id/items',
    summary: 'A campaign’s items, in creation order, filtered by status or reviewer',
    tags,
    permission: 'reviews.read',
    params: CampaignParams,
    query: ReviewItemsQuery,
    status: 200,
    response: Type.Object({ items: Type.Array(ReviewItemSchema), nextCursor: Nullable(Type.String()) }),
    errors: ['review_not_found', 'invalid_cursor'],
  }),
  decide: endpoint({
    method: 'POST',
    path: '/v1/reviews/:id/items/:itemId/decide',
    summary: 'Decide an item: keep, revoke or reassign its token',
    description:
      'keep re-justifies the token (POST /v1/tokens/{id}/justify: the justification becomes its purpose and its review date moves); revoke revokes it (at the issuer too, through the outbox); reassign moves it to another active owner. ' +
      'The token’s change and the decision commit together, each ledgered (review.decided with the campaign, item, token, decision and actor). A decision is final: 409 review_item_decided; a token revoked or expired meanwhile: 409 review_token_ended.',
    tags,
    permission: 'reviews.decide',
    params: ItemParams,
    body: DecideBody,
    status: 200,
    response: DecisionResult,
    errors: ['review_not_found', 'review_item_not_found', 'review_item_decided', 'review_token_ended', 'owner_not_found', 'owner_inactive'],
  }),
};
