import { Type, type Static } from 'typebox';
import { endpoint } from '../contract/endpoint.ts';
import { IdOf, LimitParam, Nullable, Timestamp } from '../contract/schemas.ts';
import { FINDING_TYPES } from './finding.types.ts';

export const NoticeSchema = Type.Object(
  {
    id: Type.String(),
    tenantId: Type.String(),
    tokenId: Type.String(),
    findingId: Type.String({ description: 'The finding; for an access review reminder (action escalate), the review item' }),
    findingType: Type.Enum(FINDING_TYPES),
    action: Type.Union([Type.Literal('suspend'), Type.Literal('escalate')], { description: 'What happens at the deadline: suspend (enforcement), or escalate (an access review reminder: the undecided item is escalated and the token’s review falls due)' }),
    deadline: Timestamp,
    message: Type.String({ description: 'What was found, what will happen when, and how to prevent or undo it' }),
    recipients: Type.Array(
      Type.Object({
        kind: Type.Union([Type.Literal('owner'), Type.Literal('approver'), Type.Literal('tenant_admins'), Type.Literal('platform_admins')]),
        name: Type.String(),
        address: Nullable(Type.String({ description: "The owner's contact or the approver's email, when known" })),
      }),
    ),
    link: Nullable(
      Type.Object(
        {
          id: Type.String(),
          url: Nullable(Type.String({ description: 'The single-use reauthorisation link; shown to the roles that may reauthorise (not auditors)' })),
          expiresAt: Timestamp,
        },
        { description: 'The reauthorisation link sent with the notice (null: the provider runs no consent)' },
      ),
    ),
    policyVersion: Type.Object({ global: Type.Integer(), tenant: Type.Integer() }),
    createdAt: Timestamp,
    delivery: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('gave_up')], { description: 'Delivery through the notifiers (the outbox retries it)' }),
    deliveredAt: Nullable(Timestamp),
  },
  { $id: 'Notice' },
);
export type Notice = Static<typeof NoticeSchema>;

export const NoticeQuery = Type.Object(
  {
    tenantId: Type.Optional(IdOf('tenant')),
    tokenId: Type.Optional(IdOf('token')),
    findingType: Type.Optional(Type.Enum(FINDING_TYPES)),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    limit: LimitParam,
  },
  { additionalProperties: false },
);

const tags = ['enforcement'];

export const noticeEndpoints = {
  list: endpoint({
    method: 'GET',
    path: '/v1/notices',
    summary: 'Notices given before enforcement, newest first',
    description: 'Each notice names the token, the finding, the deadline and the reauthorisation link; a tenant administrator sees their tenant’s only.',
    tags,
    permission: 'notices.read',
    query: NoticeQuery,
    status: 200,
    response: Type.Object({ items: Type.Array(NoticeSchema), nextCursor: Nullable(Type.String()) }),
    errors: ['invalid_cursor'],
  }),
  get: endpoint({ method: 'GET', path: '/v1/notices/:id', summary: 'One notice', tags, permission: 'notices.read', params: Type.Object({ id: IdOf('notice') }), status: 200, response: NoticeSchema, errors: ['notice_not_found'] }),
};
