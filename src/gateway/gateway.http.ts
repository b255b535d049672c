import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '../auth/roles.ts';
import { drainRefusedBody } from '../http/drain.ts';
import { errorBody } from '../http/error-handler.ts';
import { nextRequestId } from '../http/request-id.ts';
import { CustodyError, ERROR_CODES, isCustodyError, type ErrorCode } from '../shared/errors.ts';
import { isId } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import type { GatewayService } from './gateway.service.ts';
import { splitGatewayUrl } from './target-path.ts';

/** The methods the gateway forwards; any other method on /gw/ answers like an unknown route. */
export const GATEWAY_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
const METHOD_SET = new Set<string>(GATEWAY_METHODS);
/** How gateway calls are labelled in /metrics (one label for every token: no ids in labels). */
export const GATEWAY_ROUTE_LABEL = '/gw/:tokenId/*';

/** Whether the HTTP server hands a request straight to the gateway (see src/app/server.ts). */
export function isGatewayRequest(req: IncomingMessage): boolean {
  return req.url !== undefined && req.url.startsWith('/gw/') && METHOD_SET.has(req.method ?? '');
}

export interface GatewayHttpDeps {
  gateway: GatewayService;
  /**
   * Authenticates the caller for `gateway.use` (src/http/auth.ts), given the connection the request
   * came on: at once when its key is cached; throws a coded error.
   */
  authenticate(header: string | string[] | undefined, connection: object): Principal | Promise<Principal>;
  /** Counts a call served directly in /metrics (Fastify's hook counts those it routes). */
  observe(method: string, route: string, status: number, seconds: number): void;
  logger: Logger;
}

/** The token id of `/gw/{tokenId}[/…][?…]`, as it stands in the URL (never decoded: ids need no escapes). */
function tokenIdOf(url: string): string {
  const rest = url.slice('/gw/'.length);
  let end = rest.length;
  const slash = rest.indexOf('/');
  const query = rest.indexOf('?');
  if (slash >= 0) end = slash;
  if (query >= 0 && query < end) end = query;
  return rest.slice(0, end);
}

/**
 * The gateway over plain node:http: one call from the raw request to the raw response. The HTTP
 * server sends /gw/ requests here directly, past the framework's routing, hooks and reply
 * pipeline, because every microsecond here is paid on every call a workload makes (the benchmark
 * in bench/gateway.bench.ts is the reason). The Fastify route in gateway.routes.ts serves the same
 * call through this function too (for `inject` and the OpenAPI document), so there is one behaviour.
 * What Fastify would do for these requests is done here: authentication (the same rule), coded
 * error bodies (the same shape), request ids, metrics, and 503 while shutting down.
 */
export function createGatewayHttp(deps: GatewayHttpDeps) {
  const { gateway, logger } = deps;
  let closing = false;

  function answerError(req: IncomingMessage, res: ServerResponse, code: ErrorCode, message: string | undefined, requestId: string) {
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    const body = errorBody(code, message, requestId);
    const headers: Record<string, string | number> = { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) };
    // A request whose body did not arrive in full cannot be followed by another on this connection.
    if (closing || (!req.complete && (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0))) headers.connection = 'close';
    // Refusals that pass with time (a share in use, a saturated gateway) say when to try again.
    if (code === 'concurrency_limited' || code === 'gateway_overloaded') headers['retry-after'] = '1';
    res.writeHead(ERROR_CODES[code].status, headers);
    res.end(body);
    // A refusal leaves the request body (partly) unread: read a bounded amount of it so the caller
    // gets this answer rather than a reset connection (http/drain.ts).
    drainRefusedBody(req);
  }

  /**
   * Serves one gateway call. Never rejects: every failure becomes a coded answer (or, once the
   * provider's response has begun, a broken-off connection).
   * @param requestId the Fastify route's; on the direct path one is drawn only for an error answer
   *   (the only place it appears), not for every call
   * @param principal set when the caller was already authenticated (the Fastify route)
   * @param onClose run once the response has closed, whatever the answer (the direct path's
   *   /metrics count): by the gateway's own close listener for a forwarded call (one listener a
   *   call, not two), here for a refused one
   */
  async function serve(req: IncomingMessage, res: ServerResponse, requestId: string | undefined, principal?: Principal, onClose?: () => void): Promise<void> {
    const startedAt = performance.now();
    const method = req.method ?? 'GET';
    // Refusals inside the gateway are logged (and recorded) there; those before it are logged here.
    let forwarding = false;
    try {
      if (closing) throw new CustodyError('shutting_down');
      let caller = principal ?? deps.authenticate(req.headers.authorization, req.socket);
      if (caller instanceof Promise) caller = await caller;
      const url = req.url ?? '';
      const tokenId = tokenIdOf(url);
      // A malformed id answers exactly like a missing token.
      if (!isId('token', tokenId)) throw new CustodyError('token_not_found');
      const parts = splitGatewayUrl(url, tokenId);
      if (!parts) throw new CustodyError('target_not_allowed');
      forwarding = true;
      await gateway.forward(
        {
          principal: caller,
          tokenId,
          method,
          rawPath: parts.rawPath,
          rawQuery: parts.rawQuery,
          headers: req.headers,
          body: req,
          connection: req.socket,
          sourceAddress: req.socket?.remoteAddress ?? null,
          startedAt,
          onClose,
        },
        res,
      );
    } catch (err) {
      if (onClose) {
        // The caller may already be gone (its close event has then been emitted).
        if (res.closed) onClose();
        else res.once('close', onClose);
      }
      if (isCustodyError(err)) {
        // The URL is not logged: its path and query can carry customer data (or a key pasted by mistake).
        if (!forwarding) logger.info({ code: err.code, status: err.status, method }, 'gateway call refused');
        return answerError(req, res, err.code, err.message, requestId ?? nextRequestId());
      }
      requestId ??= nextRequestId();
      logger.error({ requestId, err: { type: (err as Error).name, message: (err as Error).message, stack: (err as Error).stack } }, 'unhandled gateway error');
      answerError(req, res, 'internal_error', undefined, requestId);
    }
  }

  return {
    serve,

    /** Serves a call the HTTP server handed over directly (see isGatewayRequest), counting it in /metrics. */
    handle(req: IncomingMessage, res: ServerResponse): void {
      const startedAt = performance.now();
      void serve(req, res, undefined, undefined, () => deps.observe(req.method ?? 'GET', GATEWAY_ROUTE_LABEL, res.statusCode, (performance.now() - startedAt) / 1000));
    },

    /** From now on calls answer 503 shutting_down (the server is draining). */
    close(): void {
      closing = true;
    },
  };
}

export type GatewayHttp = ReturnType<typeof createGatewayHttp>;
