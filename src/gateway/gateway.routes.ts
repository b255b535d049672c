import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { principalOf } from '../http/auth.ts';
import { GATEWAY_METHODS, type GatewayHttp } from './gateway.http.ts';

/**
 * `ANY /gw/{tokenId}/{path}` in the Fastify app: documents the gateway in the OpenAPI document,
 * and serves the calls that reach it through Fastify (`inject` in tests; a server started
 * without src/app/server.ts's direct path). Either way the call goes to gateway.http.ts, so
 * there is one behaviour. Registered as its own encapsulated plugin so that its catch-all
 * content-type parser (which hands over the raw request stream unread) applies to the gateway
 * only: bodies of any type stream through to the provider and are never buffered or parsed.
 */
export function gatewayRoutes(gatewayHttp: GatewayHttp): FastifyPluginAsync {
  return async (app) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      const principal = principalOf(request);
      reply.hijack();
      await gatewayHttp.serve(request.raw, reply.raw, request.id, principal);
    };

    const schema = {
      tags: ['gateway'],
      summary: 'Call the provider API with the token attached (workload keys only)',
      description:
        'Forwards to the provider API base URL joined with the rest of the path (query preserved). ' +
        'Refusals: 404 token_not_found, 403 workload_not_allowed, token_revoked, token_suspended, token_expired, ' +
        'scope_not_granted, unmapped_call_refused, target_not_allowed; 408 request_timeout (the body stopped arriving); ' +
        '413 body_too_large; 429 concurrency_limited (the tenant or workload holds its share of the provider connections; Retry-After); ' +
        '502 upstream_unavailable; 504 upstream_timeout (also past the call deadline); 503 gateway_overloaded, shutting_down. Header x-custody-api-base picks another declared API base.',
    };
    // Every call is already a usage event; two info log lines per call would double the record
    // and cost the hot path, so gateway requests log only warnings and errors.
    const common = { method: [...GATEWAY_METHODS], config: { permission: 'gateway.use' as const }, logLevel: 'warn' as const, handler };
    app.route({ ...common, url: '/gw/:tokenId', schema: { ...schema, hide: true } });
    app.route({ ...common, url: '/gw/:tokenId/*', schema });
  };
}
