import type { FastifyInstance } from 'fastify';
import { mount } from '../http/mount.ts';
import { eventEndpoints as e } from './events.contract.ts';
import type { EventService } from './events.service.ts';

export function eventRoutes(events: EventService) {
  return async (app: FastifyInstance) => {
    mount(app, e.list, async ({ principal, query: q, request, reply }) => {
      const page = await events.list(principal, { afterSeq: q.cursor === undefined ? 0 : Number(q.cursor), limit: q.limit === undefined ? 100 : Number(q.limit), tenantId: q.tenantId });
      const jsonl = q.format === 'jsonl' || (q.format === undefined && /application\/(x-)?ndjson|application\/jsonl/.test(request.headers.accept ?? ''));
      if (!jsonl) return page;
      // JSON lines for shippers and `jq -c`: one event a line; the cursor travels in a header.
      return reply
        .status(200)
        .header('content-type', 'application/x-ndjson; charset=utf-8')
        .header('x-next-cursor', page.nextCursor)
        .serializer((body: string) => body)
        .send(page.items.map((i) => JSON.stringify(i)).join('\n') + (page.items.length > 0 ? '\n' : ''));
    });
  };
}
