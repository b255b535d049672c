import type { FastifyInstance } from 'fastify';
import { csrfMatches } from '../http/auth.ts';
import { clearedCookie, readCookie, sessionCookie } from '../http/cookies.ts';
import { mount } from '../http/mount.ts';
import { addressKey, createBuckets } from '../http/rate-limit.ts';
import { CustodyError } from '../shared/errors.ts';
import { CSRF_HEADER, sessionCookieName, sessionEndpoints as e } from './session.contract.ts';
import type { SessionService } from './session.service.ts';
import { SSO_CALLBACK_PATH, SSO_FLOW_TTL_SECONDS, SSO_START_PATH, ssoFailureOf, type SsoFlow } from './sso.ts';

/** Failed sign-ins a minute from one address: enough for a person's typos; keys are 256-bit, so this bounds work, not guessing. */
export const SIGN_IN_ATTEMPTS_PER_MINUTE = 30;

export interface SessionRouteOptions {
  /** Secure cookies: the console is served over https (CUSTODY_PUBLIC_URL). */
  secure: boolean;
  /** The public URL's path ('' at the root): where the console and the SSO routes are reached. */
  basePath: string;
  /** Single sign-on, when configured (src/sessions/sso.ts). */
  sso: SsoFlow | null;
}

/** The flow cookie of single sign-on: `__Host-` over https (path /), else scoped to the SSO routes. SameSite=Lax: the issuer's redirect back is a top-level GET from another site. */
function flowCookieName(secure: boolean): string {
  return secure ? '__Host-custody_sso' : 'custody_sso';
}
function flowCookie(value: string, maxAgeSeconds: number, options: SessionRouteOptions): string {
  const scope = options.secure ? 'Path=/; Secure' : `Path=${options.basePath}/v1/session/sso`;
  return `${flowCookieName(options.secure)}=${value}; Max-Age=${maxAgeSeconds}; ${scope}; HttpOnly; SameSite=Lax`;
}

export function sessionRoutes(sessions: SessionService, options: SessionRouteOptions) {
  return async (app: FastifyInstance) => {
    const attempts = createBuckets(SIGN_IN_ATTEMPTS_PER_MINUTE);
    const cookieName = sessionCookieName(options.secure);

    mount(app, e.signIn, async ({ body, request, reply }) => {
      // Failed sign-ins are what is limited, per address: a right key always signs in, so a flood of
      // wrong keys from the address everyone shares (a proxy) cannot lock the others out.
      const address = addressKey(request.ip);
      let signedIn;
      try {
        signedIn = await sessions.signInWithKey(body.apiKey);
      } catch (err) {
        const wait = attempts.peek(address);
        if (wait > 0) {
          reply.header('retry-after', String(wait));
          throw new CustodyError('rate_limited', `Too many failed sign-ins from this address; retry in ${wait} s.`);
        }
        attempts.take(address);
        throw err;
      }
      const { secret, view, maxAgeSeconds } = signedIn;
      reply.header('set-cookie', sessionCookie(cookieName, secret, { maxAgeSeconds, secure: options.secure }));
      reply.header('cache-control', 'no-store');
      return view;
    });

    mount(app, e.current, async ({ request, reply }) => {
      const secret = readCookie(request.headers.cookie, cookieName);
      const view = secret === null ? null : await sessions.view(secret);
      reply.header('cache-control', 'no-store');
      return { session: view };
    });

    mount(app, e.signOut, async ({ request, reply }) => {
      const secret = readCookie(request.headers.cookie, cookieName);
      if (secret !== null) {
        const session = await sessions.authenticate(secret);
        // Signing out is a state change: another site must not be able to end a person's session either.
        if (session && !csrfMatches(request, CSRF_HEADER, session.csrfToken)) throw new CustodyError('csrf_failed');
        await sessions.signOut(secret);
      }
      reply.header('set-cookie', clearedCookie(cookieName, { secure: options.secure }));
      return reply.status(204).send();
    });

    const sso = options.sso;
    mount(app, e.options, async () => ({ apiKey: true, sso: sso ? { issuer: sso.issuer, startUrl: `${options.basePath}${SSO_START_PATH}` } : null }));
    if (!sso) return;

    // The console's page turns the code in `sso_error` into its own words (web/src/login.tsx): a
    // fixed code, never a message, so the URL cannot put text of anyone's choosing on the page.
    const backToSignIn = (code: string) => `${options.basePath}/?sso_error=${encodeURIComponent(code)}`;
    const failure = (err: unknown): string => {
      const code = err instanceof CustodyError && err.code === 'sso_failed' ? ssoFailureOf(err) : null;
      if (code === null) throw err;
      return code;
    };
    // Public, like sign-in: documented as the contract's routes are (no role; 302 either way).
    const described = (summary: string) => ({ schema: { tags: ['console'], summary, description: 'Public: no API key or session needed.', 'x-custody-roles': [], 'x-custody-permission': null } });

    app.get(SSO_START_PATH, described('Single sign-on: redirects to the OpenID Connect issuer (302)'), async (request, reply) => {
      reply.header('cache-control', 'no-store');
      try {
        const { location, flowCookie: sealed } = await sso.start();
        reply.header('set-cookie', flowCookie(sealed, SSO_FLOW_TTL_SECONDS, options));
        return reply.redirect(location, 302);
      } catch (err) {
        const code = failure(err);
        request.log.warn({ code: 'sso_failed', failure: code, message: (err as Error).message, reason: (err as { reason?: string }).reason }, 'single sign-on could not start');
        return reply.redirect(backToSignIn(code), 302);
      }
    });

    app.get(SSO_CALLBACK_PATH, described('Single sign-on: the issuer’s redirect back; opens a session and redirects to the console (302)'), async (request, reply) => {
      reply.header('cache-control', 'no-store');
      const sealed = readCookie(request.headers.cookie, flowCookieName(options.secure));
      // The flow is used once, whatever happens: the cookie goes with this answer.
      const cookies = [flowCookie('', 0, options)];
      try {
        const { secret, maxAgeSeconds } = await sso.finish(new URL(request.url, 'http://callback.invalid'), sealed);
        cookies.push(sessionCookie(cookieName, secret, { maxAgeSeconds, secure: options.secure }));
        reply.header('set-cookie', cookies);
        return reply.redirect(`${options.basePath}/`, 302);
      } catch (err) {
        const code = failure(err);
        request.log.warn({ code: 'sso_failed', failure: code, message: (err as Error).message, reason: (err as { reason?: string }).reason }, 'single sign-on refused');
        reply.header('set-cookie', cookies);
        return reply.redirect(backToSignIn(code), 302);
      }
    });
  };
}
