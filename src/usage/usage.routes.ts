import type { FastifyInstance } from 'fastify';
import { mount } from '../http/mount.ts';
import { usageEndpoints as u } from './usage.contract.ts';
import type { UsageQueries } from './usage.queries.ts';

export function usageRoutes(usage: UsageQueries) {
  return async (app: FastifyInstance) => {
    mount(app, u.token, async ({ principal, params, query }) => usage.tokenUsage(principal, params.id, query));
    mount(app, u.summary, async ({ principal, query: q }) => usage.summary(principal, { tenantId: q.tenantId, from: q.from, to: q.to, top: q.top === undefined ? undefined : Number(q.top) }));
  };
}
