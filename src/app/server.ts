import http from 'node:http';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Custody } from './custody.ts';
import { apiKeyRoutes } from '../apikeys/apikey.routes.ts';
import { ledgerRoutes } from '../ledger/ledger.routes.ts';
import { providerRoutes } from '../providers/provider.routes.ts';
import { tenantRoutes } from '../tenants/tenant.routes.ts';
import { tokenRoutes } from '../tokens/token.routes.ts';
import { gatewayRoutes } from '../gateway/gateway.routes.ts';
import { oauthRoutes } from '../oauth/oauth.routes.ts';
import { governanceRoutes } from '../governance/governance.routes.ts';
import { streamRoutes } from '../streams/stream.routes.ts';
import { signalRoutes } from '../signals/signals.routes.ts';
import { alertRoutes } from '../alerts/alert.routes.ts';
import { usageRoutes } from '../usage/usage.routes.ts';
import { leakRoutes } from '../leaks/leak.routes.ts';
import { importRoutes } from '../imports/import.routes.ts';
import { reviewRoutes } from '../reviews/review.routes.ts';
import { webhookRoutes } from '../webhooks/webhook.routes.ts';
import { eventRoutes } from '../events/events.routes.ts';
import { trendRoutes } from '../trends/trend.routes.ts';
import { reportRoutes } from '../reports/report.routes.ts';
import { createConnectionAuthenticator, installAuth } from '../http/auth.ts';
import { installConsole } from '../http/console.ts';
import { sessionRoutes } from '../sessions/session.routes.ts';
import { CSRF_HEADER, sessionCookieName } from '../sessions/session.contract.ts';
import { duplicateKeyRefusal, notUtf8Refusal, prototypeKeyRefusal } from '../http/json-body.ts';
import { installNulGuard } from '../http/nul-guard.ts';
import { installRateLimits } from '../http/rate-limit.ts';
import { answerClientError, answerFrameworkError, errorBody, installErrorHandling } from '../http/error-handler.ts';
import { createMetrics, installMetrics } from './metrics.ts';
import { nextRequestId } from '../http/request-id.ts';
import { createGatewayHttp, isGatewayRequest } from '../gateway/gateway.http.ts';

export { API_VERSION } from './version.ts';
import { API_VERSION } from './version.ts';

// Fastify's own default, kept for the server we create ourselves.
const KEEP_ALIVE_TIMEOUT_MS = 72_000;
/**
 * A request's headers must arrive within this, or CUSTODY_REQUEST_TIMEOUT_MS if less (Node's
 * headersTimeout; its default is 60 s): a caller that opens connections and trickles headers holds
 * a socket each, unauthenticated. An API request's body (at most CUSTODY_BODY_LIMIT_BYTES, 256 KB
 * by default) must arrive within CUSTODY_REQUEST_TIMEOUT_MS (30 s by default), else 408
 * request_timeout and the connection is closed: Node's own bound on a whole request is 300 s, which
 * let unauthenticated callers hold sockets by stalling a body. Gateway calls have their own
 * watchdog (idle timeout, minimum rate, deadline: call-guard.ts); Node's 300 s stays their backstop.
 */
const HEADERS_TIMEOUT_MS = 15_000;

/**
 * Answers 408 request_timeout and closes the connection if a request's body has not fully arrived
 * within `ms`. Listens only for the end of the body (which does not start it flowing before its
 * parser is attached); nothing is armed for a request without a body.
 */
function bodyDeadline(req: http.IncomingMessage, res: http.ServerResponse, ms: number): void {
  const length = req.headers['content-length'];
  if (req.headers['transfer-encoding'] === undefined && (length === undefined || length === '0')) return;
  const timer = setTimeout(() => {
    if (req.complete) return;
    if (!res.headersSent && !res.destroyed) {
      const body = errorBody('request_timeout', `The request body did not arrive within ${ms / 1000} s; the server stopped waiting for it.`, nextRequestId());
      res.writeHead(408, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
      res.end(body, () => req.socket.destroy());
    } else req.socket.destroy();
  }, ms);
  timer.unref();
  const done = () => clearTimeout(timer);
  req.once('end', done);
  req.once('close', done);
  res.once('close', done);
}

export async function buildServer(custody: Custody): Promise<FastifyInstance> {
  const { config, logger } = custody;
  const metrics = createMetrics(custody);
  const gatewayHttp = createGatewayHttp({
    gateway: custody.gateway,
    authenticate: createConnectionAuthenticator(custody.apiKeys, 'gateway.use'),
    observe: metrics.observeRequest,
    logger,
  });
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    genReqId: () => nextRequestId(),
    // Gateway calls go straight to the gateway (gateway.http.ts), past Fastify's routing, hooks and
    // reply pipeline: they are the hot path, paid on every call a workload makes. Everything else
    // is Fastify's.
    serverFactory: (fastifyHandler) => {
      const headersTimeout = Math.min(HEADERS_TIMEOUT_MS, config.requestTimeoutMs);
      // Node checks its deadlines on this interval (30 s by default, which would let a 15 s deadline run to 45 s).
      const server = http.createServer({ connectionsCheckingInterval: Math.max(100, Math.min(5_000, Math.floor(headersTimeout / 3))) }, (req, res) => {
        if (isGatewayRequest(req)) return gatewayHttp.handle(req, res);
        bodyDeadline(req, res, config.requestTimeoutMs);
        fastifyHandler(req, res);
      });
      server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
      server.headersTimeout = headersTimeout;
      // Requests Node refuses before any handler runs (oversize headers, broken HTTP) get the same
      // coded error shape as everything else, and the connection is closed.
      server.on('clientError', (err: NodeJS.ErrnoException, socket) => answerClientError(err, socket));
      return server;
    },
    bodyLimit: config.bodyLimitBytes,
    // Behind a proxy the operator names it (CUSTODY_TRUST_PROXY); we do not guess. Rate limits and
    // failed sign-ins then count the client's address, not the proxy's.
    trustProxy: config.trustProxy.length > 0 ? [...config.trustProxy] : false,
    frameworkErrors: answerFrameworkError,
    ajv: {
      // Bad input must be refused, never silently fixed: no stripping of unknown fields, no coercion.
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: true, verbose: true },
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Custody',
        version: API_VERSION,
        description:
          'Governs the OAuth tokens a platform holds for its customers: inventory, lifecycle, ledger, revocation.\n\n' +
          'Callers send `Authorization: Bearer <api key>`. Each operation names the roles that may call it (`x-custody-roles`) ' +
          'and the error codes it answers with. Errors are always `{"error": {"code", "message", "requestId"}}`.',
      },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'A Custody API key (cus_…)' } } },
      security: [{ apiKey: [] }],
    },
  });
  // The API reference for people: Swagger UI, served from the package (no CDN).
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { docExpansion: 'list', deepLinking: true, validatorUrl: null },
    // Everything from this origin: no font, style, image or validator from anywhere else.
    staticCSP:
      "default-src 'self'; base-uri 'self'; font-src 'self' data:; frame-ancestors 'self'; img-src 'self' data:; object-src 'none'; " +
      "script-src 'self'; script-src-attr 'none'; style-src 'self' 'unsafe-inline'; form-action 'self'",
  });

  // The console (dist/web) at `/`; its pages' URLs fall back to its index.html.
  const consolePages = await installConsole(app, config.consoleDir ?? undefined);
  installErrorHandling(app, consolePages.fallback);
  installRateLimits(app, config.rateLimits, 'before-auth');
  installAuth(app, custody.apiKeys, { cookieName: sessionCookieName(config.publicUrl.startsWith('https:')), csrfHeader: CSRF_HEADER, authenticate: custody.sessions.authenticate });
  installRateLimits(app, config.rateLimits, 'after-auth');
  installNulGuard(app);
  // The API speaks JSON only: a text/plain body would otherwise parse as a string and be answered
  // as a schema failure instead of 415 unsupported_media_type.
  app.removeContentTypeParser('text/plain');
  // JSON text is UTF-8 (RFC 8259 §8.1): a body that is not is refused, not decoded with its invalid
  // bytes silently turned into U+FFFD (the record would hold what nobody sent). Parsing is then
  // Fastify's own (prototype-poisoning keys refused).
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const notUtf8 = notUtf8Refusal(body as Buffer);
    if (notUtf8) return done(notUtf8, undefined);
    const text = (body as Buffer).toString('utf8');
    parseJson(request, text, (err, parsed) => {
      if (err) return done(prototypeKeyRefusal(text) ?? err, undefined);
      // A key named twice: JSON.parse would keep the last and drop the other silently (http/json-body.ts).
      const dup = duplicateKeyRefusal(text);
      done(dup, dup ? undefined : parsed);
    });
  });
  installMetrics(app, metrics);
  app.addHook('preClose', async () => gatewayHttp.close());

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  // Ready to take traffic: the database answers and its schema is the one this code expects.
  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
    const readiness = await custody.readiness();
    return reply.status(readiness.ready ? 200 : 503).send(readiness);
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(tenantRoutes(custody.tenants));
  await app.register(providerRoutes(custody.providers));
  await app.register(tokenRoutes(custody.tokens));
  await app.register(apiKeyRoutes(custody.apiKeys));
  await app.register(sessionRoutes(custody.sessions, { secure: config.publicUrl.startsWith('https:'), basePath: new URL(config.publicUrl).pathname.replace(/\/+$/, ''), sso: custody.sso }));
  await app.register(ledgerRoutes(custody.ledger));
  await app.register(gatewayRoutes(gatewayHttp));
  await app.register(governanceRoutes({ policy: custody.policy, directory: custody.directory, exceptions: custody.exceptions, findings: custody.findings, findingQueries: custody.findingQueries, notices: custody.notices }));
  await app.register(webhookRoutes(custody.webhooks));
  await app.register(eventRoutes(custody.events));
  await app.register(trendRoutes(custody.trends));
  await app.register(reportRoutes(custody.reports));
  await app.register(alertRoutes(custody.alerts));
  await app.register(usageRoutes(custody.usage));
  await app.register(leakRoutes(custody.leaks));
  await app.register(importRoutes(custody.imports));
  await app.register(reviewRoutes(custody.reviews));
  await app.register(streamRoutes(custody.streams));
  await app.register(signalRoutes({ transmitters: custody.transmitters, receiver: custody.signals, approvers: custody.approvers }));
  await app.register(oauthRoutes({ consent: custody.consent, links: custody.connectLinks, refresh: custody.refresh, tokens: custody.tokens }));
  return app;
}
