import type { FastifyInstance } from 'fastify';
import { CustodyError, type ErrorDetail } from '../shared/errors.ts';
import { hasLoneSurrogate } from '../shared/text.ts';

/** Problems reported at most, in a message and in `details`: a request with thousands of bad items gets a short answer. */
export const MAX_REPORTED = 20;
/** No array anywhere in a request is longer than this (the longest any schema allows). */
export const MAX_ARRAY_ITEMS = 10_000;

interface SchemaNode {
  type?: string;
  maxItems?: number;
  items?: SchemaNode;
  properties?: Record<string, SchemaNode>;
  anyOf?: SchemaNode[];
}

/**
 * Checks that are cheap on any input and run before schema validation, on the validated body and
 * query of every route:
 * - NUL characters (U+0000) are refused: PostgreSQL text cannot hold them, so they would fail the
 *   statement there while SQLite stored them; no Custody field has a use for them;
 * - so are lone UTF-16 surrogates (a `\uD800` escape without its pair): stored, they would become
 *   U+FFFD, so the record would differ from what was sent and from its ledger entry;
 * - arrays are checked against their schema's `maxItems` (and a hard ceiling) before any item is
 *   looked at: validating 120,000 wrong items one by one costs seconds and a 10 MB answer, the
 *   size check a microsecond.
 * The walk is iterative (a deeply nested body cannot overflow the stack) and stops after
 * MAX_REPORTED problems.
 */
export function installNulGuard(app: FastifyInstance) {
  app.addHook('preValidation', async (request) => {
    const schema = request.routeOptions.schema;
    if (!schema) return;
    const problems: ErrorDetail[] = [];
    if (schema.body) inspect(request.body, schema.body as SchemaNode, 'body', problems);
    if (schema.querystring) inspect(request.query, schema.querystring as SchemaNode, 'querystring', problems);
    if (problems.length > 0) {
      throw new CustodyError('validation_failed', `The request is not valid: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`, problems);
    }
  });
}

function inspect(root: unknown, rootSchema: SchemaNode | undefined, rootPath: string, problems: ErrorDetail[]) {
  const stack: [unknown, SchemaNode | undefined, string][] = [[root, rootSchema, rootPath]];
  while (stack.length > 0 && problems.length < MAX_REPORTED) {
    const [value, schema, path] = stack.pop()!;
    if (typeof value === 'string') {
      if (value.includes('\u0000')) problems.push({ path, message: 'must not contain NUL (\\u0000) characters' });
      // Half of a character beyond the BMP without its other half: no encoding can store it (it would be changed to U+FFFD, silently).
      if (hasLoneSurrogate(value)) problems.push({ path, message: 'must be well-formed text: it holds a lone UTF-16 surrogate (\\uD800–\\uDFFF without its pair)' });
    } else if (Array.isArray(value)) {
      const limit = Math.min(arraySchema(schema)?.maxItems ?? MAX_ARRAY_ITEMS, MAX_ARRAY_ITEMS);
      if (value.length > limit) {
        // Too long: reported as such, its items not looked at.
        problems.push({ path, message: `must have at most ${limit} items (got ${value.length})` });
        continue;
      }
      const itemSchema = arraySchema(schema)?.items;
      for (let i = value.length - 1; i >= 0; i--) stack.push([value[i], itemSchema, `${path}/${i}`]);
    } else if (value !== null && typeof value === 'object') {
      const properties = objectSchema(schema)?.properties;
      for (const [key, v] of Object.entries(value)) {
        const safeKey = key.replaceAll('\u0000', '\\u0000');
        if (safeKey !== key) problems.push({ path: `${path}/${safeKey}`, message: 'field names must not contain NUL (\\u0000) characters' });
        stack.push([v, properties?.[key], `${path}/${safeKey}`]);
      }
    }
  }
}

/** The array schema of a node, also inside `T | null` (anyOf). */
function arraySchema(schema: SchemaNode | undefined): SchemaNode | undefined {
  if (!schema) return undefined;
  if (schema.type === 'array') return schema;
  return schema.anyOf?.find((s) => s.type === 'array');
}

function objectSchema(schema: SchemaNode | undefined): SchemaNode | undefined {
  if (!schema) return undefined;
  if (schema.properties) return schema;
  return schema.anyOf?.find((s) => s.properties !== undefined);
}
