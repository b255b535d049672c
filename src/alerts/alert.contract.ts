import { Type, type Static } from 'typebox';
import { endpoint } from '../contract/endpoint.ts';
import { IdOf, LimitParam, Nullable, ReasonBody, Timestamp } from '../contract/schemas.ts';
import { ALERT_SEVERITIES, ALERT_STATUSES } from './alert.types.ts';

const Kind = Type.String({ pattern: '^[a-z][a-z0-9_.]{0,63}$', description: 'An alert kind, e.g. use_after_revoke, revoked_at_issuer, upstream_revocation_failed' });
const Done = Type.Object({ at: Timestamp, by: Type.String({ description: 'The actor, as the ledger names them' }), reason: Nullable(Type.String()) });

const alertFields = {
  id: Type.String(),
  kind: Type.String(),
  severity: Type.Enum(ALERT_SEVERITIES),
  status: Type.Enum(ALERT_STATUSES),
  tenantId: Nullable(Type.String({ description: 'null: a platform-wide alert (seen by platform roles only)' })),
  tokenId: Nullable(Type.String({ description: 'The token it is about, when it is about one' })),
  subjectId: Nullable(Type.String()),
  message: Type.String(),
  data: Type.Record(Type.String(), Type.Unknown()),
  count: Type.Integer({ description: 'How many times it was raised while not resolved (a repeat bumps the open alert)' }),
  firstSeenAt: Timestamp,
  lastSeenAt: Timestamp,
  acknowledgement: Nullable(Done),
  resolution: Nullable(Done),
};

export const AlertSchema = Type.Object(alertFields, { $id: 'Alert' });
export type Alert = Static<typeof AlertSchema>;

export const AlertDetailSchema = Type.Object(
  {
    ...alertFields,
    evidence: Type.Array(Type.Object({ kind: Type.String() }, { additionalProperties: true }), {
      description: 'What caused it and its newest repeats (at most 20, oldest first): usage events, a signal, a leak report…',
    }),
  },
  { $id: 'AlertDetail' },
);
export type AlertDetail = Static<typeof AlertDetailSchema>;

export const AlertQuery = Type.Object(
  {
    tenantId: Type.Optional(IdOf('tenant')),
    tokenId: Type.Optional(IdOf('token')),
    kind: Type.Optional(Kind),
    type: Type.Optional(Type.String({ ...Kind, description: 'Another name for kind (as findings call it)' })),
    severity: Type.Optional(Type.Enum(ALERT_SEVERITIES)),
    status: Type.Optional(Type.Enum(ALERT_STATUSES, { description: 'Default: open and acknowledged (every alert not resolved)' })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    limit: LimitParam,
  },
  { additionalProperties: false },
);

const tags = ['alerts'];
const AlertParams = Type.Object({ id: IdOf('alert') });

export const alertEndpoints = {
  list: endpoint({
    method: 'GET',
    path: '/v1/alerts',
    summary: 'Alerts, newest first, filtered and paged',
    description: 'A tenant administrator sees their tenant’s only (never platform-wide ones). Without `status`, every alert not resolved. Items leave out the evidence: read one alert for it.',
    tags,
    permission: 'alerts.read',
    query: AlertQuery,
    status: 200,
    response: Type.Object({ items: Type.Array(AlertSchema), nextCursor: Nullable(Type.String()) }),
    errors: ['invalid_cursor'],
  }),
  get: endpoint({ method: 'GET', path: '/v1/alerts/:id', summary: 'One alert, with its evidence', tags, permission: 'alerts.read', params: AlertParams, status: 200, response: AlertDetailSchema, errors: ['alert_not_found'] }),
  acknowledge: endpoint({
    method: 'POST',
    path: '/v1/alerts/:id/acknowledge',
    summary: 'Acknowledge an alert (seen, being worked on)',
    description: 'It stays until resolved; repeats still bump it. Ledgered (alert.acknowledged) with the actor and reason.',
    tags,
    permission: 'alerts.manage',
    params: AlertParams,
    body: ReasonBody,
    status: 200,
    response: AlertDetailSchema,
    errors: ['alert_not_found', 'alert_resolved'],
  }),
  resolve: endpoint({
    method: 'POST',
    path: '/v1/alerts/:id/resolve',
    summary: 'Resolve an alert (dealt with)',
    description: 'A later repeat of its kind about the same subject opens a new alert. Ledgered (alert.resolved) with the actor and reason.',
    tags,
    permission: 'alerts.manage',
    params: AlertParams,
    body: ReasonBody,
    status: 200,
    response: AlertDetailSchema,
    errors: ['alert_not_found', 'alert_resolved'],
  }),
};
