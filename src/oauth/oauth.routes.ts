import type { FastifyInstance } from 'fastify';
import { mount } from '../http/mount.ts';
import type { TokenService } from '../tokens/token.service.ts';
import { parseCookies } from './browser-binding.ts';
import type { ConnectLinkService } from './connect-link.service.ts';
import type { ConsentService } from './consent.service.ts';
import { oauthEndpoints as e } from './oauth.contract.ts';
import { consentPage, linkFailurePage } from './oauth.pages.ts';
import type { RefreshService } from './refresh.service.ts';

export function oauthRoutes(deps: { consent: ConsentService; links: ConnectLinkService; refresh: RefreshService; tokens: TokenService }) {
  return async (app: FastifyInstance) => {
    mount(app, e.createConnectLink, async ({ principal, body, reply }) => {
      reply.header('cache-control', 'no-store');
      return deps.links.create(principal, body);
    });

    // The link's code is a secret: keep the request out of the access log.
    mount(
      app,
      e.openConnectLink,
      async ({ params, reply }) => {
        reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer');
        const opened = await deps.links.open(params.code);
        if (!opened.ok) return reply.status(opened.status).type('text/html; charset=utf-8').send(linkFailurePage(opened));
        return reply.status(302).header('set-cookie', opened.consent.browserCookie).header('location', opened.consent.authorizationUrl).send(null);
      },
      { logLevel: 'warn' },
    );

    mount(app, e.connect, async ({ principal, params, query: q, reply }) => {
      const started = await deps.consent.start(principal, {
        providerId: params.providerId,
        tenantId: q.tenantId,
        owner: q.owner,
        ...(q.purpose ? { purpose: q.purpose } : {}),
        ...(q.scope ? { scopes: q.scope.split(' ') } : {}),
      });
      return reply
        .status(302)
        .header('location', started.authorizationUrl)
        .header('set-cookie', started.browserCookie)
        .header('cache-control', 'no-store')
        .send({ authorizationUrl: started.authorizationUrl, flowId: started.flowId, expiresAt: started.expiresAt });
    });

    // The query carries the authorization code: keep the request out of the access log.
    mount(
      app,
      e.callback,
      async ({ request, reply }) => {
        const query = new URLSearchParams(request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '');
        const outcome = await deps.consent.finish(query, parseCookies(request.headers.cookie));
        const { status, html } = consentPage(outcome);
        if (outcome.flowId) reply.header('set-cookie', deps.consent.clearBrowserCookie(outcome.flowId));
        return reply.status(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').send(html);
      },
      { logLevel: 'warn' },
    );

    mount(app, e.refresh, async ({ principal, params, body }) => {
      // Visibility first: another tenant's token is a 404 before anything reaches the issuer.
      await deps.tokens.get(principal, params.id);
      return deps.refresh.refresh(params.id, body.scopes ? { scopes: body.scopes } : {});
    });
  };
}
