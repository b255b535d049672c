import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { principalOf } from '../http/auth.ts';
import { errorResponses } from '../contract/schemas.ts';
import { TokenParams } from '../tokens/token.schemas.ts';
import type { TokenService } from '../tokens/token.service.ts';
import type { ConsentService } from './consent.service.ts';
import { consentPage } from './oauth.pages.ts';
import { CallbackQuery, ConnectParams, ConnectQuery, ConnectResult, RefreshBody, RefreshResultSchema } from './oauth.schemas.ts';
import type { RefreshService } from './refresh.service.ts';

export function oauthRoutes(deps: { consent: ConsentService; refresh: RefreshService; tokens: TokenService }): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['oauth'];

    app.get('/v1/connect/:providerId', {
      config: { permission: 'tokens.register' },
      schema: {
        tags,
        summary: 'Start a customer consent (authorization code + PKCE); redirects to the issuer',
        params: ConnectParams,
        querystring: ConnectQuery,
        response: { 302: ConnectResult, ...errorResponses },
      },
    }, async (request, reply) => {
      const q = request.query;
      const started = await deps.consent.start(principalOf(request), {
        providerId: request.params.providerId,
        tenantId: q.tenantId,
        owner: q.owner,
        ...(q.purpose ? { purpose: q.purpose } : {}),
        ...(q.scope ? { scopes: q.scope.split(' ') } : {}),
      });
      return reply.status(302).header('location', started.authorizationUrl).header('cache-control', 'no-store').send(started);
    });

    app.get('/oauth/callback', {
      // The query carries the authorization code: keep the request out of the access log.
      logLevel: 'warn',
      schema: {
        tags,
        summary: 'Where the issuer sends the customer back; answers with a page for a person',
        querystring: CallbackQuery,
        security: [],
        response: { 200: Type.String({ description: 'HTML' }), 400: Type.String({ description: 'HTML' }) },
      },
    }, async (request, reply) => {
      const query = new URLSearchParams(request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '');
      const { status, html } = consentPage(await deps.consent.finish(query));
      return reply.status(status as 200 | 400).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
    });

    app.post('/v1/tokens/:id/refresh', {
      config: { permission: 'tokens.update' },
      schema: { tags: ['tokens'], summary: 'Refresh now (optionally narrowed to some granted scopes)', params: TokenParams, body: RefreshBody, response: { 200: RefreshResultSchema, ...errorResponses } },
    }, async (request) => {
      // Visibility first: another tenant's token is a 404 before anything reaches the issuer.
      await deps.tokens.get(principalOf(request), request.params.id);
      return deps.refresh.refresh(request.params.id, request.body.scopes ? { scopes: request.body.scopes } : {});
    });
  };
}
