import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { principalOf } from '../http/auth.ts';
import { CustodyError } from '../shared/errors.ts';
import { isId } from '../shared/ids.ts';
import type { ForwardedResponse, GatewayService } from './gateway.service.ts';
import { splitGatewayUrl } from './target-path.ts';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/**
 * `ANY /gw/{tokenId}/{path}`. Registered as its own encapsulated plugin so that its catch-all
 * content-type parser (which hands over the raw request stream unread) applies to the gateway
 * only: bodies of any type stream through to the provider and are never buffered or parsed.
 */
export function gatewayRoutes(gateway: GatewayService): FastifyPluginAsync {
  return async (app) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

    const handler = async (request: FastifyRequest<{ Params: { tokenId: string } }>, reply: FastifyReply) => {
      const startedAt = performance.now();
      const principal = principalOf(request);
      const { tokenId } = request.params;
      // A malformed id answers exactly like a missing token.
      if (!isId('token', tokenId)) throw new CustodyError('token_not_found');
      const parts = splitGatewayUrl(request.raw.url ?? '', tokenId);
      if (!parts) throw new CustodyError('target_not_allowed');
      const aborter = new AbortController();
      let forwarded: ForwardedResponse | undefined;
      // One listener: a caller gone before the end aborts the upstream call; either way the call is recorded.
      let closed = false;
      reply.raw.once('close', () => {
        closed = true;
        const delivered = reply.raw.writableFinished;
        if (!delivered) aborter.abort();
        forwarded?.complete(delivered);
      });
      const body = (request.body as Readable | undefined) ?? request.raw;
      try {
        forwarded = await gateway.forward({
          principal,
          tokenId,
          method: request.method,
          rawPath: parts.rawPath,
          rawQuery: parts.rawQuery,
          headers: request.headers,
          body,
          sourceAddress: request.ip ?? null,
          signal: aborter.signal,
          startedAt,
        });
      } catch (err) {
        // A refusal leaves the request body (partly) unread; the connection cannot carry another
        // request, and draining an unbounded body for the caller is not our job: close it.
        if (!request.raw.complete) reply.header('connection', 'close');
        throw err;
      }
      // The caller left while we waited for the provider: record it as broken off.
      if (closed) forwarded.complete(false);
      reply.code(forwarded.statusCode).headers(forwarded.headers);
      return reply.send(forwarded.body);
    };

    const schema = {
      tags: ['gateway'],
      summary: 'Call the provider API with the token attached (workload keys only)',
      description:
        'Forwards to the provider API base URL joined with the rest of the path (query preserved). ' +
        'Refusals: 404 token_not_found, 403 workload_not_allowed, token_revoked, token_suspended, token_expired, ' +
        'scope_not_granted, unmapped_call_refused, target_not_allowed; 413 body_too_large; 502 upstream_unavailable; ' +
        '504 upstream_timeout; 503 gateway_overloaded. Header x-custody-api-base picks another declared API base.',
    };
    // Every call is already a usage event; two info log lines per call would double the record
    // and cost the hot path, so gateway requests log only warnings and errors.
    const common = { method: METHODS, config: { permission: 'gateway.use' as const }, logLevel: 'warn' as const, handler };
    app.route({ ...common, url: '/gw/:tokenId', schema: { ...schema, hide: true } });
    app.route({ ...common, url: '/gw/:tokenId/*', schema });
  };
}
