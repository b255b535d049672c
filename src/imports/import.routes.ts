import type { FastifyInstance } from 'fastify';
import { mount } from '../http/mount.ts';
import { importEndpoints as e } from './import.contract.ts';
import type { ImportService } from './import.service.ts';

export function importRoutes(imports: ImportService) {
  return async (app: FastifyInstance) => {
    mount(app, e.importTokens, async ({ principal, body, reply }) => {
      // The request carried credentials; the answer carries none, but nothing about it is worth caching.
      reply.header('cache-control', 'no-store');
      return imports.importBatch(principal, body);
    });
  };
}
