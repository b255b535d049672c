import { Type, type Static } from 'typebox';
import { endpoint } from '../contract/endpoint.ts';
import { IdOf, Nullable, Timestamp } from '../contract/schemas.ts';
import { REPORT_FORMATS, REPORT_TABLES } from './report.types.ts';

/** The compliance report (docs/compliance.md explains each figure). One schema: the API, the OpenAPI document and the CLI. */

const Count = Type.Integer({ minimum: 0 });
const Share = Nullable(Type.Number({ minimum: 0, maximum: 1, description: 'managed ÷ live, rounded to 4 decimals; null when there is no live token' }));
const Ref = Type.Object({ id: Type.String(), name: Type.String(), count: Count });
const Stat = Type.Object({
  count: Count,
  p50Ms: Nullable(Type.Integer({ description: 'median, ms (nearest rank); null without a measurement' })),
  p99Ms: Nullable(Type.Integer({ description: '99th percentile, ms (nearest rank)' })),
  maxMs: Nullable(Type.Integer()),
});
const ManagedShare = Type.Object({ live: Count, managed: Count, unmanaged: Count, share: Share });

export const ComplianceReportSchema = Type.Object(
  {
    kind: Type.Literal('custody.compliance-report'),
    version: Type.Literal(1),
    generatedAt: Timestamp,
    generatedBy: Type.String({ description: 'Who asked for it, as the ledger names actors' }),
    custody: Type.Object({ version: Type.String(), publicUrl: Type.String({ description: 'The instance that produced it (CUSTODY_PUBLIC_URL)' }) }),
    scope: Type.Object({
      tenantId: Nullable(Type.String({ description: 'null: every tenant (platform roles only)' })),
      tenantName: Nullable(Type.String()),
      tenants: Count,
    }),
    period: Type.Object({ from: Timestamp, to: Timestamp }, { description: 'Kill times and review campaigns count what happened in [from, to); every other figure is the state at generatedAt' }),
    managedShare: Type.Object({
      ...ManagedShare.properties,
      byTenant: Type.Array(Type.Object({ tenantId: Type.String(), tenantName: Nullable(Type.String()), ...ManagedShare.properties })),
      byTenantTruncated: Type.Boolean(),
      trend: Type.Object({
        points: Type.Array(Type.Object({ day: Type.String({ description: 'UTC YYYY-MM-DD' }), live: Count, managed: Count, share: Share })),
        note: Nullable(Type.String({ description: 'Why the trend is empty or short, when it is' })),
      }),
    }),
    findings: Type.Object({
      sweptAt: Nullable(Type.String({ description: 'When the newest finished governance sweep started: every live finding was true then or was found since by the change path (null: no sweep yet)' })),
      total: Count,
      bySeverity: Type.Record(Type.String(), Count),
      byStatus: Type.Record(Type.String(), Count),
      byType: Type.Array(Type.Object({ type: Type.String(), severity: Type.String(), count: Count })),
      owaspNhi: Type.Array(Ref, { description: 'Every OWASP NHI Top 10 (2025) item; count: live findings of the types mapped to it' }),
      nistCsf: Type.Array(Ref, { description: 'NIST CSF 2.0 subcategories of the mapping table' }),
      nistAiRmf: Type.Object({
        categories: Type.Array(Type.Object({ id: Type.String(), count: Count }), { description: 'e.g. GOVERN 1: a finding counts once per category, however many of its subcategories it maps to' }),
        subcategories: Type.Array(Ref),
      }),
    }),
    accountability: Type.Object({
      live: Count,
      lackingOwner: Type.Integer({ description: 'Live tokens whose owner is not an active owner of the owners directory (findings no_owner, owner_orphaned)' }),
      lackingApprover: Type.Integer({ description: 'Live tokens with no customer-side approver recorded' }),
      lackingPurpose: Type.Integer({ description: 'Live tokens with no business purpose recorded' }),
      tokens: Type.Array(
        Type.Object({ tokenId: Type.String(), tenantId: Type.String(), providerId: Type.String(), owner: Type.String(), lacking: Type.Array(Type.Union([Type.Literal('owner'), Type.Literal('approver'), Type.Literal('purpose')])) }),
        { description: 'The first of them in id order, at most listLimit' },
      ),
      listLimit: Count,
      truncated: Type.Boolean(),
    }),
    exceptions: Type.Object({
      inForce: Count,
      byFindingType: Type.Array(Type.Object({ findingType: Type.String(), count: Count })),
      items: Type.Array(
        Type.Object({ id: Type.String(), tenantId: Type.String(), tokenId: Nullable(Type.String()), findingType: Type.String(), approvedBy: Type.String(), reason: Type.String(), expiresAt: Timestamp }),
      ),
      truncated: Type.Boolean(),
    }),
    reviews: Type.Object({
      live: Count,
      reviewCurrent: Count,
      reviewOverdue: Count,
      coverage: Share,
      campaigns: Nullable(
        Type.Object({ campaigns: Count, items: Count, decided: Count, kept: Count, revoked: Count, reassigned: Count, escalated: Count, open: Count }, { description: 'Access review campaigns created in the period' }),
      ),
      note: Nullable(Type.String()),
    }),
    killTime: Type.Object({
      revocations: Count,
      locallyEffective: Stat,
      upstreamVerified: Stat,
      upstreamOutcomes: Type.Object({ pending: Count, verified: Count, unverifiable: Count, failed: Count, none: Count }),
    }),
    connections: Type.Object({
      omitted: Type.Optional(Type.Literal(true, { description: 'Present when the caller asked for the report without its connections (`connections=omit`): `pairs` is then 0 and `items` empty' })),
      pairs: Count,
      items: Type.Array(
        Type.Object({
          tenantId: Type.String(),
          tenantName: Nullable(Type.String()),
          providerId: Type.String(),
          providerName: Nullable(Type.String()),
          liveTokens: Count,
          scopes: Type.Array(Type.Object({ scope: Type.String(), tokens: Count })),
        }),
      ),
      truncated: Type.Boolean(),
    }),
    ledger: Type.Object({
      checkpoint: Nullable(Type.Object({ seq: Type.Integer(), hash: Type.String(), at: Type.String(), keyId: Type.String(), signature: Type.String({ description: 'Ed25519 over custody-ledger-checkpoint:v1:{seq}:{hash}, base64' }) })),
    }),
  },
  { $id: 'ComplianceReport' },
);
export type ComplianceReport = Static<typeof ComplianceReportSchema>;

export const ReportSignatureSchema = Type.Object(
  {
    alg: Type.Literal('EdDSA'),
    keyId: Type.String(),
    canonicalization: Type.Literal('RFC8785'),
    value: Type.String({ description: 'Ed25519 over the RFC 8785 (JCS) serialisation of `report`, base64' }),
  },
  { $id: 'ReportSignature' },
);
export type ReportSignature = Static<typeof ReportSignatureSchema>;

export const SignedReportSchema = Type.Object({ report: ComplianceReportSchema, signature: ReportSignatureSchema }, { $id: 'SignedComplianceReport' });
export type SignedReport = Static<typeof SignedReportSchema>;

const PeriodBound = (description: string) =>
  Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}(?:[Tt]\\d{2}:\\d{2}:[0-5]\\d(?:\\.\\d{1,9})?(?:[Zz]|[+-]\\d{2}:\\d{2}))?$', description });

export const ReportQuery = Type.Object(
  {
    tenantId: Type.Optional(IdOf('tenant', 'One tenant (a tenant administrator: only its own, the default for it); without it, every tenant')),
    from: Type.Optional(PeriodBound('Start of the period: a UTC date (its midnight) or an ISO 8601 timestamp; default 30 days before `to`')),
    to: Type.Optional(PeriodBound('End of the period, exclusive: a UTC date (the period takes in that whole day) or a timestamp; default now. At most 366 days after `from`')),
    format: Type.Optional(Type.Union(REPORT_FORMATS.map((f) => Type.Literal(f)), { description: 'json (default, signed), csv (one table: name it with `table`), html (one printable page)' })),
    table: Type.Optional(Type.String({ pattern: '^[a-z_]{1,40}$', description: `CSV only: ${REPORT_TABLES.join(', ')}` })),
    connections: Type.Optional(
      Type.Union([Type.Literal('include'), Type.Literal('omit')], {
        description: 'include (default): the providers connected to each tenant with their scopes; omit: leave them out (the report says so, and is signed as it is) — the costliest part at scale, which a dashboard of the other figures does not need',
      }),
    ),
  },
  { additionalProperties: false },
);

export const KillTimesQuery = Type.Object(
  {
    tenantId: ReportQuery.properties.tenantId,
    from: ReportQuery.properties.from,
    to: ReportQuery.properties.to,
  },
  { additionalProperties: false },
);

const Buckets = Type.Array(
  Type.Object({ underMs: Nullable(Type.Integer({ description: 'Upper bound (exclusive) of the bucket, ms; null: the open last bucket' })), count: Count }),
  { description: 'The distribution: every bucket, in order (under 10 ms, 50 ms, 100 ms, 500 ms, 1 s, 5 s, 1 min, 1 h, then longer)' },
);

export const KillTimesSchema = Type.Object({
  scope: Type.Object({ tenantId: Nullable(Type.String({ description: 'null: every tenant' })) }),
  period: Type.Object({ from: Timestamp, to: Timestamp }),
  revocations: Count,
  locallyEffective: Type.Object({ ...Stat.properties, buckets: Buckets }, { description: 'Requested → refused by the gateway' }),
  upstreamVerified: Type.Object({ ...Stat.properties, buckets: Buckets }, { description: 'Requested → revoked at the issuer and confirmed by introspection' }),
  upstreamOutcomes: Type.Object({ pending: Count, verified: Count, unverifiable: Count, failed: Count, none: Count }),
});
export type KillTimes = Static<typeof KillTimesSchema>;

export const reportEndpoints = {
  killTimes: endpoint({
    method: 'GET',
    path: '/v1/reports/kill-times',
    summary: 'Kill times of the revocations asked for in a period, as a distribution',
    description:
      'The compliance report’s kill times alone (read from the revocations index, so cheap enough for a dashboard): for each revocation asked for in [from, to) (default the last 30 days), the time until the gateway refused the token and until the issuer’s revocation was confirmed, as p50/p99/max and as buckets, and where each stands at the issuer. A tenant administrator gets its own tenant only.',
    tags: ['reports'],
    permission: 'reports.read',
    query: KillTimesQuery,
    status: 200,
    response: KillTimesSchema,
    errors: ['tenant_not_found', 'report_period_invalid'],
  }),

  compliance: endpoint({
    method: 'GET',
    path: '/v1/reports/compliance',
    summary: 'The compliance report: signed JSON, one CSV table, or a printable HTML page',
    description:
      'Managed share and its trend; findings by OWASP NHI 2025 item, NIST CSF 2.0 subcategory and NIST AI RMF category; tokens lacking owner, approver or purpose; exceptions in force; review coverage; kill times of the period (p50, p99); providers connected to each tenant with their scopes; the latest signed ledger checkpoint. ' +
      'The JSON is signed with the ledger key (Ed25519 over RFC 8785 JCS; the key is at GET /v1/ledger/key); check it with `custody report verify FILE`. ' +
      '`format=csv` answers one table (`table=`; without it, 400 report_table_invalid lists them), RFC 4180 with formula-like values neutralised. `format=html` is one self-contained page (no script, no external asset). ' +
      'A tenant administrator gets its own tenant only.',
    tags: ['reports'],
    permission: 'reports.read',
    query: ReportQuery,
    status: 200,
    response: SignedReportSchema,
    errors: ['tenant_not_found', 'report_period_invalid', 'report_table_invalid'],
  }),
};
