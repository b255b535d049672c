import { Type, type Static } from 'typebox';
import { BoolParam, IdOf, LimitParam, Nullable, NullableTimestamp, ReasonText, Text, Timestamp } from '../contract/schemas.ts';
import { TOKEN_STATES } from './token.lifecycle.ts';
import { SUSPENSION_KINDS } from './token.suspension.ts';

const Scope = Type.String({ minLength: 1, maxLength: 200, pattern: '^\\S+$', description: 'a scope: no spaces' });
const WorkloadName = Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9._:-]+$', description: 'a workload name: letters, digits and . _ : -' });
const State = Type.Enum(TOKEN_STATES);
const UsageChannel = Type.Union([Type.Literal('gateway'), Type.Literal('direct')], {
  description: "gateway (default): workloads use it through the gateway, which observes its use; direct: the platform uses it outside the gateway, so dormancy and unused scopes cannot be judged (finding 'unobserved')",
});
const ServedTenants = Type.Array(IdOf('tenant'), { maxItems: 1000, uniqueItems: true, description: 'Tenants the token serves beyond its own (delegated-admin, marketplace): a token serving several is shared (NHI9)' });
/** Credential material: accepted on registration, never returned. */
const Credential = Type.String({ minLength: 1, maxLength: 16384 });

export const ApproverInput = Type.Object(
  {
    subject: Text(255, 'The approver at the issuer (sub)'),
    email: Type.Optional(Type.String({ format: 'email', maxLength: 320 })),
    issuer: Type.Optional(Text(500)),
    approvedAt: Type.Optional(Timestamp),
  },
  { additionalProperties: false },
);

export const RegisterTokenBody = Type.Object(
  {
    tenantId: IdOf('tenant'),
    providerId: IdOf('provider'),
    owner: Text(200, 'The accountable person or team on the platform side'),
    subject: Type.Optional(Text(255, 'The resource owner at the issuer')),
    approver: Type.Optional(ApproverInput),
    purpose: Type.Optional(Text(1000, 'The business justification')),
    reviewDueAt: Type.Optional(Timestamp),
    workloads: Type.Optional(Type.Array(WorkloadName, { maxItems: 100 })),
    scopes: Type.Array(Scope, { maxItems: 200 }),
    accessToken: Credential,
    refreshToken: Type.Optional(Credential),
    issuedAt: Type.Optional(Timestamp),
    accessExpiresAt: Type.Optional(Timestamp),
    refreshExpiresAt: Type.Optional(Timestamp),
    usageChannel: Type.Optional(UsageChannel),
    servedTenants: Type.Optional(ServedTenants),
  },
  { additionalProperties: false },
);
export type RegisterTokenBody = Static<typeof RegisterTokenBody>;

export const PatchTokenBody = Type.Object(
  {
    owner: Type.Optional(Text(200)),
    purpose: Type.Optional(Nullable(Text(1000))),
    reviewDueAt: Type.Optional(NullableTimestamp),
    workloads: Type.Optional(Type.Array(WorkloadName, { maxItems: 100 })),
    usageChannel: Type.Optional(UsageChannel),
    servedTenants: Type.Optional(ServedTenants),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type PatchTokenBody = Static<typeof PatchTokenBody>;

export const TokenQuery = Type.Object(
  {
    tenantId: Type.Optional(IdOf('tenant')),
    providerId: Type.Optional(IdOf('provider')),
    state: Type.Optional(State),
    owner: Type.Optional(Text(200)),
    managed: Type.Optional(BoolParam),
    dormantDays: Type.Optional(Type.String({ pattern: '^(?:[1-9]\\d{0,3})$', description: 'Not used for at least this many days (1–9999)' })),
    q: Type.Optional(Text(200, 'Case-insensitive search in id, owner, purpose, subject and approver')),
    sort: Type.Optional(
      Type.Union([Type.Literal('id'), Type.Literal('risk')], {
        description: 'id (default): in id order. risk: highest risk score first (ties in id order); tokens without a score (not evaluated yet, revoked or expired) are left out',
      }),
    ),
    minRisk: Type.Optional(Type.String({ pattern: '^(?:\\d|[1-9]\\d|100)$', description: 'Only tokens whose risk score is at least this (0–100); tokens without a score are left out' })),
    maxRisk: Type.Optional(Type.String({ pattern: '^(?:\\d|[1-9]\\d|100)$', description: 'Only tokens whose risk score is at most this (0–100); tokens without a score are left out' })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    limit: LimitParam,
  },
  { additionalProperties: false },
);
export type TokenQuery = Static<typeof TokenQuery>;

export const BulkRevokeBody = Type.Object(
  {
    tenantId: Type.Optional(IdOf('tenant')),
    providerId: Type.Optional(IdOf('provider')),
    // 5,000 ids (about 170 KB) fit the API's body limit; more are revoked by tenant or provider.
    ids: Type.Optional(Type.Array(IdOf('token'), { minItems: 1, maxItems: 5000 })),
    reason: ReasonText(),
  },
  { additionalProperties: false },
);
export type BulkRevokeBody = Static<typeof BulkRevokeBody>;

export const TokenParams = Type.Object({ id: IdOf('token') });

export const ManagedReasonSchema = Type.Object({
  code: Type.String(),
  condition: Type.Union([Type.Literal('revocable'), Type.Literal('approved'), Type.Literal('justified')]),
  message: Type.String(),
});

export const RiskComponentSchema = Type.Object({
  name: Type.String({ description: 'scope_sensitivity, open_findings, dormancy, credential_age, exposure or revocation_path' }),
  points: Type.Integer({ minimum: 0, description: 'What this component adds to the score' }),
  max: Type.Integer({ minimum: 0, description: 'The most it can add (the maxima sum to 100)' }),
  reason: Type.String({ description: 'Why, in plain words, with the data behind it' }),
});

const RiskSchema = Type.Object(
  {
    score: Type.Integer({ minimum: 0, maximum: 100, description: 'The sum of the components' }),
    components: Type.Array(RiskComponentSchema),
  },
  {
    description:
      'The risk score (docs/risk.md): 0–100 from scope sensitivity, open findings, dormancy, credential age, exposure and revocation path, each component with its points and reason. Computed with the findings, moments after any change and by every sweep; null until first evaluated, and for a revoked or expired token (it holds no privilege).',
  },
);

export const TokenSchema = Type.Object(
  {
    id: Type.String(),
    tenantId: Type.String(),
    providerId: Type.String(),
    subject: Nullable(Type.String()),
    owner: Type.String(),
    approver: Nullable(
      Type.Object({
        subject: Type.String(),
        email: Nullable(Type.String()),
        issuer: Nullable(Type.String()),
        approvedAt: NullableTimestamp,
        active: Type.Boolean(),
        startedBy: Nullable(Type.String({ description: 'The platform user who started the consent (consented tokens only)' })),
      }),
    ),
    purpose: Nullable(Type.String()),
    reviewDueAt: NullableTimestamp,
    workloads: Type.Array(Type.String()),
    usageChannel: UsageChannel,
    servedTenants: Type.Array(Type.String()),
    grantedScopes: Type.Array(Type.String(), { description: 'What the customer approved (the grant); a refresh never changes it' }),
    effectiveScopes: Type.Array(Type.String(), {
      description: 'What the live access token holds: the granted scopes, or fewer after a narrowing refresh (policy narrowScopesOnRefresh). A gateway call needing a granted scope not held here is refused with scope_narrowed; a reauthorisation, or a refresh without narrowing, widens it again.',
    }),
    excessScopes: Type.Array(Type.String(), { description: 'Scopes the issuer granted beyond what the last consent asked for (an excess_grant finding); [] when none' }),
    scopeUsage: Type.Array(Type.Object({ scope: Type.String(), lastUsedAt: NullableTimestamp })),
    state: State,
    suspensionKind: Nullable(
      Type.Enum(SUSPENSION_KINDS, { description: 'While suspended: who suspended it, which decides who may lift it (security and signal suspensions: only admin or security; customer and policy ones: also the customer consenting again)' }),
    ),
    stateReason: Nullable(Type.String()),
    stateActor: Nullable(Type.String()),
    stateChangedAt: Timestamp,
    issuedAt: Timestamp,
    accessExpiresAt: NullableTimestamp,
    refreshExpiresAt: NullableTimestamp,
    lastUsedAt: NullableTimestamp,
    lastUsedBy: Nullable(Type.String()),
    hasRefreshToken: Type.Boolean(),
    revocationPath: Type.Object({
      local: Type.Literal('gateway'),
      upstream: Type.Union([Type.Literal('rfc7009'), Type.Literal('none')]),
      verified: Type.Boolean(),
    }),
    revocation: Nullable(
      Type.Object(
        {
          requestedAt: Timestamp,
          locallyEffectiveAt: NullableTimestamp,
          upstream: Type.Union([Type.Literal('pending'), Type.Literal('verified'), Type.Literal('unverifiable'), Type.Literal('failed'), Type.Literal('none')]),
          upstreamConfirmedAt: NullableTimestamp,
        },
        { description: 'Kill time: requested → locally effective → upstream confirmed (null until revoked)' },
      ),
    ),
    managed: Nullable(Type.Boolean({ description: 'The practical test of DESIGN §4: revocable, approved and justified; null for a revoked or expired token, which holds no privilege' })),
    managedReasons: Type.Array(ManagedReasonSchema),
    risk: Nullable(RiskSchema),
    predecessorId: Nullable(Type.String()),
    inventoryOnly: Type.Boolean({
      description:
        'Imported without credentials (POST /v1/tokens/import): governed as inventory, but Custody holds nothing to use, refresh or revoke it with. The gateway refuses it (token_inventory_only), its upstream revocation path is none, and its use is not observed (usageChannel direct). A customer consent through Custody (a reauthorisation link) gives it credentials.',
    }),
    externalId: Nullable(Type.String({ description: 'Its id in the system it was imported from: a re-run of the import finds it by tenant, provider and this id' })),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { $id: 'Token' },
);

export const TokenPage = Type.Object({ items: Type.Array(TokenSchema), nextCursor: Nullable(Type.String()) });
export const BulkRevokeResult = Type.Object({
  revoked: Type.Integer({ description: 'Tokens revoked by this call (already revoked or expired ones are left as they are).' }),
  upstreamPending: Type.Integer({ description: 'Of those, how many wait for revocation at their issuer (queued in the paced bulk lane).' }),
  upstreamNone: Type.Integer({ description: 'Of those, how many have a provider with no revocation endpoint: revoked in Custody only, still valid at the issuer until revoked there by hand or until they expire.' }),
  requestedAt: Type.String({ format: 'date-time', description: 'When this revocation was asked for: pass it to GET /v1/tokens/revocation-progress.' }),
  notRevoked: Type.Optional(
    Type.Array(
      Type.Object({
        id: Type.String(),
        why: Type.Union([Type.Literal('not_found'), Type.Literal('outside_filter'), Type.Literal('not_live'), Type.Literal('changed_meanwhile')]),
        state: Type.Optional(Type.String({ description: 'The token’s state, for not_live and changed_meanwhile' })),
      }),
      {
        description:
          'Only when ids were given: each named id this call did not revoke, and why — not_found (no token you can see: another tenant’s reads the same), outside_filter (not of the tenantId or providerId also given), not_live (already revoked or expired), changed_meanwhile (changed by another writer during the revocation: revoke it again). Empty when every id was revoked.',
      },
    ),
  ),
});

export const RevocationProgressQuery = Type.Object(
  {
    requestedAt: Timestamp,
    tenantId: Type.Optional(IdOf('tenant')),
    providerId: Type.Optional(IdOf('provider')),
  },
  { additionalProperties: false },
);

export const RevocationProgress = Type.Object({
  total: Type.Integer({ description: 'Tokens whose revocation was asked for at requestedAt (and match the filter).' }),
  pending: Type.Integer({ description: 'Waiting for the issuer.' }),
  verified: Type.Integer({ description: 'Revoked at the issuer, confirmed by introspection.' }),
  unverifiable: Type.Integer({ description: 'Revoked at the issuer without confirmation: it offers no introspection, or the credential was registered (not obtained from the issuer) and the issuer did not report it active before its revocation.' }),
  failed: Type.Integer({ description: 'Given up after retrying (an alert was raised; revoke at the issuer by hand).' }),
  none: Type.Integer({ description: 'The provider has no revocation endpoint: revoked in Custody only.' }),
});

export const TokenCountsQuery = Type.Object({ tenantId: Type.Optional(IdOf('tenant', 'Count one tenant (a tenant administrator: only its own, the default for it); without it, every tenant')) }, { additionalProperties: false });

export const TokenCounts = Type.Object({
  at: Type.String({ description: 'When these were counted (a platform-wide count is reused for up to 5 s)' }),
  items: Type.Array(
    Type.Object({
      providerId: Type.String(),
      state: State,
      count: Type.Integer(),
    }),
    { description: 'One row per provider and state that has tokens, by provider id then state' },
  ),
});
