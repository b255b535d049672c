import type { FastifyInstance } from 'fastify';
import { CustodyError, type ErrorDetail } from '../shared/errors.ts';

const MAX_REPORTED = 20;

/**
 * Refuses NUL characters (U+0000) in the validated body and query of every route. PostgreSQL text
 * cannot hold them, so they would fail the statement and answer a 500 on PostgreSQL while SQLite
 * stored them; no Custody field has a use for them. One check here keeps both databases answering
 * the same 400, naming the field. The walk is iterative: a deeply nested body cannot overflow the stack.
 */
export function installNulGuard(app: FastifyInstance) {
  app.addHook('preValidation', async (request) => {
    const schema = request.routeOptions.schema;
    if (!schema) return;
    const problems: ErrorDetail[] = [];
    if (schema.body) findNul(request.body, 'body', problems);
    if (schema.querystring) findNul(request.query, 'querystring', problems);
    if (problems.length > 0) {
      throw new CustodyError('validation_failed', `The request is not valid: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`, problems);
    }
  });
}

function findNul(root: unknown, rootPath: string, problems: ErrorDetail[]) {
  const stack: [unknown, string][] = [[root, rootPath]];
  while (stack.length > 0 && problems.length < MAX_REPORTED) {
    const [value, path] = stack.pop()!;
    if (typeof value === 'string') {
      if (value.includes('\u0000')) problems.push({ path, message: 'must not contain NUL (\\u0000) characters' });
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push([value[i], `${path}/${i}`]);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, v] of Object.entries(value)) {
        const safeKey = key.replaceAll('\u0000', '\\u0000');
        if (safeKey !== key) problems.push({ path: `${path}/${safeKey}`, message: 'field names must not contain NUL (\\u0000) characters' });
        stack.push([v, `${path}/${safeKey}`]);
      }
    }
  }
}
