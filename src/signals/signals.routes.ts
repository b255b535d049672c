import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { drainRefusedBody } from '../http/drain.ts';
import { mount, routeSchema } from '../http/mount.ts';
import { CustodyError } from '../shared/errors.ts';
import { approverEndpoints as a } from './approver.contract.ts';
import type { ApproverService } from './approver.service.ts';
import { MAX_SET_BYTES, SetErrorBody, signalEndpoints as s } from './signal.contract.ts';
import type { SignalReceiver } from './signal.receiver.ts';
import { transmitterEndpoints as t } from './transmitter.contract.ts';
import type { TransmitterService } from './transmitter.service.ts';

const SET_MEDIA_TYPE = 'application/secevent+jwt';

/**
 * Errors of the push route before its handler runs (wrong media type, too large a body) answer in
 * RFC 8935's shape, which transmitters read; rate limits and server errors keep Custody's own.
 */
function answerPushError(receiver: SignalReceiver, err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  if (err instanceof CustodyError) throw err;
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    receiver.refusedUnread();
    drainRefusedBody(request.raw);
    return reply.status(413).send({ err: 'invalid_request', description: `The SET is larger than ${MAX_SET_BYTES} bytes.` });
  }
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err.validation) {
    receiver.refusedUnread();
    return reply.status(400).send({ err: 'invalid_request', description: `Send the SET as the body, with Content-Type ${SET_MEDIA_TYPE} (RFC 8935 §2.1).` });
  }
  throw err;
}

export function signalRoutes(g: { transmitters: TransmitterService; receiver: SignalReceiver; approvers: ApproverService }) {
  return async (app: FastifyInstance) => {
    mount(app, t.list, async ({ query }) => ({ items: await g.transmitters.list(query.tenantId) }));
    mount(app, t.create, async ({ principal, body }) => g.transmitters.create(principal, body));
    mount(app, t.get, async ({ params }) => g.transmitters.get(params.id));
    mount(app, t.patch, async ({ principal, params, body }) => g.transmitters.patch(principal, params.id, body));

    mount(app, a.deactivate, async ({ principal, body }) => g.approvers.deactivate(principal, body));
    mount(app, a.listInactive, async ({ principal, query }) => g.approvers.listInactive(principal, query.tenantId));

    // The SET media type, for this plugin's routes only (the rest of the API speaks JSON).
    app.addContentTypeParser(SET_MEDIA_TYPE, { parseAs: 'string', bodyLimit: MAX_SET_BYTES }, (_request, body, done) => done(null, body));
    const base = routeSchema(s.push);
    app.route({
      method: 'POST',
      url: s.push.path,
      // Public: the SET's signature authenticates it (no permission, so the auth hook lets it through).
      config: { permission: undefined },
      bodyLimit: MAX_SET_BYTES,
      schema: { ...base, consumes: [SET_MEDIA_TYPE], body: s.push.body, response: { 202: { type: 'null', description: 'Accepted: verified and applied' }, 400: SetErrorBody, 503: SetErrorBody } },
      errorHandler: (err: FastifyError, request, reply) => answerPushError(g.receiver, err, request, reply),
      handler: async (request, reply) => {
        const type = String(request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        const answer = await g.receiver.receive(type === SET_MEDIA_TYPE ? request.body : undefined);
        if (answer.status === 202) return reply.status(202).send();
        return reply.status(answer.status).send(answer.body);
      },
    });
  };
}
