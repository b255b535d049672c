import { Type, type Static } from 'typebox';
import { endpoint } from '../contract/endpoint.ts';
import { IdOf, Text, Timestamp } from '../contract/schemas.ts';

export const TenantSchema = Type.Object({ id: Type.String(), name: Type.String(), createdAt: Timestamp }, { $id: 'Tenant' });
export type Tenant = Static<typeof TenantSchema>;
export const CreateTenantBody = Type.Object({ name: Text(200, 'The customer name') }, { additionalProperties: false });
export const TenantList = Type.Object({ items: Type.Array(TenantSchema) });

const tags = ['tenants'];
export const tenantEndpoints = {
  create: endpoint({ method: 'POST', path: '/v1/tenants', summary: 'Add a customer', tags, permission: 'tenants.create', body: CreateTenantBody, status: 201, response: TenantSchema, errors: ['tenant_exists'] }),
  list: endpoint({ method: 'GET', path: '/v1/tenants', summary: 'Customers visible to the caller', description: 'A tenant-bound caller sees its own tenant only.', tags, permission: 'tenants.read', status: 200, response: TenantList, errors: [] }),
  get: endpoint({
    method: 'GET',
    path: '/v1/tenants/:id',
    summary: 'One customer',
    tags,
    permission: 'tenants.read',
    params: Type.Object({ id: IdOf('tenant') }),
    status: 200,
    response: TenantSchema,
    errors: ['tenant_not_found'],
  }),
};
