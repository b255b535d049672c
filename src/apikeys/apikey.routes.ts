import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ROLES } from '../auth/roles.ts';
import { principalOf } from '../http/auth.ts';
import { errorResponses, IdOf, Nullable, NullableTimestamp, Text, Timestamp } from '../contract/schemas.ts';
import type { ApiKeyService } from './apikey.service.ts';

const Role = Type.Enum(ROLES);

export const CreateApiKeyBody = Type.Object(
  {
    role: Role,
    tenantId: Type.Optional(IdOf('tenant')),
    name: Text(200),
    workload: Type.Optional(Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9._:-]+$' })),
  },
  { additionalProperties: false },
);

export const ApiKeySchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    role: Role,
    tenantId: Nullable(Type.String()),
    workload: Nullable(Type.String()),
    createdAt: Timestamp,
    createdBy: Type.String(),
    revokedAt: NullableTimestamp,
    lastUsedAt: NullableTimestamp,
  },
  { $id: 'ApiKey' },
);

export const CreatedApiKey = Type.Object({ key: Type.String({ description: 'Shown once; store it now' }), apiKey: ApiKeySchema });

export function apiKeyRoutes(apiKeys: ApiKeyService): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['api-keys'];
    app.post('/v1/api-keys', {
      config: { permission: 'apikeys.manage' },
      schema: { tags, summary: 'Create an API key (shown once)', body: CreateApiKeyBody, response: { 201: CreatedApiKey, ...errorResponses } },
    }, async (request, reply) => reply.status(201).send(await apiKeys.create(principalOf(request), request.body)));

    app.get('/v1/api-keys', {
      config: { permission: 'apikeys.manage' },
      schema: { tags, summary: 'All API keys (never their secrets)', response: { 200: Type.Object({ items: Type.Array(ApiKeySchema) }), ...errorResponses } },
    }, async () => ({ items: await apiKeys.list() }));

    app.delete('/v1/api-keys/:id', {
      config: { permission: 'apikeys.manage' },
      schema: { tags, summary: 'Revoke an API key', params: Type.Object({ id: IdOf('apiKey') }), response: { 200: ApiKeySchema, ...errorResponses } },
    }, async (request) => apiKeys.revoke(principalOf(request), request.params.id));
  };
}
