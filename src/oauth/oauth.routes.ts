import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { mount } from '../http/mount.ts';
import { isCustodyError } from '../shared/errors.ts';
import type { TokenService } from '../tokens/token.service.ts';
import { parseCookies } from './browser-binding.ts';
import type { ConnectLinkService } from './connect-link.service.ts';
import type { ConsentService } from './consent.service.ts';
import { oauthEndpoints as e } from './oauth.contract.ts';
import { consentPage, linkFailurePage, linkPreviewPage } from './oauth.pages.ts';
import type { RefreshService } from './refresh.service.ts';

export function oauthRoutes(deps: { consent: ConsentService; links: ConnectLinkService; refresh: RefreshService; tokens: TokenService }) {
  return async (app: FastifyInstance) => {
    // The link page's button is a plain HTML form: its (empty) urlencoded body is accepted here,
    // and nowhere else in the API, which speaks JSON.
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 1024 }, (_request, _body, done) => done(null, undefined));
    mount(app, e.createConnectLink, async ({ principal, body, reply }) => {
      reply.header('cache-control', 'no-store');
      return deps.links.create(principal, body);
    });

    mount(app, e.reauthorization, async ({ principal, params, body, reply }) => {
      reply.header('cache-control', 'no-store');
      return deps.links.reauthorization(principal, params.id, body ?? {});
    });

    mount(app, e.listConnectLinks, async ({ principal, query }) => ({
      items: await deps.links.list(principal, { tenantId: query.tenantId, status: query.status, limit: query.limit === undefined ? 100 : Number(query.limit) }),
    }));
    mount(app, e.revokeConnectLink, async ({ principal, params, body }) => deps.links.revoke(principal, params.id, body.reason));

    // The link's code is a secret: keep these requests out of the access log. A person's browser
    // gets pages, errors included.
    // Never framed (a page of another site could overlay the Continue button), nothing loaded from
    // anywhere; no form-action, since the form's answer redirects to the issuer.
    const htmlPage = (reply: FastifyReply, status: number, html: string) =>
      reply
        .status(status)
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .header('referrer-policy', 'no-referrer')
        .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
        .header('x-frame-options', 'DENY')
        .header('x-content-type-options', 'nosniff')
        .send(html);
    // A person's browser gets a page for every error: a coded one (a rate limit) with its own status and words.
    const pageFor = (err: Error, fallback: { error: string; message: string }) =>
      isCustodyError(err) && err.code !== 'validation_failed' && err.code !== 'invalid_id' ? { status: err.status, error: err.code, message: err.message } : { status: 400, ...fallback };
    const pageOnError = {
      logLevel: 'warn' as const,
      errorHandler: (err: Error, _request: FastifyRequest, reply: FastifyReply) => {
        const p = pageFor(err, { error: 'bad_request', message: 'This address is not valid. Ask for a new consent link.' });
        return htmlPage(reply, p.status, linkFailurePage(p));
      },
    };
    mount(
      app,
      e.previewConnectLink,
      async ({ params, reply }) => {
        const preview = await deps.links.preview(params.code);
        return preview.ok ? htmlPage(reply, 200, linkPreviewPage(preview)) : htmlPage(reply, preview.status, linkFailurePage(preview));
      },
      pageOnError,
    );
    mount(
      app,
      e.openConnectLink,
      async ({ params, reply }) => {
        const opened = await deps.links.open(params.code);
        if (!opened.ok) return htmlPage(reply, opened.status, linkFailurePage(opened));
        return reply.status(303).header('cache-control', 'no-store').header('set-cookie', opened.consent.browserCookie).header('location', opened.consent.authorizationUrl).send(null);
      },
      pageOnError,
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
        return htmlPage(reply, status, html);
      },
      {
        logLevel: 'warn',
        errorHandler: (err: Error, _request: FastifyRequest, reply: FastifyReply) => {
          const p = pageFor(err, { error: 'bad_response', message: 'The response from the issuer could not be read. Start it again from Custody.' });
          return htmlPage(reply, p.status, consentPage({ ok: false, error: p.error, message: p.message }).html);
        },
      },
    );

    mount(app, e.refresh, async ({ principal, params, body }) => {
      // Visibility first: another tenant's token is a 404 before anything reaches the issuer.
      await deps.tokens.get(principal, params.id);
      return deps.refresh.refresh(params.id, body.scopes ? { scopes: body.scopes } : {});
    });
  };
}
