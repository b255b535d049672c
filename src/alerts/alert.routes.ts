import type { FastifyInstance } from 'fastify';
import { mount } from '../http/mount.ts';
import { decodeCursor } from '../shared/cursor.ts';
import { alertEndpoints as a } from './alert.contract.ts';
import type { AlertService } from './alert.service.ts';

export function alertRoutes(alerts: AlertService) {
  return async (app: FastifyInstance) => {
    mount(app, a.list, async ({ principal, query: q }) =>
      alerts.list(principal, {
        tenantId: q.tenantId,
        tokenId: q.tokenId,
        kind: q.kind ?? q.type,
        severity: q.severity,
        status: q.status,
        beforeId: q.cursor === undefined ? undefined : decodeCursor('alert', q.cursor),
        limit: q.limit === undefined ? 50 : Number(q.limit),
      }),
    );
    mount(app, a.get, async ({ principal, params }) => alerts.get(principal, params.id));
    mount(app, a.acknowledge, async ({ principal, params, body }) => alerts.acknowledge(principal, params.id, body.reason));
    mount(app, a.resolve, async ({ principal, params, body }) => alerts.resolve(principal, params.id, body.reason));
  };
}
