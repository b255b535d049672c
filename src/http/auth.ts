import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiKeyService } from '../apikeys/apikey.service.ts';
import { roleHas, type Permission, type Principal } from '../auth/roles.ts';
import { CustodyError } from '../shared/errors.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What the caller must be allowed to do; routes without it are public. */
    permission?: Permission;
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
 * The one authentication rule, for the Fastify hook below and for the gateway's direct path:
 * a Custody API key as a bearer token whose role has `permission`. Answers without waiting when
 * the key is in the API-key cache (the gateway's every call), with a promise when its row must be
 * read; throws or rejects with the coded error.
 */
export function authenticateBearer(apiKeys: ApiKeyService, header: string | string[] | undefined, permission: Permission): Principal | Promise<Principal> {
  const match = typeof header === 'string' ? BEARER.exec(header) : null;
  if (!match) throw new CustodyError('unauthenticated');
  const known = apiKeys.authenticateCached(match[1]!);
  if (known !== undefined) return permitted(known, permission);
  return apiKeys.authenticate(match[1]!).then((principal) => permitted(principal, permission));
}

function permitted(principal: Principal | null, permission: Permission): Principal {
  if (!principal) throw new CustodyError('unauthenticated');
  if (!roleHas(principal.role, permission)) {
    throw new CustodyError('forbidden', `The ${principal.role} role may not do this (needs ${permission}).`);
  }
  return principal;
}

/**
 * Authentication and role checks run before the body is parsed, so an unauthenticated caller
 * learns nothing about the schema and cannot make the server parse a large body.
 */
export function installAuth(app: FastifyInstance, apiKeys: ApiKeyService) {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    const permission = request.routeOptions.config?.permission;
    if (!permission) return;
    request.principal = await authenticateBearer(apiKeys, request.headers.authorization, permission);
  });
}
