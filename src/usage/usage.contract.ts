import { Type, type Static } from 'typebox';
import { endpoint } from '../contract/endpoint.ts';
import { IdOf, Nullable } from '../contract/schemas.ts';

const Day = Type.String({ pattern: '^\\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\\d|3[01])$', description: 'A UTC day, YYYY-MM-DD (inclusive)' });

const counts = {
  calls: Type.Integer({ description: 'Gateway calls made with the token (every outcome)' }),
  forwarded: Type.Integer({ description: 'Calls the gateway forwarded to the provider (whatever the provider answered)' }),
  denied: Type.Integer({ description: 'Calls the gateway refused (workload not allowed, token not active, scope not granted, …)' }),
  failed: Type.Integer({ description: 'Calls allowed but not completed (the provider unreachable, a timeout, a refresh that failed)' }),
};
const Counts = Type.Object(counts);

export const UsageWindowSchema = Type.Object({ from: Day, to: Day, days: Type.Integer() }, { description: 'The UTC days counted, both ends included' });

const usageFields = {
  window: UsageWindowSchema,
  totals: Counts,
  byDay: Type.Array(Type.Object({ day: Day, ...counts }), { description: 'Every day of the window, oldest first (days without calls count 0)' }),
  byWorkload: Type.Array(Type.Object({ workload: Nullable(Type.String({ description: 'null: the caller named no workload' })), ...counts }), { description: 'Most calls first, at most 100' }),
  byScope: Type.Array(Type.Object({ scope: Nullable(Type.String({ description: 'null: the call matched no scope rule of the provider' })), ...counts }), { description: 'Most calls first, at most 100' }),
  byOutcome: Type.Array(Type.Object({ outcome: Type.Union([Type.Literal('forwarded'), Type.Literal('denied'), Type.Literal('failed')]), calls: Type.Integer() })),
  byErrorCode: Type.Array(Type.Object({ errorCode: Type.String(), calls: Type.Integer() }), { description: 'Denied and failed calls by the error code the gateway answered with, most first, at most 100' }),
};

export const TokenUsageSchema = Type.Object({ tokenId: Type.String(), tenantId: Type.String(), ...usageFields }, { $id: 'TokenUsage' });
export type TokenUsage = Static<typeof TokenUsageSchema>;

export const UsageSummarySchema = Type.Object(
  {
    tenantId: Nullable(Type.String({ description: 'null: every tenant (platform roles)' })),
    ...usageFields,
    tokens: Type.Integer({ description: 'Tokens with at least one call in the window' }),
    byTenant: Type.Array(Type.Object({ tenantId: Type.String(), ...counts }), { description: 'Platform roles without a tenant filter: per tenant, most calls first' }),
    topTokens: Type.Array(Type.Object({ tokenId: Type.String(), tenantId: Type.String(), ...counts }), { description: 'The tokens with most calls, most first' }),
    at: Type.String({ description: 'When it was counted (a summary is reused for 10 seconds, or ten times as long as it took to count)' }),
  },
  { $id: 'UsageSummary' },
);
export type UsageSummary = Static<typeof UsageSummarySchema>;

const WindowQuery = { from: Type.Optional(Day), to: Type.Optional(Day) };

const tags = ['usage'];

export const usageEndpoints = {
  token: endpoint({
    method: 'GET',
    path: '/v1/tokens/:id/usage',
    summary: 'A token’s gateway calls over a window: by day, workload, scope, outcome and error code',
    description: 'The window is in whole UTC days: `to` defaults to today, `from` to 29 days before `to` (30 days); at most 366 days. A tenant administrator reads their tenant’s tokens only.',
    tags,
    permission: 'usage.read',
    params: Type.Object({ id: IdOf('token') }),
    query: Type.Object(WindowQuery, { additionalProperties: false }),
    status: 200,
    response: TokenUsageSchema,
    errors: ['token_not_found', 'usage_window_invalid'],
  }),
  summary: endpoint({
    method: 'GET',
    path: '/v1/usage/summary',
    summary: 'Gateway calls across tokens over a window, with the top tokens',
    description: 'The same aggregates as a token’s usage, over every token of a tenant (a tenant administrator: theirs) or of the platform, with per-tenant totals for platform roles and the `top` tokens by calls (default 10, at most 100).',
    tags,
    permission: 'usage.read',
    query: Type.Object({ tenantId: Type.Optional(IdOf('tenant')), ...WindowQuery, top: Type.Optional(Type.String({ pattern: '^(?:[1-9]\\d?|100)$', description: 'How many top tokens, 1–100 (default 10)' })) }, { additionalProperties: false }),
    status: 200,
    response: UsageSummarySchema,
    errors: ['tenant_not_found', 'usage_window_invalid'],
  }),
};
