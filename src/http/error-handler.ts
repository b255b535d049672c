import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CustodyError, ERROR_CODES, type ErrorCode, type ErrorDetail } from '../shared/errors.ts';

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
}

function describeValidation(err: FastifyError): { details: ErrorDetail[]; message: string } {
  const issues = (err.validation ?? []) as ValidationIssue[];
  const where = err.validationContext ?? 'body';
  const details = issues.map((v) => {
    let message = v.message ?? 'is not valid';
    if (v.keyword === 'additionalProperties') message = `unknown field "${String(v.params?.additionalProperty)}"`;
    if (v.keyword === 'required') message = `missing required field "${String(v.params?.missingProperty)}"`;
    return { path: `${where}${v.instancePath ?? ''}`, message };
  });
  return { details, message: `The request is not valid: ${details.map((d) => `${d.path} ${d.message}`).join('; ')}` };
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
 * The one error handler: coded errors from the registry, framework errors mapped to codes, and
 * anything else logged with its request id and answered as a generic 500 that leaks nothing.
 */
export function installErrorHandling(app: FastifyInstance) {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof CustodyError) return send(reply, request, err.code, err.message, err.details);
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

  app.setNotFoundHandler((request, reply) => send(reply, request, 'not_found', `There is no route ${request.method} ${request.url.split('?')[0]}.`));
}
