import type { FastifyInstance } from 'fastify';
import { mount } from '../http/mount.ts';
import { trendEndpoints as t } from './trend.contract.ts';
import type { TrendService } from './trend.service.ts';

export function trendRoutes(trends: TrendService) {
  return async (app: FastifyInstance) => {
    mount(app, t.trends, async ({ principal, query }) => trends.trends(principal, query));
  };
}
