import { Type, type Static } from 'typebox';
import { endpoint } from '../contract/endpoint.ts';
import { IdOf, Nullable, NullableTimestamp, Text, Timestamp } from '../contract/schemas.ts';

const Url = Type.String({ minLength: 1, maxLength: 2000 });
const HttpMethod = Type.Enum(['*', 'GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], { description: 'An HTTP method, or * for any' });
export const ScopeRuleSchema = Type.Object(
  { method: HttpMethod, pathPattern: Type.String({ minLength: 1, maxLength: 500 }), scope: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);

export const SCOPE_SENSITIVITIES = ['read', 'write', 'admin'] as const;
export const ScopeCatalogueEntrySchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200, pattern: '^\\S+$', description: 'The scope as the issuer names it' }),
    sensitivity: Type.Enum(SCOPE_SENSITIVITIES, { description: 'What holding it allows: read, write, or admin (changes who may do what)' }),
    description: Type.Optional(Type.String({ minLength: 1, maxLength: 500, description: 'What the scope gives access to, in words a customer understands' })),
  },
  { additionalProperties: false },
);
const ScopeCatalogue = (description: string) => Type.Array(ScopeCatalogueEntrySchema, { maxItems: 500, description });

export const CreateProviderBody = Type.Object(
  {
    name: Text(200),
    issuer: Type.Optional(Url),
    authorizationEndpoint: Type.Optional(Url),
    tokenEndpoint: Type.Optional(Type.String({ minLength: 1, maxLength: 2000, description: 'Required unless issuer is given (then discovered)' })),
    revocationEndpoint: Type.Optional(Url),
    introspectionEndpoint: Type.Optional(Url),
    clientId: Text(500),
    clientSecret: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    apiBaseUrls: Type.Array(Url, { minItems: 1, maxItems: 20, description: 'The only origins and paths the gateway will forward to' }),
    scopeRules: Type.Optional(Type.Array(ScopeRuleSchema, { maxItems: 500 })),
    scopeCatalogue: Type.Optional(ScopeCatalogue('The scopes the issuer offers, each with its sensitivity (names unique). When declared, a consent may only ask for these (and openid, email, offline_access).')),
    unmappedCalls: Type.Optional(Type.Union([Type.Literal('allow'), Type.Literal('deny')])),
    development: Type.Optional(Type.Boolean({ description: 'A local development provider: plain http allowed on loopback' })),
    allowPrivateNetwork: Type.Optional(Type.Boolean({ description: 'Let the gateway reach private and loopback addresses (off by default)' })),
    allowPathParameters: Type.Optional(Type.Boolean({ description: "Let paths carry ';' path parameters (off by default: servers that strip them route differently from what the gateway checked)" })),
  },
  { additionalProperties: false },
);

export const ProviderSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    issuer: Nullable(Type.String()),
    authorizationEndpoint: Nullable(Type.String()),
    tokenEndpoint: Type.String(),
    revocationEndpoint: Nullable(Type.String()),
    introspectionEndpoint: Nullable(Type.String()),
    clientId: Type.String(),
    hasClientSecret: Type.Boolean(),
    apiBaseUrls: Type.Array(Type.String()),
    scopeRules: Type.Array(ScopeRuleSchema),
    scopeCatalogue: ScopeCatalogue('The scopes the issuer offers, each with its sensitivity ([]: none declared)'),
    unmappedCalls: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
    development: Type.Boolean(),
    allowPrivateNetwork: Type.Boolean(),
    allowPathParameters: Type.Boolean(),
    revocation: Type.Object({
      supported: Type.Boolean(),
      verified: Type.Boolean({ description: 'A revocation here was later confirmed inactive by introspection' }),
      verifiedAt: NullableTimestamp,
    }),
    supports: Type.Object({
      pkceS256: Nullable(Type.Boolean()),
      refreshRotation: Nullable(Type.Boolean({ description: 'Learned on the first refresh; null until then' })),
      revocation: Type.Boolean({ description: 'RFC 7009' }),
      introspection: Type.Boolean({ description: 'RFC 7662' }),
    }),
    discoveredAt: NullableTimestamp,
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { $id: 'Provider' },
);

export type ProviderRecord = Static<typeof ProviderSchema>;
export type CreateProviderInput = Static<typeof CreateProviderBody>;

export const UpdateProviderBody = Type.Object(
  {
    name: Type.Optional(Text(200)),
    authorizationEndpoint: Type.Optional(Nullable(Url)),
    tokenEndpoint: Type.Optional(Url),
    revocationEndpoint: Type.Optional(Nullable(Url)),
    introspectionEndpoint: Type.Optional(Nullable(Url)),
    clientId: Type.Optional(Text(500)),
    clientSecret: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 4096, description: 'A new client secret (null removes it); never returned' }))),
    apiBaseUrls: Type.Optional(Type.Array(Url, { minItems: 1, maxItems: 20 })),
    scopeRules: Type.Optional(Type.Array(ScopeRuleSchema, { maxItems: 500, description: 'Replaces the whole list' })),
    scopeCatalogue: Type.Optional(ScopeCatalogue('Replaces the whole catalogue ([] removes it)')),
    unmappedCalls: Type.Optional(Type.Union([Type.Literal('allow'), Type.Literal('deny')], { description: 'What the gateway does with a call no scope rule maps: deny (default) or allow' })),
    development: Type.Optional(Type.Boolean({ description: 'A local development provider: plain http allowed on loopback' })),
    allowPrivateNetwork: Type.Optional(Type.Boolean({ description: 'Let the gateway reach private and loopback addresses' })),
    allowPathParameters: Type.Optional(Type.Boolean({ description: "Let paths carry ';' path parameters" })),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateProviderInput = Static<typeof UpdateProviderBody>;

const ProviderParams = Type.Object({ id: IdOf('provider') });
const tags = ['providers'];
export const providerEndpoints = {
  create: endpoint({
    method: 'POST',
    path: '/v1/providers',
    summary: 'Register an issuer and its API',
    description: 'Endpoints not given are discovered from `issuer` (OpenID discovery, then RFC 8414). Plain http only for `development` providers on loopback.',
    tags,
    permission: 'providers.manage',
    body: CreateProviderBody,
    status: 201,
    response: ProviderSchema,
    errors: ['provider_exists', 'discovery_failed'],
  }),
  list: endpoint({ method: 'GET', path: '/v1/providers', summary: 'All providers, with what each issuer supports', tags, permission: 'providers.read', status: 200, response: Type.Object({ items: Type.Array(ProviderSchema) }), errors: [] }),
  get: endpoint({ method: 'GET', path: '/v1/providers/:id', summary: 'One provider', tags, permission: 'providers.read', params: ProviderParams, status: 200, response: ProviderSchema, errors: ['provider_not_found'] }),
  update: endpoint({
    method: 'PATCH',
    path: '/v1/providers/:id',
    summary: 'Change a provider: its API, scope rules, unmapped-call policy, network access, endpoints or client',
    description: 'Each change is ledgered with its old and new value (a new client secret only as changed). The gateway applies it to the next call on every instance. A new revocation endpoint is unverified until a revocation through it is confirmed.',
    tags,
    permission: 'providers.manage',
    params: ProviderParams,
    body: UpdateProviderBody,
    status: 200,
    response: ProviderSchema,
    errors: ['provider_not_found', 'provider_exists'],
  }),
};
