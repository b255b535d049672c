import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { principalOf } from '../http/auth.ts';
import { errorResponses, IdOf, Text, Timestamp } from '../contract/schemas.ts';
import type { TenantService } from './tenant.service.ts';

export const TenantSchema = Type.Object({ id: Type.String(), name: Type.String(), createdAt: Timestamp }, { $id: 'Tenant' });
export const CreateTenantBody = Type.Object({ name: Text(200, 'The customer name') }, { additionalProperties: false });

export function tenantRoutes(tenants: TenantService): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['tenants'];
    app.post('/v1/tenants', {
      config: { permission: 'tenants.create' },
      schema: { tags, summary: 'Add a customer', body: CreateTenantBody, response: { 201: TenantSchema, ...errorResponses } },
    }, async (request, reply) => reply.status(201).send(await tenants.create(principalOf(request), request.body)));

    app.get('/v1/tenants', {
      config: { permission: 'tenants.read' },
      schema: { tags, summary: 'Customers visible to the caller', response: { 200: Type.Object({ items: Type.Array(TenantSchema) }), ...errorResponses } },
    }, async (request) => ({ items: await tenants.list(principalOf(request)) }));

    app.get('/v1/tenants/:id', {
      config: { permission: 'tenants.read' },
      schema: { tags, summary: 'One customer', params: Type.Object({ id: IdOf('tenant') }), response: { 200: TenantSchema, ...errorResponses } },
    }, async (request) => tenants.get(principalOf(request), request.params.id));
  };
}
