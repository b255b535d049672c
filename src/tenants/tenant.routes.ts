import type { FastifyInstance } from 'fastify';
import { mount } from '../http/mount.ts';
import { tenantEndpoints as e } from './tenant.contract.ts';
import type { TenantService } from './tenant.service.ts';

export function tenantRoutes(tenants: TenantService) {
  return async (app: FastifyInstance) => {
    mount(app, e.create, async ({ principal, body }) => tenants.create(principal, body));
    mount(app, e.list, async ({ principal }) => ({ items: await tenants.list(principal) }));
    mount(app, e.get, async ({ principal, params }) => tenants.get(principal, params.id));
  };
}
