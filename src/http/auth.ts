import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { roleHas, type Permission, type Principal } from '../auth/roles.ts';
import { CustodyError } from '../shared/errors.ts';
import { AMBIGUOUS_COOKIE, readCookie } from './cookies.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What the caller must be allowed to do; routes without it are public. */
    permission?: Permission;
    /** A GET that changes state: with the session cookie it needs the CSRF token too (Endpoint.changesState). */
    changesState?: boolean;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** The authenticated principal of a protected route (set by the auth hook). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new CustodyError('unauthenticated');
  return request.principal;
}

const BEARER = /^Bearer\s+(\S+)$/i;

/**
 * What authentication needs of the API keys (implemented by src/apikeys): this folder is
 * infrastructure and imports no capability. `Ticket` is whatever a right key leaves behind for
 * `recheck`; opaque here.
 */
export interface BearerKeys<Ticket = unknown> {
  /** The principal of a key, reading its row when it is not cached; null for a wrong key. */
  authenticate(presented: string): Promise<Principal | null>;
  /** The same answer without waiting when no row must be read; undefined otherwise. */
  authenticateCached(presented: string): Principal | null | undefined;
  /** authenticateCached with a ticket for recheck. */
  checkCached(presented: string): { principal: Principal; ticket: Ticket } | null | undefined;
  /** The principal of a key checked before, while that check still stands; undefined otherwise. */
  recheck(ticket: Ticket): Principal | undefined;
}

/**
 * The one authentication rule, for the Fastify hook below and for the gateway's direct path:
 * a Custody API key as a bearer token whose role has `permission`. Answers without waiting when
 * the key is in the API-key cache (the gateway's every call), with a promise when its row must be
 * read; throws or rejects with the coded error.
 */
export function authenticateBearer(apiKeys: BearerKeys, header: string | string[] | undefined, permission: Permission): Principal | Promise<Principal> {
  const match = typeof header === 'string' ? BEARER.exec(header) : null;
  if (!match) throw new CustodyError('unauthenticated');
  const known = apiKeys.authenticateCached(match[1]!);
  if (known !== undefined) return permitted(known, permission);
  return apiKeys.authenticate(match[1]!).then((principal) => permitted(principal, permission));
}

/**
 * authenticateBearer for callers that send many requests over one connection (the gateway's
 * workloads, over keep-alive): the Authorization header a connection last authenticated with is
 * remembered with that connection, and a request on it with the very same header (compared in
 * constant time) is answered from the key's cache entry without parsing and hashing the key again,
 * as long as that entry stands (`ApiKeyService.recheck`: revoked here, or past its TTL, and the key
 * is checked again). Any other header on the connection is checked in full and then remembered in
 * its place. What is remembered lives as long as the connection and is held by nothing else, so a
 * key is never kept in memory past the connection that presented it.
 */
export function createConnectionAuthenticator<Ticket>(apiKeys: BearerKeys<Ticket>, permission: Permission) {
  const lastByConnection = new WeakMap<object, { header: Buffer; ticket: Ticket }>();
  return (header: string | string[] | undefined, connection: object): Principal | Promise<Principal> => {
    if (typeof header !== 'string') return authenticateBearer(apiKeys, header, permission);
    const presented = Buffer.from(header, 'latin1');
    const last = lastByConnection.get(connection);
    if (last !== undefined && last.header.length === presented.length && timingSafeEqual(last.header, presented)) {
      const principal = apiKeys.recheck(last.ticket);
      if (principal !== undefined) return permitted(principal, permission);
    }
    const match = BEARER.exec(header);
    if (!match) throw new CustodyError('unauthenticated');
    const checked = apiKeys.checkCached(match[1]!);
    if (checked === undefined) return authenticateBearer(apiKeys, header, permission);
    if (checked === null) {
      lastByConnection.delete(connection);
      throw new CustodyError('unauthenticated');
    }
    lastByConnection.set(connection, { header: presented, ticket: checked.ticket });
    return permitted(checked.principal, permission);
  };
}

function permitted(principal: Principal | null, permission: Permission): Principal {
  if (!principal) throw new CustodyError('unauthenticated');
  if (!roleHas(principal.role, permission)) {
    const hint = permission === 'gateway.use' ? ' Gateway calls are made with a workload key (custody apikey create --role workload --tenant … --name <workload>).' : '';
    throw new CustodyError('forbidden', `The ${principal.role} role may not do this (needs ${permission}).${hint}`);
  }
  return principal;
}

/**
 * What authentication needs of the console's sessions (implemented by src/sessions): the cookie
 * that carries a session, the header its CSRF token comes in, and the session of a cookie value.
 */
export interface CookieSessions {
  cookieName: string;
  csrfHeader: string;
  authenticate(secret: string): Promise<{ principal: Principal; csrfToken: string } | null>;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Whether a request made with the session cookie carries the session's CSRF token (compared in constant time). */
export function csrfMatches(request: FastifyRequest, header: string, expected: string): boolean {
  const sent = request.headers[header];
  if (typeof sent !== 'string') return false;
  const a = Buffer.from(sent);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Authentication and role checks run before the body is parsed, so an unauthenticated caller
 * learns nothing about the schema and cannot make the server parse a large body.
 *
 * A request with an Authorization header is judged by it alone. Without one, the console's session
 * cookie is accepted (when sessions are installed): it acts as its principal, and a
 * state-changing request must also carry the session's CSRF token (403 `csrf_failed` otherwise) —
 * SameSite=Strict already keeps other sites' requests from carrying the cookie; the token is the
 * second lock.
 */
export function installAuth(app: FastifyInstance, apiKeys: BearerKeys, sessions?: CookieSessions) {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request, reply) => {
    const permission = request.routeOptions.config?.permission;
    if (!permission) return;
    if (sessions && request.headers.authorization === undefined) {
      const secret = readCookie(request.headers.cookie, sessions.cookieName);
      if (secret === AMBIGUOUS_COOKIE) {
        throw new CustodyError('unauthenticated', `Two ${sessions.cookieName} cookies were sent, so neither is taken (one may have been planted by another site on your domain): clear this site's cookies and sign in again. Serving the console over https prevents this.`);
      }
      if (secret !== null) {
        const session = await sessions.authenticate(secret);
        if (!session) throw new CustodyError('unauthenticated', 'Your console session has ended (signed out, expired, idle too long, or its API key was revoked): sign in again.');
        const changesState = !SAFE_METHODS.has(request.method) || request.routeOptions.config?.changesState === true;
        if (changesState && !csrfMatches(request, sessions.csrfHeader, session.csrfToken)) throw new CustodyError('csrf_failed');
        request.principal = permitted(session.principal, permission);
        // A person's view of their tenant's data: not kept by the browser's cache past sign-out.
        reply.header('cache-control', 'no-store');
        reply.header('vary', 'Cookie');
        return;
      }
    }
    request.principal = await authenticateBearer(apiKeys, request.headers.authorization, permission);
  });
}
