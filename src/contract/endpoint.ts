import type { Static, TSchema } from 'typebox';
import { PERMISSIONS, type Permission, type Role } from '../auth/roles.ts';
import { ERROR_CODES, type ErrorCode } from '../shared/errors.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * One endpoint of the public API, declared once. The server mounts it (src/http/mount.ts: route,
 * validation, role check), the OpenAPI document is generated from it (with its roles and error
 * codes), and the CLI's client calls it (src/cli/api-client.ts), so none of the three can drift
 * from the others. Declarations live beside their capability (`*.contract.ts`) and import neither
 * HTTP nor SQL.
 */
export interface Endpoint<
  P extends TSchema | undefined = TSchema | undefined,
  Q extends TSchema | undefined = TSchema | undefined,
  B extends TSchema | undefined = TSchema | undefined,
  R extends TSchema = TSchema,
> {
  method: HttpMethod;
  /** Fastify-style path: `/v1/tokens/:id`. */
  path: string;
  summary: string;
  description?: string;
  tags: string[];
  /** What the caller must be allowed to do; undefined for a public endpoint. */
  permission: Permission | undefined;
  params?: P;
  query?: Q;
  body?: B;
  /** The success status and its body. */
  status: number;
  response: R;
  /** The error codes this endpoint answers with, beyond those of every endpoint (validation, auth). */
  errors: readonly ErrorCode[];
  /**
   * A GET that changes state (starts a flow, writes a record): made with the console's session
   * cookie it needs the CSRF token like any POST, since a cross-site or sibling-site page can make a
   * browser send a GET.
   */
  changesState?: true;
}

type StaticOr<S> = S extends TSchema ? Static<S> : undefined;
/* eslint-disable @typescript-eslint/no-explicit-any -- matching any endpoint to read one of its type parameters */
export type ParamsOf<E> = E extends Endpoint<infer P, any, any, any> ? StaticOr<P> : never;
export type QueryOf<E> = E extends Endpoint<any, infer Q, any, any> ? StaticOr<Q> : never;
export type BodyOf<E> = E extends Endpoint<any, any, infer B, any> ? StaticOr<B> : never;
export type ResponseOf<E> = E extends Endpoint<any, any, any, infer R> ? Static<R> : never;
/* eslint-enable @typescript-eslint/no-explicit-any */

/** Declares an endpoint; the identity function, there for the types. */
export function endpoint<P extends TSchema | undefined = undefined, Q extends TSchema | undefined = undefined, B extends TSchema | undefined = undefined, R extends TSchema = TSchema>(
  def: Endpoint<P, Q, B, R>,
): Endpoint<P, Q, B, R> {
  return def;
}

/** The roles that hold the endpoint's permission (empty for public endpoints). */
export function rolesOf(e: Endpoint): readonly Role[] {
  return e.permission ? PERMISSIONS[e.permission] : [];
}

/** Codes every endpoint may answer with, by what they depend on. */
const COMMON_ERRORS: readonly ErrorCode[] = ['validation_failed', 'rate_limited', 'internal_error'];
const AUTH_ERRORS: readonly ErrorCode[] = ['unauthenticated', 'forbidden'];
const BODY_ERRORS: readonly ErrorCode[] = ['malformed_json', 'unsupported_media_type', 'body_too_large'];
const PARAM_ERRORS: readonly ErrorCode[] = ['invalid_id'];

/** Every error code the endpoint can answer with, its own and the common ones, without repeats. */
export function errorsOf(e: Endpoint): ErrorCode[] {
  const all = new Set<ErrorCode>([...COMMON_ERRORS]);
  if (e.permission) for (const c of AUTH_ERRORS) all.add(c);
  // Made with the console's session cookie, a state change needs its CSRF token.
  if (e.permission && (e.method !== 'GET' || e.changesState)) all.add('csrf_failed');
  if (e.body) for (const c of BODY_ERRORS) all.add(c);
  if (e.params) for (const c of PARAM_ERRORS) all.add(c);
  for (const c of e.errors) all.add(c);
  return [...all];
}

/** The error codes grouped by the HTTP status they answer with. */
export function errorsByStatus(e: Endpoint): Map<number, ErrorCode[]> {
  const out = new Map<number, ErrorCode[]>();
  for (const code of errorsOf(e)) {
    const status = ERROR_CODES[code].status;
    out.set(status, [...(out.get(status) ?? []), code]);
  }
  return new Map([...out].sort(([a], [b]) => a - b));
}

/** `/v1/tokens/:id` with `{id: 'tok_…'}` → `/v1/tokens/tok_…` (each value percent-encoded). */
export function pathWith(path: string, params: Record<string, string> | undefined): string {
  return path.replace(/:([A-Za-z]+)/g, (_, name: string) => {
    const value = params?.[name];
    if (value === undefined) throw new Error(`missing path parameter ${name} for ${path}`);
    return encodeURIComponent(value);
  });
}
