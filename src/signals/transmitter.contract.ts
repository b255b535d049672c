import { Type, type Static } from 'typebox';
import { endpoint } from '../contract/endpoint.ts';
import { IdOf, Nullable, ReasonText, Text, Timestamp } from '../contract/schemas.ts';

/** The JWS algorithms a transmitter may sign with: asymmetric only (no `none`, no HMAC: Custody holds no shared secret). */
export const SET_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
export type SetAlgorithm = (typeof SET_ALGORITHMS)[number];

const PublicJwk = Type.Object(
  {
    kty: Type.Union([Type.Literal('RSA'), Type.Literal('EC'), Type.Literal('OKP')]),
    kid: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    alg: Type.Optional(Type.String({ maxLength: 20 })),
    use: Type.Optional(Type.Literal('sig')),
    crv: Type.Optional(Type.String({ maxLength: 20 })),
    x: Type.Optional(Type.String({ maxLength: 200 })),
    y: Type.Optional(Type.String({ maxLength: 200 })),
    n: Type.Optional(Type.String({ maxLength: 1_400 })),
    e: Type.Optional(Type.String({ maxLength: 20 })),
  },
  // Only public members: a private key (d, p, q, …) is refused as an unknown field, never stored.
  { additionalProperties: false, description: 'A public JWK (RFC 7517): RSA, EC or OKP; private members are refused' },
);
export const Jwks = Type.Object({ keys: Type.Array(PublicJwk, { minItems: 1, maxItems: 10 }) }, { additionalProperties: false });

export const TransmitterSchema = Type.Object(
  {
    id: Type.String(),
    tenantId: Type.String({ description: 'The tenant this transmitter speaks for: its events act on that tenant’s tokens only' }),
    name: Type.String(),
    issuer: Type.String({ description: 'The `iss` of its SETs' }),
    audience: Type.String({ description: 'The `aud` its SETs must carry (this receiver, as the transmitter names it)' }),
    jwksUrl: Nullable(Type.String({ description: 'Where its public keys are published (fetched with a timeout, cached)' })),
    jwks: Nullable(Jwks),
    algorithms: Type.Array(Type.Enum(SET_ALGORITHMS)),
    development: Type.Boolean({ description: 'Plain http on a loopback host allowed for jwksUrl (never in production)' }),
    enabled: Type.Boolean(),
    createdAt: Timestamp,
    createdBy: Type.String(),
    updatedAt: Timestamp,
  },
  { $id: 'SsfTransmitter' },
);
export type Transmitter = Static<typeof TransmitterSchema>;

export const CreateTransmitterBody = Type.Object(
  {
    tenantId: IdOf('tenant'),
    name: Text(200),
    issuer: Text(500, 'The transmitter’s issuer, exactly as its SETs state `iss`'),
    audience: Text(500, 'The audience its SETs carry in `aud`'),
    jwksUrl: Type.Optional(Type.String({ minLength: 1, maxLength: 2_000, description: 'https URL of its JWK set (give this or jwks)' })),
    jwks: Type.Optional(Jwks),
    algorithms: Type.Optional(Type.Array(Type.Enum(SET_ALGORITHMS), { minItems: 1, maxItems: SET_ALGORITHMS.length, uniqueItems: true, description: 'Default RS256 and ES256' })),
    development: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type CreateTransmitterInput = Static<typeof CreateTransmitterBody>;

export const PatchTransmitterBody = Type.Object(
  {
    name: Type.Optional(Text(200)),
    enabled: Type.Optional(Type.Boolean({ description: 'false: its SETs are refused (access_denied) until enabled again' })),
    jwksUrl: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 2_000 }))),
    jwks: Type.Optional(Nullable(Jwks)),
    algorithms: Type.Optional(Type.Array(Type.Enum(SET_ALGORITHMS), { minItems: 1, maxItems: SET_ALGORITHMS.length, uniqueItems: true })),
    reason: Type.Optional(ReasonText()),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type PatchTransmitterInput = Static<typeof PatchTransmitterBody>;

const tags = ['signals'];
const params = Type.Object({ id: IdOf('transmitter') });

export const transmitterEndpoints = {
  list: endpoint({
    method: 'GET',
    path: '/v1/ssf/transmitters',
    summary: 'Shared Signals transmitters Custody receives SETs from',
    tags,
    permission: 'ssf.transmitters.read',
    query: Type.Object({ tenantId: Type.Optional(IdOf('tenant')) }, { additionalProperties: false }),
    status: 200,
    response: Type.Object({ items: Type.Array(TransmitterSchema) }),
    errors: [],
  }),
  create: endpoint({
    method: 'POST',
    path: '/v1/ssf/transmitters',
    summary: 'Configure a transmitter',
    description: 'Its SETs (POST /v1/signals/ssf) are verified against its keys, iss and aud, and act on its tenant’s tokens per the tenant’s policy (signalActions).',
    tags,
    permission: 'ssf.transmitters.manage',
    body: CreateTransmitterBody,
    status: 201,
    response: TransmitterSchema,
    errors: ['tenant_not_found', 'transmitter_exists', 'transmitter_invalid'],
  }),
  get: endpoint({ method: 'GET', path: '/v1/ssf/transmitters/:id', summary: 'One transmitter', tags, permission: 'ssf.transmitters.read', params, status: 200, response: TransmitterSchema, errors: ['transmitter_not_found'] }),
  patch: endpoint({
    method: 'PATCH',
    path: '/v1/ssf/transmitters/:id',
    summary: 'Enable, disable or re-key a transmitter',
    tags,
    permission: 'ssf.transmitters.manage',
    params,
    body: PatchTransmitterBody,
    status: 200,
    response: TransmitterSchema,
    errors: ['transmitter_not_found', 'transmitter_invalid'],
  }),
};
