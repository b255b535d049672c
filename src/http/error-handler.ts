import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CustodyError, ERROR_CODES, type ErrorCode, type ErrorDetail } from '../shared/errors.ts';
import { NOT_BLANK } from '../contract/schemas.ts';
import { drainRefusedBody } from './drain.ts';
import { MAX_REPORTED } from './nul-guard.ts';
import { nextRequestId } from './request-id.ts';

/** The body of every error answer: `{ error: { code, message, requestId, details? } }`. */
export function errorBody(code: ErrorCode, message: string | undefined, requestId: string, details?: ErrorDetail[]): string {
  return JSON.stringify({ error: { code, message: message ?? ERROR_CODES[code].message, requestId, ...(details?.length ? { details } : {}) } });
}

// Serialised here, not by the route's response schema: a route that declares another shape for a
// status (the consent callback answers 400 with an HTML page) would otherwise turn the error into "[object Object]".
function send(reply: FastifyReply, request: FastifyRequest, code: ErrorCode, message?: string, details?: ErrorDetail[]) {
  return reply.status(ERROR_CODES[code].status).type('application/json; charset=utf-8').send(errorBody(code, message, request.id, details));
}

interface ValidationIssue {
  instancePath?: string;
  message?: string;
  keyword?: string;
  params?: Record<string, unknown>;
  /** The schema that failed (Ajv's `verbose`): its description and pattern make the message. */
  parentSchema?: { description?: string; pattern?: string };
}

/** Patterns of the shared schemas (src/contract/schemas.ts), named for people. */
function patternMessage(pattern: string | undefined, description: string | undefined): string {
  if (pattern === NOT_BLANK) return 'must not be blank: say why (it is recorded in the ledger)';
  const id = pattern ? /^\^([a-z]+)_\[/.exec(pattern) : null;
  if (id) return `must be an id like ${id[1]}_01J… (${id[1]}_ followed by 26 characters)`;
  // A time (the shared Timestamp: its pattern goes on to the hours), or a plain day.
  // A day with an optional time (report periods): either form.
  if (pattern?.startsWith('^\\d{4}-') && pattern.includes('(?:[Tt]')) return 'must be a UTC date, YYYY-MM-DD such as 2026-11-28, or an ISO 8601 time with its zone, such as 2026-11-28T09:00:00Z';
  if (pattern?.startsWith('^\\d{4}-') && /\[Tt\]/.test(pattern)) return 'must be an ISO 8601 time such as 2026-11-28T09:00:00Z';
  if (pattern?.startsWith('^\\d{4}-')) return description ? `must be a day, YYYY-MM-DD such as 2026-11-28 (${description})` : 'must be a day, YYYY-MM-DD such as 2026-11-28';
  return description ? `is not valid: ${description}` : 'is not in the expected form';
}

/** One message a person can act on for each field: the allowed values named, not the validator's wording. */
function messageOf(v: ValidationIssue): string {
  switch (v.keyword) {
    case 'additionalProperties':
      return `unknown field "${String(v.params?.additionalProperty)}"`;
    case 'required':
      return `missing required field "${String(v.params?.missingProperty)}"`;
    case 'enum':
      return `must be one of ${(v.params?.allowedValues as unknown[]).map(String).join(', ')}`;
    case 'pattern':
      return patternMessage(v.parentSchema?.pattern, v.parentSchema?.description);
    case 'format':
      if (v.params?.format === 'email') return 'must be an email address';
      if (v.params?.format === 'date-time') return 'must be an ISO 8601 time such as 2026-11-28T09:00:00Z';
      return `must be a valid ${String(v.params?.format)}`;
    case 'minLength':
      return v.params?.limit === 1 ? 'must not be empty' : `must be at least ${String(v.params?.limit)} characters`;
    case 'maxLength':
      return `must be at most ${String(v.params?.limit)} characters`;
    case 'minimum':
      return `must be at least ${String(v.params?.limit)}`;
    case 'maximum':
      return `must be at most ${String(v.params?.limit)}`;
    case 'minItems':
      return `must have at least ${String(v.params?.limit)} item${v.params?.limit === 1 ? '' : 's'}`;
    case 'maxItems':
      return `must have at most ${String(v.params?.limit)} items`;
    case 'minProperties':
      return 'must name at least one field to change';
    default:
      return v.message ?? 'is not valid';
  }
}

/**
 * The validator reports a union of literals (`'allow' | 'deny'`) as one failed `const` per
 * branch plus an `anyOf`: these become one "must be one of …" per field.
 */
function describeValidation(err: FastifyError): { details: ErrorDetail[]; message: string } {
  const issues = (err.validation ?? []) as ValidationIssue[];
  const where = err.validationContext ?? 'body';
  const constsByPath = new Map<string, unknown[]>();
  for (const v of issues) if (v.keyword === 'const') constsByPath.set(v.instancePath ?? '', [...(constsByPath.get(v.instancePath ?? '') ?? []), v.params?.allowedValue]);
  // A nullable field (`T | null`) fails as "T's problem", "must be null" and "must match a schema in
  // anyOf": the person needs the first, and to know null is also accepted.
  const nullable = new Set(issues.filter((v) => v.keyword === 'type' && v.params?.type === 'null').map((v) => v.instancePath ?? ''));
  const details: ErrorDetail[] = [];
  const seen = new Set<string>();
  for (const v of issues) {
    const at = v.instancePath ?? '';
    if (nullable.has(at) && ((v.keyword === 'type' && v.params?.type === 'null') || (v.keyword === 'anyOf' && !constsByPath.has(at)))) continue;
    let message: string;
    if (v.keyword === 'const' || (v.keyword === 'anyOf' && constsByPath.has(at))) {
      if (seen.has(`one-of:${at}`)) continue;
      seen.add(`one-of:${at}`);
      message = `must be one of ${constsByPath.get(at)!.map((c) => (c === null ? 'null' : String(c))).join(', ')}`;
    } else {
      message = messageOf(v);
    }
    if (nullable.has(at)) message += ' (or null to clear it)';
    const key = `${at}|${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    details.push({ path: `${where}${at}`, message });
  }
  // A request with thousands of bad items gets a short answer: the first MAX_REPORTED, and a count.
  const shown = details.slice(0, MAX_REPORTED);
  const more = details.length > shown.length ? ` (and ${details.length - shown.length} more problems)` : '';
  return { details: shown, message: `The request is not valid: ${shown.map((d) => `${d.path} ${d.message}`).join('; ')}${more}` };
}

/**
 * Errors the router raises before any route or hook runs (a path parameter over the router's
 * length limit, broken percent-encoding). Without this Fastify answers them in its own shape,
 * echoing the path (which may carry a credential); with it they are coded like every other error.
 * Passed to Fastify as `frameworkErrors`.
 */
export function answerFrameworkError(err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') return send(reply, request, 'invalid_id', 'A path parameter is longer than any id; ids look like tok_01J0Z3….');
  if (err.code === 'FST_ERR_BAD_URL') return send(reply, request, 'validation_failed', 'The URL path is not valid percent-encoding.');
  request.log.error({ err: { type: err.name, code: err.code } }, 'router error');
  return send(reply, request, 'internal_error');
}

/**
 * A request Node's HTTP parser refused before any handler ran: answered in the coded shape
 * (431 headers_too_large, else 400 malformed_request) on a connection that then closes.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  // Node's own deadlines (headers within headersTimeout, the whole request within requestTimeout) end as a 408.
  const code: ErrorCode = err.code === 'HPE_HEADER_OVERFLOW' ? 'headers_too_large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request_timeout' : 'malformed_request';
  const body = errorBody(code, undefined, nextRequestId());
  const status = ERROR_CODES[code].status;
  const reason = status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** PostgreSQL's "the server ended your connection" (admin shutdown, crash recovery, connection failure) and the driver's own words for it. */
const LOST_CONNECTION_SQLSTATES = new Set(['57P01', '57P02', '57P03', '08000', '08003', '08006']);
function lostDatabaseConnection(err: { code?: unknown; message?: unknown }): boolean {
  if (typeof err.code === 'string' && LOST_CONNECTION_SQLSTATES.has(err.code)) return true;
  const m = typeof err.message === 'string' ? err.message : '';
  return m.startsWith('Connection terminated') || m.startsWith('Client has encountered a connection error') || m === 'Client was closed and is not queryable';
}

/**
 * The one error handler: coded errors from the registry, framework errors mapped to codes, and
 * anything else logged with its request id and answered as a generic 500 that leaks nothing.
 */
export function installErrorHandling(app: FastifyInstance, notFoundFallback?: (request: FastifyRequest, reply: FastifyReply) => boolean) {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof CustodyError) {
      // Refusals that end by themselves say when to come back.
      if (err.code === 'report_busy') reply.header('retry-after', '2');
      if (err.code === 'shutting_down') reply.header('retry-after', '1');
      return send(reply, request, err.code, err.message, err.details);
    }
    if (lostDatabaseConnection(err)) {
      // The database ended this connection (failover, restart, pg_terminate_backend): the work was
      // rolled back and the pool drops the connection, so the same request again may succeed.
      request.log.warn({ err: { type: err.name, message: err.message, code: err.code } }, 'database connection lost');
      reply.header('retry-after', '1');
      return send(reply, request, 'database_unavailable');
    }
    if (err.validation) {
      const { details, message } = describeValidation(err);
      if (err.validationContext === 'params') return send(reply, request, 'invalid_id', `The id in the path has the wrong form: ${details.map((d) => d.message).join('; ')}`, details);
      return send(reply, request, 'validation_failed', message, details);
    }
    switch (err.code) {
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return send(reply, request, 'malformed_json', err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'The body is empty; send a JSON object.' : undefined);
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        // Answered at once; a bounded rest of the body is read so the client sees this answer.
        drainRefusedBody(request.raw);
        return send(reply, request, 'body_too_large');
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
        return send(reply, request, 'unsupported_media_type');
    }
    if (err instanceof SyntaxError) return send(reply, request, 'malformed_json');
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      return send(reply, request, 'validation_failed', 'The request could not be read.');
    }
    request.log.error({ err: { type: err.name, message: err.message, stack: err.stack } }, 'unhandled error');
    return send(reply, request, 'internal_error');
  });

  // A page of the console (a browser asking for HTML) is answered by the console (console.ts).
  app.setNotFoundHandler((request, reply) => {
    if (notFoundFallback?.(request, reply)) return reply;
    return send(reply, request, 'not_found', `There is no route ${request.method} ${request.url.split('?')[0]}.`);
  });
}
