import { Type, type Static } from 'typebox';
import { endpoint } from '../contract/endpoint.ts';
import { IdOf, Nullable } from '../contract/schemas.ts';
import { DEFAULT_TREND_DAYS, MAX_TREND_DAYS, TREND_RETENTION_DAYS } from './trend.rules.ts';

const Day = Type.String({ pattern: '^\\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\\d|3[01])$', description: 'A UTC day, YYYY-MM-DD (inclusive)' });

export const TrendPointSchema = Type.Object({
  day: Day,
  tokens: Type.Integer({ description: 'Live (active or suspended) tokens' }),
  managed: Type.Integer({ description: 'Of those, how many passed the practical test (DESIGN §4)' }),
  managedShare: Nullable(Type.Number({ minimum: 0, maximum: 1, description: 'managed / tokens; null when there were no live tokens' })),
  findings: Type.Record(Type.String(), Type.Integer(), { description: 'Live findings (open, acknowledged or excepted) by type, as GET /v1/findings/summary counts them; types with none are left out' }),
});

export const TrendsSchema = Type.Object({
  tenantId: Nullable(Type.String({ description: 'The tenant; null: the whole platform (platform roles only)' })),
  from: Day,
  to: Day,
  days: Type.Integer({ description: 'Days in the window, both ends included' }),
  points: Type.Array(TrendPointSchema, {
    description:
      'One point per day of the window that has a snapshot, oldest first: the day’s newest figures (a snapshot follows every governance sweep, and a daily timer takes one when no sweep has). A day on which the server took none has no point; a tenant with no live tokens and no findings that day reads zeros.',
  }),
});
export type Trends = Static<typeof TrendsSchema>;

export const trendEndpoints = {
  trends: endpoint({
    method: 'GET',
    path: '/v1/reports/trends',
    summary: 'The managed share and findings by type, day by day: per tenant or for the platform',
    description: `Whole UTC days: \`to\` defaults to today, \`from\` to ${DEFAULT_TREND_DAYS - 1} days before \`to\` (${DEFAULT_TREND_DAYS} days); at most ${MAX_TREND_DAYS}. Without \`tenantId\`, platform roles read the platform's figures and a tenant administrator its own tenant's; a tenant administrator reads no other tenant's, nor the platform's. Snapshots are kept ${TREND_RETENTION_DAYS} days.`,
    tags: ['reports'],
    permission: 'reports.read',
    query: Type.Object({ tenantId: Type.Optional(IdOf('tenant')), from: Type.Optional(Day), to: Type.Optional(Day) }, { additionalProperties: false }),
    status: 200,
    response: TrendsSchema,
    errors: ['tenant_not_found', 'trend_window_invalid'],
  }),
};
