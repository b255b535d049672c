import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errorResponses, ReasonBody } from '../contract/schemas.ts';
import { principalOf } from '../http/auth.ts';
import type { Transition } from './token.lifecycle.ts';
import { BulkRevokeBody, BulkRevokeResult, PatchTokenBody, RegisterTokenBody, TokenPage, TokenParams, TokenQuery, TokenSchema } from './token.schemas.ts';
import { decodeCursor, type TokenService } from './token.service.ts';
import { Secret } from '../shared/secret.ts';
import type { Permission } from '../auth/roles.ts';

export function tokenRoutes(tokens: TokenService): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['tokens'];

    app.post('/v1/tokens', {
      config: { permission: 'tokens.register' },
      schema: { tags, summary: 'Register an existing customer token', body: RegisterTokenBody, response: { 201: TokenSchema, ...errorResponses } },
    }, async (request, reply) => {
      const { accessToken, refreshToken, ...rest } = request.body;
      const record = await tokens.register(principalOf(request), {
        ...rest,
        accessToken: new Secret(accessToken),
        ...(refreshToken !== undefined ? { refreshToken: new Secret(refreshToken) } : {}),
      });
      return reply.status(201).send(record);
    });

    app.get('/v1/tokens', {
      config: { permission: 'tokens.read' },
      schema: { tags, summary: 'The inventory, filtered and paged', querystring: TokenQuery, response: { 200: TokenPage, ...errorResponses } },
    }, async (request) => {
      const q = request.query;
      return tokens.list(principalOf(request), {
        tenantId: q.tenantId,
        providerId: q.providerId,
        state: q.state,
        owner: q.owner,
        managed: q.managed === undefined ? undefined : q.managed === 'true',
        dormantDays: q.dormantDays === undefined ? undefined : Number(q.dormantDays),
        q: q.q,
        afterId: q.cursor === undefined ? undefined : decodeCursor(q.cursor),
        limit: q.limit === undefined ? 50 : Number(q.limit),
      });
    });

    app.get('/v1/tokens/:id', {
      config: { permission: 'tokens.read' },
      schema: { tags, summary: 'One token, with the practical test and scope usage', params: TokenParams, response: { 200: TokenSchema, ...errorResponses } },
    }, async (request) => tokens.get(principalOf(request), request.params.id));

    app.patch('/v1/tokens/:id', {
      config: { permission: 'tokens.update' },
      schema: { tags, summary: 'Change owner, purpose, review date or workloads', params: TokenParams, body: PatchTokenBody, response: { 200: TokenSchema, ...errorResponses } },
    }, async (request) => tokens.patch(principalOf(request), request.params.id, request.body));

    const lifecycle: [string, Transition, Permission, string][] = [
      ['suspend', 'suspend', 'tokens.suspend', 'Suspend a token (reversible)'],
      ['resume', 'resume', 'tokens.resume', 'Resume a suspended token'],
      ['revoke', 'revoke', 'tokens.revoke', 'Revoke a token (final)'],
    ];
    for (const [path, transition, permission, summary] of lifecycle) {
      app.post(`/v1/tokens/:id/${path}`, {
        config: { permission },
        schema: { tags, summary, params: TokenParams, body: ReasonBody, response: { 200: TokenSchema, ...errorResponses } },
      }, async (request) => tokens.transition(principalOf(request), request.params.id, transition, request.body.reason));
    }

    app.post('/v1/tokens/revoke', {
      config: { permission: 'tokens.bulk_revoke' },
      schema: { tags, summary: 'Revoke every live token matching a filter', body: BulkRevokeBody, response: { 200: BulkRevokeResult, ...errorResponses } },
    }, async (request) => tokens.bulkRevoke(principalOf(request), request.body));
  };
}
