import type { FastifyInstance } from 'fastify';
import { csrfMatches } from '../http/auth.ts';
import { clearedCookie, readCookie, sessionCookie } from '../http/cookies.ts';
import { mount } from '../http/mount.ts';
import { addressKey, createBuckets } from '../http/rate-limit.ts';
import { CustodyError } from '../shared/errors.ts';
import { CSRF_HEADER, SESSION_COOKIE, sessionEndpoints as e } from './session.contract.ts';
import type { SessionService } from './session.service.ts';

/** Sign-in attempts a minute from one address: enough for a person, too few to guess keys (which are 256-bit anyway). */
export const SIGN_IN_ATTEMPTS_PER_MINUTE = 30;

export interface SessionRouteOptions {
  /** Secure cookies: the console is served over https (CUSTODY_PUBLIC_URL). */
  secure: boolean;
  /** Single sign-on, when configured: where the console's button starts it. */
  sso: { issuer: string; startUrl: string } | null;
}

export function sessionRoutes(sessions: SessionService, options: SessionRouteOptions) {
  return async (app: FastifyInstance) => {
    const attempts = createBuckets(SIGN_IN_ATTEMPTS_PER_MINUTE);

    mount(app, e.signIn, async ({ body, request, reply }) => {
      const wait = attempts.take(addressKey(request.ip));
      if (wait > 0) {
        reply.header('retry-after', String(wait));
        throw new CustodyError('rate_limited', `Too many sign-in attempts from this address; retry in ${wait} s.`);
      }
      const { secret, view, maxAgeSeconds } = await sessions.signInWithKey(body.apiKey);
      reply.header('set-cookie', sessionCookie(SESSION_COOKIE, secret, { maxAgeSeconds, secure: options.secure }));
      reply.header('cache-control', 'no-store');
      return view;
    });

    mount(app, e.current, async ({ request, reply }) => {
      const secret = readCookie(request.headers.cookie, SESSION_COOKIE);
      const view = secret === null ? null : await sessions.view(secret);
      reply.header('cache-control', 'no-store');
      return { session: view };
    });

    mount(app, e.signOut, async ({ request, reply }) => {
      const secret = readCookie(request.headers.cookie, SESSION_COOKIE);
      if (secret !== null) {
        const session = await sessions.authenticate(secret);
        // Signing out is a state change: another site must not be able to end a person's session either.
        if (session && !csrfMatches(request, CSRF_HEADER, session.csrfToken)) throw new CustodyError('csrf_failed');
        await sessions.signOut(secret);
      }
      reply.header('set-cookie', clearedCookie(SESSION_COOKIE, { secure: options.secure }));
      return reply.status(204).send();
    });

    mount(app, e.options, async () => ({ apiKey: true, sso: options.sso }));
  };
}
