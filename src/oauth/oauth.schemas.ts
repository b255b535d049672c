import { Type } from 'typebox';
import { IdOf, Text, Timestamp } from '../contract/schemas.ts';

const Scope = Type.String({ minLength: 1, maxLength: 200, pattern: '^\\S+$', description: 'a scope: no spaces' });

export const ConnectParams = Type.Object({ providerId: IdOf('provider') });

export const ConnectQuery = Type.Object(
  {
    tenantId: IdOf('tenant'),
    owner: Text(200, 'The accountable person or team on the platform side'),
    purpose: Type.Optional(Text(1000, 'The business justification')),
    scope: Type.Optional(Type.String({ minLength: 1, maxLength: 2000, pattern: '^\\S+( \\S+)*$', description: 'Space-separated API scopes to ask for (openid, email and offline_access are always asked)' })),
  },
  { additionalProperties: false },
);

export const ConnectResult = Type.Object({
  authorizationUrl: Type.String({ description: 'Send the customer administrator here (also the Location header)' }),
  flowId: Type.String(),
  expiresAt: Timestamp,
});

/** What an issuer may send back: RFC 6749 §4.1.2 plus the extensions issuers add (iss, session_state). */
export const CallbackQuery = Type.Object(
  {
    code: Type.Optional(Type.String({ maxLength: 4096 })),
    state: Type.Optional(Type.String({ maxLength: 512 })),
    error: Type.Optional(Type.String({ maxLength: 200 })),
    error_description: Type.Optional(Type.String({ maxLength: 2000 })),
    iss: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  { additionalProperties: true },
);

export const RefreshBody = Type.Object(
  { scopes: Type.Optional(Type.Array(Scope, { minItems: 1, maxItems: 200, description: 'Narrow the new access token to these granted scopes' })) },
  { additionalProperties: false },
);

export const RefreshResultSchema = Type.Object({
  tokenId: Type.String(),
  refreshed: Type.Boolean({ description: 'False when a concurrent refresh did the work' }),
  rotated: Type.Boolean({ description: 'The issuer sent a new refresh token' }),
  accessExpiresAt: Type.Union([Timestamp, Type.Null()]),
});

export const ConnectLinkBody = Type.Object(
  {
    providerId: IdOf('provider'),
    tenantId: IdOf('tenant'),
    owner: Text(200, 'The accountable person or team on the platform side'),
    purpose: Type.Optional(Text(1000, 'The business justification')),
    scopes: Type.Optional(Type.Array(Scope, { maxItems: 200, description: 'API scopes to ask for (openid, email and offline_access are always asked)' })),
    expiresInMinutes: Type.Optional(Type.Integer({ minimum: 5, maximum: 30 * 24 * 60, description: 'How long the link can be opened (default 4320: 72 hours)' })),
  },
  { additionalProperties: false },
);

export const ConnectLinkSchema = Type.Object({
  id: Type.String(),
  url: Type.String({ description: 'Open in a plain browser (no API key). Works once; shown only now' }),
  expiresAt: Timestamp,
});

export const ReauthorizationBody = Type.Object(
  { expiresInMinutes: Type.Optional(Type.Integer({ minimum: 5, maximum: 43200, description: 'How long the link may be opened (default 72 hours, at most 30 days)' })) },
  { additionalProperties: false },
);

export const ReauthorizationSchema = Type.Object({
  id: Type.String({ description: 'The link (listed with GET /v1/connect-links)' }),
  url: Type.String({ description: "For the token's customer administrator, to open in a plain browser (no API key). Works once; shown only now" }),
  expiresAt: Timestamp,
  scopes: Type.Array(Type.String(), { description: 'The scopes the consent asks for: the granted ones, minimised by the policy (never a forbidden one)' }),
});

export const ConnectLinkRecordSchema = Type.Object(
  {
    id: Type.String(),
    tenantId: Type.String(),
    providerId: Type.String(),
    owner: Type.String(),
    purpose: Type.Union([Type.String(), Type.Null()]),
    scopes: Type.Array(Type.String()),
    createdBy: Type.String(),
    createdAt: Timestamp,
    expiresAt: Timestamp,
    status: Type.Enum(['pending', 'opened', 'expired', 'revoked'], { description: 'pending: can still be opened' }),
    openedAt: Type.Union([Timestamp, Type.Null()]),
    revokedAt: Type.Union([Timestamp, Type.Null()]),
    tokenId: Type.Union([Type.String(), Type.Null()], { description: 'A reauthorisation link: the token it renews in place' }),
  },
  { $id: 'ConnectLink' },
);

export const ConnectLinkQuery = Type.Object(
  {
    tenantId: Type.Optional(IdOf('tenant')),
    status: Type.Optional(Type.Enum(['pending', 'opened', 'expired', 'revoked'])),
    limit: Type.Optional(Type.String({ pattern: '^(?:[1-9]\\d{0,2}|1000)$', description: 'Page size, 1–1000 (default 100)' })),
  },
  { additionalProperties: false },
);
