import { Type, type Static } from 'typebox';
import { endpoint } from '../contract/endpoint.ts';
import { IdOf, Nullable, Timestamp } from '../contract/schemas.ts';

/**
 * The SSF transmitter's public surface (OpenID Shared Signals Framework 1.0): the transmitter
 * configuration metadata and its JWKS (public, read-only), and the stream management API (a
 * Custody API key). Field names are the specification's (snake_case), not the house's camelCase:
 * an SSF receiver's own client reads and writes these documents, and must find the names the
 * standard gives them. Custody's additions (tenant_id, status, counters) follow the same style.
 */

const EventUri = Type.String({ minLength: 1, maxLength: 300, description: 'An event-type URI' });
const EventList = Type.Array(EventUri, { maxItems: 20 });
const StreamId = IdOf('ssfStream', 'The stream id (stream_id)');
const StatusValue = Type.Union([Type.Literal('enabled'), Type.Literal('paused'), Type.Literal('disabled')]);

export const TransmitterConfigurationSchema = Type.Object(
  {
    spec_version: Type.String(),
    issuer: Type.String(),
    jwks_uri: Type.String(),
    delivery_methods_supported: Type.Array(Type.String()),
    configuration_endpoint: Type.String(),
    status_endpoint: Type.String(),
    verification_endpoint: Type.String(),
    authorization_schemes: Type.Array(Type.Object({ spec_urn: Type.String() })),
    default_subjects: Type.String(),
  },
  { $id: 'SsfTransmitterConfiguration' },
);

export const JwksSchema = Type.Object(
  {
    keys: Type.Array(
      Type.Object({ kty: Type.String(), crv: Type.String(), x: Type.String(), y: Type.String(), kid: Type.String(), use: Type.String(), alg: Type.String() }),
    ),
  },
  { $id: 'SsfJwks' },
);

export const StreamSchema = Type.Object(
  {
    stream_id: Type.String(),
    iss: Type.String(),
    aud: Type.String({ description: 'The aud claim of every SET of this stream' }),
    events_supported: Type.Array(Type.String()),
    events_requested: Type.Array(Type.String()),
    events_delivered: Type.Array(Type.String()),
    delivery: Type.Object({
      method: Type.String(),
      endpoint_url: Type.String(),
    }),
    min_verification_interval: Type.Integer({ description: 'Seconds between verification requests, at least' }),
    description: Nullable(Type.String()),
    tenant_id: Type.String(),
    status: StatusValue,
    status_reason: Nullable(Type.String()),
    authorization_header_set: Type.Boolean({ description: 'Whether pushes carry the Authorization value the receiver gave (kept encrypted, never shown)' }),
    pending_events: Type.Integer({ description: 'SETs waiting in the outbox (held while paused)' }),
    delivered_events: Type.Integer(),
    dropped_events: Type.Integer({ description: 'SETs given up after retries, dropped while paused too long, or past the bound of waiting SETs' }),
    last_delivered_at: Nullable(Timestamp),
    last_error: Nullable(Type.String()),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { description: 'An SSF stream (SSF 1.0 §8.1.1) with Custody’s additions' },
);
export type StreamConfig = Static<typeof StreamSchema>;

const DeliveryInput = Type.Object(
  {
    method: Type.String({ maxLength: 100, description: 'urn:ietf:rfc:8935 (push)' }),
    endpoint_url: Type.String({ minLength: 1, maxLength: 2000, description: 'The receiver’s push endpoint (https; http to loopback outside production)' }),
    authorization_header: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description: 'Sent as the Authorization header of every push (printable ASCII); stored encrypted, never returned' })),
  },
  { additionalProperties: false },
);

/** Fields the transmitter supplies: a receiver may send them back (SSF 1.0 §8.1.1.4); they are ignored. */
const Echoed = {
  iss: Type.Optional(Type.String({ maxLength: 2000 })),
  events_supported: Type.Optional(EventList),
  events_delivered: Type.Optional(EventList),
  min_verification_interval: Type.Optional(Type.Integer()),
};

export const CreateStreamBody = Type.Object(
  {
    delivery: DeliveryInput,
    events_requested: Type.Optional(EventList),
    description: Type.Optional(Type.String({ maxLength: 500 })),
    aud: Type.Optional(Type.String({ minLength: 1, maxLength: 500, description: 'Custody extension: the audience the receiver expects (default: endpoint_url without its query)' })),
    tenant_id: Type.Optional(IdOf('tenant', 'The tenant whose events the stream carries (admin and security: required; a tenant administrator: its own)')),
  },
  { additionalProperties: false },
);
export type CreateStreamInput = Static<typeof CreateStreamBody>;

export const UpdateStreamBody = Type.Object(
  {
    stream_id: StreamId,
    delivery: Type.Optional(DeliveryInput),
    events_requested: Type.Optional(EventList),
    description: Type.Optional(Type.String({ maxLength: 500 })),
    aud: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
    ...Echoed,
  },
  { additionalProperties: false },
);
export type UpdateStreamInput = Static<typeof UpdateStreamBody>;

export const ReplaceStreamBody = Type.Object(
  {
    stream_id: StreamId,
    delivery: DeliveryInput,
    events_requested: EventList,
    description: Type.Optional(Type.String({ maxLength: 500 })),
    aud: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
    ...Echoed,
  },
  { additionalProperties: false },
);

export const StreamStatusSchema = Type.Object({ stream_id: Type.String(), status: StatusValue, reason: Type.Optional(Type.String()) }, { $id: 'SsfStreamStatus' });
export type StreamStatus = Static<typeof StreamStatusSchema>;

const tags = ['shared signals (transmitter)'];
const StreamQuery = Type.Object({ stream_id: Type.Optional(StreamId) }, { additionalProperties: false });
const RequiredStreamQuery = Type.Object({ stream_id: StreamId }, { additionalProperties: false });

export const streamEndpoints = {
  configuration: endpoint({
    method: 'GET',
    path: '/.well-known/ssf-configuration',
    summary: 'SSF transmitter configuration metadata',
    description: 'Where receivers find the JWKS and the stream management endpoints (OpenID SSF 1.0 §7).',
    tags,
    permission: undefined,
    status: 200,
    response: TransmitterConfigurationSchema,
    errors: [],
  }),
  jwks: endpoint({
    method: 'GET',
    path: '/ssf/jwks.json',
    summary: 'The keys that verify the SETs Custody transmits',
    description: 'ES256 public keys (JWK Set). Empty until the first stream is created, which makes the key.',
    tags,
    permission: undefined,
    status: 200,
    response: JwksSchema,
    errors: [],
  }),
  create: endpoint({
    method: 'POST',
    path: '/v1/ssf/streams',
    summary: 'Create a stream (a receiver of this tenant’s SETs)',
    description: 'At most 3 streams a tenant. Push delivery only. The stream starts enabled.',
    tags,
    permission: 'ssf.streams.manage',
    body: CreateStreamBody,
    status: 201,
    response: StreamSchema,
    errors: ['tenant_required', 'tenant_not_found', 'ssf_stream_limit', 'ssf_endpoint_refused', 'ssf_delivery_unsupported'],
  }),
  read: endpoint({
    method: 'GET',
    path: '/v1/ssf/streams',
    summary: 'Read a stream (stream_id), or list the streams you may see',
    description: 'With stream_id: that stream (an object). Without: every stream visible to the caller (an array), as SSF 1.0 §8.1.1.2 says.',
    tags,
    permission: 'ssf.streams.read',
    query: StreamQuery,
    status: 200,
    response: Type.Union([StreamSchema, Type.Array(StreamSchema)]),
    errors: ['ssf_stream_not_found'],
  }),
  update: endpoint({
    method: 'PATCH',
    path: '/v1/ssf/streams',
    summary: 'Update a stream: the fields given change',
    tags,
    permission: 'ssf.streams.manage',
    body: UpdateStreamBody,
    status: 200,
    response: StreamSchema,
    errors: ['ssf_stream_not_found', 'ssf_endpoint_refused', 'ssf_delivery_unsupported'],
  }),
  replace: endpoint({
    method: 'PUT',
    path: '/v1/ssf/streams',
    summary: 'Replace a stream’s receiver-supplied fields',
    description: 'Fields left out return to their defaults (no description, no Authorization value, aud = endpoint_url without its query).',
    tags,
    permission: 'ssf.streams.manage',
    body: ReplaceStreamBody,
    status: 200,
    response: StreamSchema,
    errors: ['ssf_stream_not_found', 'ssf_endpoint_refused', 'ssf_delivery_unsupported'],
  }),
  delete: endpoint({
    method: 'DELETE',
    path: '/v1/ssf/streams',
    summary: 'Delete a stream; its waiting SETs are dropped',
    tags,
    permission: 'ssf.streams.manage',
    query: RequiredStreamQuery,
    status: 204,
    response: Type.Null(),
    errors: ['ssf_stream_not_found'],
  }),
  getStatus: endpoint({
    method: 'GET',
    path: '/v1/ssf/streams/status',
    summary: 'A stream’s status',
    tags,
    permission: 'ssf.streams.read',
    query: RequiredStreamQuery,
    status: 200,
    response: StreamStatusSchema,
    errors: ['ssf_stream_not_found'],
  }),
  setStatus: endpoint({
    method: 'POST',
    path: '/v1/ssf/streams/status',
    summary: 'Enable, pause or disable a stream',
    description: 'paused: SETs are held (bounded) and sent when enabled again; disabled: SETs are neither sent nor held.',
    tags,
    permission: 'ssf.streams.manage',
    body: Type.Object({ stream_id: StreamId, status: StatusValue, reason: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })) }, { additionalProperties: false }),
    status: 200,
    response: StreamStatusSchema,
    errors: ['ssf_stream_not_found'],
  }),
  verify: endpoint({
    method: 'POST',
    path: '/v1/ssf/streams/verify',
    summary: 'Ask for a verification event on a stream',
    description: 'The SET (ssf/event-type/verification, with the given state) is pushed like any other event.',
    tags,
    permission: 'ssf.streams.manage',
    body: Type.Object({ stream_id: StreamId, state: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })) }, { additionalProperties: false }),
    status: 204,
    response: Type.Null(),
    errors: ['ssf_stream_not_found', 'ssf_verification_too_soon'],
  }),
};
