import { Type, type Static } from 'typebox';
import { ROLES } from '../auth/roles.ts';
import { endpoint } from '../contract/endpoint.ts';
import { Nullable, Timestamp } from '../contract/schemas.ts';

/**
 * Console sessions (issue 17): an API key, or a single sign-on through an OpenID Connect issuer,
 * exchanged for a session held in an httpOnly, SameSite=Strict cookie. A state-changing call made
 * with the cookie must carry the session's CSRF token in `X-Custody-CSRF`; calls with
 * `Authorization: Bearer` are unaffected.
 */
export const SESSION_COOKIE = 'custody_session';
/**
 * The session cookie's name: `__Host-` prefixed over https, so that no sibling or parent domain
 * can plant a session cookie of its own (the browser accepts a `__Host-` cookie only from this
 * host, Secure, with Path=/ and no Domain).
 */
export const sessionCookieName = (secure: boolean) => (secure ? `__Host-${SESSION_COOKIE}` : SESSION_COOKIE);
export const CSRF_HEADER = 'x-custody-csrf';

export const SessionSchema = Type.Object(
  {
    role: Type.Enum(ROLES),
    tenantId: Nullable(Type.String()),
    tenantName: Nullable(Type.String({ description: 'The tenant’s name, for a tenant-bound session' })),
    name: Type.String({ description: 'The API key’s name, or the signed-in person (single sign-on)' }),
    via: Type.Union([Type.Literal('api_key'), Type.Literal('sso')]),
    csrfToken: Type.String({ description: `Send it as ${CSRF_HEADER} on every state-changing call made with the session cookie` }),
    expiresAt: Timestamp,
  },
  { $id: 'Session' },
);
export type SessionView = Static<typeof SessionSchema>;

/**
 * Why a single sign-on failed, as the sign-in page is told it (`/?sso_error=<code>`): a fixed code
 * the page turns into its own fixed words (web/src/login.tsx), so nobody can put text of their
 * choosing on Custody's sign-in page through the URL. The details go to the server's log.
 */
export const SSO_FAILURES = ['flow_missing', 'flow_invalid', 'not_mapped', 'issuer_unreachable', 'issuer_refused', 'answer_mismatch', 'answer_invalid'] as const;
export type SsoFailure = (typeof SSO_FAILURES)[number];

export const SignInBody = Type.Object({ apiKey: Type.String({ minLength: 1, maxLength: 200, description: 'A Custody API key (cus_…); never stored in the browser' }) }, { additionalProperties: false });

const tags = ['console'];
export const sessionEndpoints = {
  signIn: endpoint({
    method: 'POST',
    path: '/v1/session',
    summary: 'Sign in to the console: exchange an API key for a session cookie',
    description: 'Sets the httpOnly, SameSite=Strict session cookie (Secure over https). Workload keys cannot sign in.',
    tags,
    permission: undefined,
    body: SignInBody,
    status: 200,
    response: SessionSchema,
    errors: ['unauthenticated', 'forbidden'],
  }),
  current: endpoint({
    method: 'GET',
    path: '/v1/session',
    summary: 'The console session of this cookie, with its CSRF token (null when signed out)',
    description: 'Answers 200 either way, so the console can ask before anyone has signed in.',
    tags,
    permission: undefined,
    status: 200,
    response: Type.Object({ session: Nullable(SessionSchema) }),
    errors: [],
  }),
  signOut: endpoint({
    method: 'DELETE',
    path: '/v1/session',
    summary: 'Sign out: the session ends here and on every instance',
    tags,
    permission: undefined,
    status: 204,
    response: Type.Null(),
    errors: ['csrf_failed'],
  }),
  options: endpoint({
    method: 'GET',
    path: '/v1/session/options',
    summary: 'How one may sign in to the console (API key; single sign-on when configured)',
    tags,
    permission: undefined,
    status: 200,
    response: Type.Object({ apiKey: Type.Boolean(), sso: Nullable(Type.Object({ issuer: Type.String(), startUrl: Type.String() })) }),
    errors: [],
  }),
};
