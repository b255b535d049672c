import { Type, type Static } from 'typebox';
import { ROLES } from '../auth/roles.ts';
import { endpoint } from '../contract/endpoint.ts';
import { IdOf, Nullable, NullableTimestamp, Text, Timestamp } from '../contract/schemas.ts';

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

export type ApiKeyRecord = Static<typeof ApiKeySchema>;
export type CreateApiKeyInput = Static<typeof CreateApiKeyBody>;

const tags = ['api-keys'];
export const apiKeyEndpoints = {
  create: endpoint({
    method: 'POST',
    path: '/v1/api-keys',
    summary: 'Create an API key (shown once)',
    description: 'tenant_admin and workload keys name their tenant; a workload key names the workload it acts as (default: its name).',
    tags,
    permission: 'apikeys.manage',
    body: CreateApiKeyBody,
    status: 201,
    response: CreatedApiKey,
    errors: ['tenant_required', 'tenant_not_allowed', 'tenant_not_found'],
  }),
  list: endpoint({ method: 'GET', path: '/v1/api-keys', summary: 'All API keys (never their secrets)', tags, permission: 'apikeys.manage', status: 200, response: Type.Object({ items: Type.Array(ApiKeySchema) }), errors: [] }),
  revoke: endpoint({
    method: 'DELETE',
    path: '/v1/api-keys/:id',
    summary: 'Revoke an API key',
    description: 'Refused at once on this instance, and on the others within the key cache’s lifetime.',
    tags,
    permission: 'apikeys.manage',
    params: Type.Object({ id: IdOf('apiKey') }),
    status: 200,
    response: ApiKeySchema,
    errors: ['api_key_not_found'],
  }),
};
