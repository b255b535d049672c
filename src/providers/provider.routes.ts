import type { FastifyInstance } from 'fastify';
import { mount } from '../http/mount.ts';
import { providerEndpoints as e } from './provider.contract.ts';
import type { ProviderService } from './provider.service.ts';

export function providerRoutes(providers: ProviderService) {
  return async (app: FastifyInstance) => {
    mount(app, e.create, async ({ principal, body }) => providers.create(principal, body));
    mount(app, e.list, async () => ({ items: await providers.list() }));
    mount(app, e.get, async ({ params }) => providers.get(params.id));
    mount(app, e.update, async ({ principal, params, body }) => providers.update(principal, params.id, body));
  };
}
