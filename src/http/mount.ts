import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { Type } from 'typebox';
import { errorsByStatus, rolesOf, type BodyOf, type Endpoint, type ParamsOf, type QueryOf, type ResponseOf } from '../contract/endpoint.ts';
import type { Principal } from '../auth/roles.ts';
import { ERROR_CODES, type ErrorCode } from '../shared/errors.ts';
import { principalOf } from './auth.ts';

/** What a mounted endpoint's handler is given: the validated input and, on protected endpoints, the caller. */
export interface HandlerContext<E extends Endpoint> {
  /** The authenticated caller (protected endpoints; reading it on a public endpoint throws unauthenticated). */
  readonly principal: Principal;
  params: ParamsOf<E>;
  query: QueryOf<E>;
  body: BodyOf<E>;
  request: FastifyRequest;
  reply: FastifyReply;
}

/**
 * A handler answers with the endpoint's response body (sent with the endpoint's status), or with
 * the reply itself once it has sent something else (a redirect, an HTML page).
 */
export type Handler<E extends Endpoint> = (ctx: HandlerContext<E>) => Promise<ResponseOf<E> | FastifyReply>;

const NO_QUERY = Type.Object({}, { additionalProperties: false });

/** The error answer of one status, documented with the codes it carries. */
function errorResponse(status: number, codes: ErrorCode[]) {
  return Type.Object(
    {
      error: Type.Object({
        code: Type.Union(codes.map((c) => Type.Literal(c)), { description: 'Machine-readable error code' }),
        message: Type.String({ description: 'What went wrong and what to do about it' }),
        requestId: Type.Optional(Type.String()),
        details: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
      }),
    },
    { description: codes.map((c) => `\`${c}\`: ${ERROR_CODES[c].message}`).join('\n\n') || `HTTP ${status}` },
  );
}

/** The Fastify schema of an endpoint: validation, and what the OpenAPI document shows (roles, error codes). */
export function routeSchema(e: Endpoint): Record<string, unknown> {
  const roles = rolesOf(e);
  const response: Record<number, unknown> = { [e.status]: e.response };
  for (const [status, codes] of errorsByStatus(e)) response[status] = errorResponse(status, codes);
  const who = e.permission ? `Roles: ${roles.join(', ')}.` : 'Public: no API key.';
  return {
    tags: e.tags,
    summary: e.summary,
    description: [e.description, who].filter(Boolean).join('\n\n'),
    'x-custody-roles': roles,
    'x-custody-permission': e.permission ?? null,
    ...(e.params ? { params: e.params } : {}),
    // An endpoint that takes no query refuses one, like any unknown field.
    querystring: e.query ?? NO_QUERY,
    ...(e.body ? { body: e.body } : {}),
    response,
    ...(e.permission ? {} : { security: [] }),
  };
}

/**
 * Mounts an endpoint of the contract on the server: its path and method, its validation, the
 * role check (by the auth hook, from `config.permission`), and its handler.
 */
export function mount<E extends Endpoint>(app: FastifyInstance, e: E, handler: Handler<E>, options: Pick<RouteOptions, 'logLevel' | 'errorHandler'> = {}): void {
  app.route({
    method: e.method,
    url: e.path,
    config: { permission: e.permission, ...(e.changesState ? { changesState: true } : {}) },
    schema: routeSchema(e),
    ...options,
    handler: async (request, reply) => {
      const ctx = {
        get principal() {
          return principalOf(request);
        },
        params: request.params as ParamsOf<E>,
        query: request.query as QueryOf<E>,
        body: request.body as BodyOf<E>,
        request,
        reply,
      };
      const result = await handler(ctx);
      // A reply is thenable (awaiting it waits for the response to finish), so a handler that sent
      // its own answer is recognised by the reply having been sent, not by what the await gave.
      if (reply.sent || result === reply) return reply;
      return reply.status(e.status).send(result);
    },
  });
}
