import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { principalOf } from '../http/auth.ts';
import { errorResponses, IdOf, Nullable, NullableTimestamp, Text, Timestamp } from '../contract/schemas.ts';
import type { ProviderService } from './provider.service.ts';

const Url = Type.String({ minLength: 1, maxLength: 2000 });
const HttpMethod = Type.String({ pattern: '^(?:\\*|GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)$' });
export const ScopeRuleSchema = Type.Object(
  { method: HttpMethod, pathPattern: Type.String({ minLength: 1, maxLength: 500 }), scope: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);

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
    unmappedCalls: Type.Optional(Type.Union([Type.Literal('allow'), Type.Literal('deny')])),
    development: Type.Optional(Type.Boolean({ description: 'A local development provider: plain http allowed on loopback' })),
    allowPrivateNetwork: Type.Optional(Type.Boolean({ description: 'Let the gateway reach private and loopback addresses (off by default)' })),
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
    unmappedCalls: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
    development: Type.Boolean(),
    allowPrivateNetwork: Type.Boolean(),
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

export function providerRoutes(providers: ProviderService): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['providers'];
    app.post('/v1/providers', {
      config: { permission: 'providers.manage' },
      schema: { tags, summary: 'Register an issuer and its API', body: CreateProviderBody, response: { 201: ProviderSchema, ...errorResponses } },
    }, async (request, reply) => reply.status(201).send(await providers.create(principalOf(request), request.body)));

    app.get('/v1/providers', {
      config: { permission: 'providers.read' },
      schema: { tags, summary: 'All providers', response: { 200: Type.Object({ items: Type.Array(ProviderSchema) }), ...errorResponses } },
    }, async () => ({ items: await providers.list() }));

    app.get('/v1/providers/:id', {
      config: { permission: 'providers.read' },
      schema: { tags, summary: 'One provider', params: Type.Object({ id: IdOf('provider') }), response: { 200: ProviderSchema, ...errorResponses } },
    }, async (request) => providers.get(request.params.id));
  };
}
