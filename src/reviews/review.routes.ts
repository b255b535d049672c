import type { FastifyInstance } from 'fastify';
import { mount } from '../http/mount.ts';
import { decodeCursor } from '../shared/cursor.ts';
import { reviewEndpoints as r } from './review.contract.ts';
import type { ReviewService } from './review.service.ts';

export function reviewRoutes(reviews: ReviewService) {
  return async (app: FastifyInstance) => {
    mount(app, r.create, async ({ principal, body }) => reviews.create(principal, body));
    mount(app, r.list, async ({ principal, query: q }) =>
      reviews.list(principal, {
        tenantId: q.tenantId,
        status: q.status,
        beforeId: q.cursor === undefined ? undefined : decodeCursor('reviewCampaign', q.cursor),
        limit: q.limit === undefined ? 50 : Number(q.limit),
      }),
    );
    mount(app, r.get, async ({ principal, params }) => reviews.get(principal, params.id));
    mount(app, r.items, async ({ principal, params, query: q }) =>
      reviews.items(principal, params.id, {
        status: q.status,
        reviewer: q.reviewer,
        afterId: q.cursor === undefined ? undefined : decodeCursor('reviewItem', q.cursor),
        limit: q.limit === undefined ? 50 : Number(q.limit),
      }),
    );
    mount(app, r.decide, async ({ principal, params, body }) => reviews.decide(principal, params.id, params.itemId, body));
  };
}
