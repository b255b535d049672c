import { Type, type Static } from 'typebox';
import { endpoint } from '../contract/endpoint.ts';
import { IdOf, Nullable, NullableTimestamp } from '../contract/schemas.ts';
import { SIGNAL_ACTIONS, type SignalEventName } from './policy.rules.ts';

const Days = (description: string) => Type.Integer({ minimum: 1, maximum: 3650, description });
const Scope = Type.String({ minLength: 1, maxLength: 200, pattern: '^\\S+$' });
const SignalActionSchema = Type.Union([Type.Literal(SIGNAL_ACTIONS[0]), Type.Literal(SIGNAL_ACTIONS[1]), Type.Literal(SIGNAL_ACTIONS[2])]);

/** A policy as it is set at one level: every field optional (absent: inherited from the level above). */
export const PolicyDocumentSchema = Type.Object(
  {
    mode: Type.Optional(Type.Union([Type.Literal('enforce'), Type.Literal('audit')], { description: 'enforce: notices, then policy suspensions after graceDays (docs/governance.md, Enforcement); audit: would-be steps are only written to the ledger. Default audit.' })),
    dormantAfterDays: Type.Optional(Days('A live token unused this long is dormant. Default: CUSTODY_DORMANT_AFTER_DAYS (90).')),
    scopeUsageWindowDays: Type.Optional(Days('Granted scopes unused this long are privilege creep (overprivileged). Default 30.')),
    reviewIntervalDays: Type.Optional(Days('How long a purpose holds before its review is due, for tokens without a review date. Default 180.')),
    reauthorizeEveryDays: Type.Optional(Nullable(Days('Periodic customer reauthorisation, even for tokens in use; null: never. Default 365.'))),
    maxRefreshTokenAgeDays: Type.Optional(Nullable(Days('A grant older than this is a long-lived credential; null: no limit. Default 365.'))),
    maxAccessTokenTtlMinutes: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 525600, description: 'An access token living longer is a long-lived credential; null: no limit. Default 1440.' }))),
    requireApprover: Type.Optional(Type.Boolean({ description: 'A token without a customer approver is a finding (no_approver). Default true.' })),
    requirePurpose: Type.Optional(Type.Boolean({ description: 'A token without a purpose is a finding (no_purpose). Default true.' })),
    forbiddenScopes: Type.Optional(
      Type.Record(Type.String({ pattern: '^prv_[0-9A-HJKMNP-TV-Z]{26}$' }), Type.Array(Scope, { maxItems: 200, uniqueItems: true }), {
        maxProperties: 200,
        description: 'Per provider id, scopes no token may hold (forbidden_scope). A tenant override replaces the whole map.',
      }),
    ),
    graceDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 365, description: 'Days of notice before any enforcement (at least 1); shorter than every cycle it warns of. Default 14.' })),
    allowedScopes: Type.Optional(
      Type.Record(Type.String({ pattern: '^prv_[0-9A-HJKMNP-TV-Z]{26}$' }), Type.Array(Scope, { maxItems: 500, uniqueItems: true }), {
        maxProperties: 200,
        description:
          'Per provider id, the only API scopes a consent (and a reauthorisation) asks for, minus any forbidden ones; openid, email and offline_access are Custody’s own and always asked (unless forbidden; openid never is dropped). A provider not listed: no restriction. Scopes dropped are named in the oauth.consent_started ledger entry. A tenant override replaces the whole map. Default {}.',
      }),
    ),
    narrowScopesOnRefresh: Type.Optional(
      Type.Boolean({
        description:
          'A refresh asks only for the granted scopes used through the gateway within scopeUsageWindowDays, plus keepScopes; the token’s effectiveScopes show what the live access token holds, and a call needing a narrowed-away scope is refused with scope_narrowed (reauthorise to widen it again). Default false.',
      }),
    ),
    keepScopes: Type.Optional(Type.Array(Scope, { maxItems: 100, uniqueItems: true, description: 'Scopes a narrowing refresh always keeps. Default ["openid", "offline_access"].' })),
    suspendOnAlertSeverity: Type.Optional(
      Nullable(
        Type.Union([Type.Literal('high'), Type.Literal('critical')], {
          description: 'A detection alert (unusual use; docs/detection.md) on a token of at least this severity suspends it (kind signal; audit mode only writes policy.would_suspend); null: alerts never suspend. Default critical.',
        }),
      ),
    ),
    signalActions: Type.Optional(
      Type.Object(
        {
          'account-disabled': Type.Optional(SignalActionSchema),
          'account-purged': Type.Optional(SignalActionSchema),
          'credential-compromise': Type.Optional(SignalActionSchema),
          'sessions-revoked': Type.Optional(SignalActionSchema),
          'tokens-revoked': Type.Optional(SignalActionSchema),
          'session-revoked': Type.Optional(SignalActionSchema),
          'credential-change': Type.Optional(SignalActionSchema),
          'token-claims-change': Type.Optional(SignalActionSchema),
        } satisfies Record<SignalEventName, unknown>,
        {
        additionalProperties: false,
        description:
          'What a received Shared Signals event does to the tokens it names: flag (an alert), suspend (kind signal) or revoke (here and at the issuer). Keys: RISC account-disabled, account-purged, credential-compromise, sessions-revoked, tokens-revoked; CAEP session-revoked, credential-change, token-claims-change. Events not named keep the level above’s action. Acts in both modes. Default: revoke on credential-compromise, account-purged, tokens-revoked; suspend on account-disabled, sessions-revoked, session-revoked; flag on credential-change, token-claims-change.',
      }),
    ),
  },
  { additionalProperties: false, $id: 'PolicyDocument' },
);

const Source = Type.Union([Type.Literal('default'), Type.Literal('global'), Type.Literal('tenant')]);

export const PolicyViewSchema = Type.Object(
  {
    scope: Type.String({ description: "'global', or the tenant id" }),
    version: Type.Integer({ description: 'This level’s version: moves by one with each change that changes something (0: never set)' }),
    globalVersion: Type.Integer({ description: 'The global policy’s version (what a tenant’s effective values also rest on)' }),
    notes: Type.Array(Type.String(), { description: 'What a reader of these values must know (what the mode in force does)' }),
    set: PolicyDocumentSchema,
    values: Type.Object(
      {
        mode: Type.Union([Type.Literal('enforce'), Type.Literal('audit')]),
        dormantAfterDays: Type.Integer(),
        scopeUsageWindowDays: Type.Integer(),
        reviewIntervalDays: Type.Integer(),
        reauthorizeEveryDays: Nullable(Type.Integer()),
        maxRefreshTokenAgeDays: Nullable(Type.Integer()),
        maxAccessTokenTtlMinutes: Nullable(Type.Integer()),
        requireApprover: Type.Boolean(),
        requirePurpose: Type.Boolean(),
        forbiddenScopes: Type.Record(Type.String(), Type.Array(Type.String())),
        graceDays: Type.Integer(),
        allowedScopes: Type.Record(Type.String(), Type.Array(Type.String())),
        narrowScopesOnRefresh: Type.Boolean(),
        keepScopes: Type.Array(Type.String()),
        suspendOnAlertSeverity: Nullable(Type.Union([Type.Literal('high'), Type.Literal('critical')])),
        signalActions: Type.Record(Type.String(), SignalActionSchema),
      },
      { description: 'The values in force at this level (the effective policy for a tenant)' },
    ),
    sources: Type.Record(Type.String(), Source, { description: 'Where each value comes from' }),
    updatedAt: NullableTimestamp,
    updatedBy: Nullable(Type.String()),
  },
  { $id: 'PolicyView' },
);
export type PolicyView = Static<typeof PolicyViewSchema>;

const TenantParams = Type.Object({ id: IdOf('tenant') });
const tags = ['policy'];

export const policyEndpoints = {
  getGlobal: endpoint({ method: 'GET', path: '/v1/policy', summary: 'The global policy', description: 'Values set globally, the values in force, and where each comes from (default or global).', tags, permission: 'policy.read', status: 200, response: PolicyViewSchema, errors: [] }),
  putGlobal: endpoint({
    method: 'PUT',
    path: '/v1/policy',
    summary: 'Replace the global policy',
    description: 'The body is every value set globally; a value left out returns to its default. Versioned and ledgered (old and new values). Findings are recomputed at once (a sweep starts).',
    tags,
    permission: 'policy.manage',
    body: PolicyDocumentSchema,
    status: 200,
    response: PolicyViewSchema,
    errors: ['policy_invalid'],
  }),
  getTenant: endpoint({ method: 'GET', path: '/v1/tenants/:id/policy', summary: "A tenant's override", description: 'Only the values the tenant overrides (version 0: none).', tags, permission: 'policy.read', params: TenantParams, status: 200, response: PolicyViewSchema, errors: ['tenant_not_found'] }),
  putTenant: endpoint({
    method: 'PUT',
    path: '/v1/tenants/:id/policy',
    summary: "Replace a tenant's override",
    description: 'The body is every value the tenant overrides ({} removes the override). Versioned and ledgered; the tenant’s findings are recomputed at once.',
    tags,
    permission: 'policy.manage',
    params: TenantParams,
    body: PolicyDocumentSchema,
    status: 200,
    response: PolicyViewSchema,
    errors: ['tenant_not_found', 'policy_invalid'],
  }),
  effective: endpoint({
    method: 'GET',
    path: '/v1/tenants/:id/policy/effective',
    summary: "A tenant's effective policy",
    description: 'Each value in force for the tenant and where it comes from: default, global or tenant.',
    tags,
    permission: 'policy.read',
    params: TenantParams,
    status: 200,
    response: PolicyViewSchema,
    errors: ['tenant_not_found'],
  }),
};
