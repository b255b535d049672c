import type { FastifyInstance } from 'fastify';
import { mount } from '../http/mount.ts';
import { streamEndpoints as s } from './stream.contract.ts';
import type { StreamService } from './stream.service.ts';

/** The SSF transmitter: its public metadata and keys (no state written), and the stream management API. */
export function streamRoutes(streams: StreamService) {
  return async (app: FastifyInstance) => {
    mount(app, s.configuration, async () => streams.configuration());
    mount(app, s.jwks, async () => streams.jwks());
    mount(app, s.create, async ({ principal, body }) => streams.create(principal, body));
    mount(app, s.read, async ({ principal, query }) => streams.read(principal, query.stream_id));
    mount(app, s.update, async ({ principal, body }) => streams.patch(principal, body));
    mount(app, s.replace, async ({ principal, body }) => streams.replace(principal, body));
    mount(app, s.delete, async ({ principal, query, reply }) => {
      await streams.delete(principal, query.stream_id);
      return reply.status(204).send();
    });
    mount(app, s.getStatus, async ({ principal, query }) => streams.getStatus(principal, query.stream_id));
    mount(app, s.setStatus, async ({ principal, body }) => streams.setStatus(principal, body));
    mount(app, s.verify, async ({ principal, body, reply }) => {
      await streams.requestVerification(principal, body);
      return reply.status(204).send();
    });
  };
}
