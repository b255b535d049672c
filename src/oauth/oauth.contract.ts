import { Type } from 'typebox';
import { endpoint } from '../contract/endpoint.ts';
import { TokenParams } from '../tokens/token.schemas.ts';
import { IdOf, ReasonBody } from '../contract/schemas.ts';
import { CallbackQuery, ConnectLinkBody, ConnectLinkQuery, ConnectLinkRecordSchema, ConnectLinkSchema, ConnectParams, ConnectQuery, ConnectResult, ReauthorizationBody, ReauthorizationSchema, RefreshBody, RefreshResultSchema } from './oauth.schemas.ts';

const tags = ['oauth'];
const Html = Type.String({ description: 'An HTML page for a person' });
// Any text: a malformed code gets the same page as an unknown one.
const LinkCodeParams = Type.Object({ code: Type.String({ minLength: 1, maxLength: 100 }) });

/** Customer consent, connect links and refresh (src/oauth/README.md). */
export const oauthEndpoints = {
  createConnectLink: endpoint({
    method: 'POST',
    path: '/v1/connect-links',
    summary: 'Make a consent link a customer administrator opens in a plain browser',
    description:
      'Single use and expiring. Opening it (GET /connect/{code}, no API key) starts authorization code + PKCE at the issuer, bound to that browser by an httpOnly cookie, on behalf of the caller.',
    tags,
    permission: 'tokens.register',
    body: ConnectLinkBody,
    status: 201,
    response: ConnectLinkSchema,
    errors: ['tenant_not_found', 'provider_not_found', 'consent_not_supported'],
  }),
  reauthorization: endpoint({
    method: 'POST',
    path: '/v1/tokens/:id/reauthorization',
    summary: "Make a reauthorisation link for a token's customer administrator",
    description:
      "A single-use, expiring link (like a connect link) whose consent renews this token in place: approval (the new approver recorded) and credentials, for the same tenant and provider, asking for the granted scopes minimised by the policy. A suspended token becomes active again if the suspension is one a customer's consent may lift (customer, policy). An administrator of another customer consenting through it is refused and ledgered.",
    tags,
    permission: 'tokens.reauthorize',
    params: TokenParams,
    body: ReauthorizationBody,
    status: 201,
    response: ReauthorizationSchema,
    errors: ['token_not_found', 'illegal_transition', 'consent_not_supported'],
  }),
  listConnectLinks: endpoint({
    method: 'GET',
    path: '/v1/connect-links',
    summary: 'Consent links (never their codes), newest first',
    description: 'A tenant-bound caller sees its own tenant only.',
    tags,
    permission: 'tokens.read',
    query: ConnectLinkQuery,
    status: 200,
    response: Type.Object({ items: Type.Array(ConnectLinkRecordSchema) }),
    errors: [],
  }),
  revokeConnectLink: endpoint({
    method: 'POST',
    path: '/v1/connect-links/:id/revoke',
    summary: 'Withdraw a consent link that has not been used',
    tags,
    permission: 'tokens.register',
    params: Type.Object({ id: IdOf('connectLink') }),
    body: ReasonBody,
    status: 200,
    response: ConnectLinkRecordSchema,
    errors: ['connect_link_not_found', 'illegal_transition'],
  }),
  previewConnectLink: endpoint({
    method: 'GET',
    path: '/connect/:code',
    summary: 'A consent link, opened in a browser: a page saying what would be approved, with a button to continue (changes nothing)',
    tags,
    permission: undefined,
    params: LinkCodeParams,
    status: 200,
    response: Html,
    errors: [],
  }),
  openConnectLink: endpoint({
    method: 'POST',
    path: '/connect/:code',
    summary: 'Continue from the link’s page: uses the link up and redirects the browser to the issuer (or explains, as a page, why not)',
    tags,
    permission: undefined,
    params: LinkCodeParams,
    status: 303,
    response: Type.Null({ description: 'Location: the issuer' }),
    errors: [],
  }),
  connect: endpoint({
    method: 'GET',
    path: '/v1/connect/:providerId',
    summary: 'Start a customer consent (authorization code + PKCE); redirects to the issuer',
    description: 'For a caller that is the browser itself: the flow is bound to the caller by an httpOnly cookie. To hand consent to a customer administrator, make a connect link instead.',
    tags,
    permission: 'tokens.register',
    params: ConnectParams,
    query: ConnectQuery,
    status: 302,
    response: ConnectResult,
    errors: ['tenant_not_found', 'provider_not_found', 'consent_not_supported'],
    changesState: true,
  }),
  callback: endpoint({
    method: 'GET',
    path: '/oauth/callback',
    summary: 'Where the issuer sends the customer back; answers with a page for a person',
    tags,
    permission: undefined,
    query: CallbackQuery,
    status: 200,
    response: Html,
    errors: [],
  }),
  refresh: endpoint({
    method: 'POST',
    path: '/v1/tokens/:id/refresh',
    summary: 'Refresh now (optionally narrowed to some granted scopes)',
    tags: ['tokens'],
    permission: 'tokens.update',
    params: TokenParams,
    body: RefreshBody,
    status: 200,
    response: RefreshResultSchema,
    errors: ['token_not_found', 'refresh_not_possible', 'refresh_failed', 'refresh_refused', 'scope_not_granted', 'illegal_transition'],
  }),
};
