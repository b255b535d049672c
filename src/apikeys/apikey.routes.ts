import type { FastifyInstance } from 'fastify';
import { mount } from '../http/mount.ts';
import { apiKeyEndpoints as e } from './apikey.contract.ts';
import type { ApiKeyService } from './apikey.service.ts';

export function apiKeyRoutes(apiKeys: ApiKeyService) {
  return async (app: FastifyInstance) => {
    mount(app, e.create, async ({ principal, body, reply }) => {
      reply.header('cache-control', 'no-store');
      return apiKeys.create(principal, body);
    });
    mount(app, e.list, async () => ({ items: await apiKeys.list() }));
    mount(app, e.revoke, async ({ principal, params }) => apiKeys.revoke(principal, params.id));
  };
}
