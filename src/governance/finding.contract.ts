import { Type, type Static } from 'typebox';
import { endpoint } from '../contract/endpoint.ts';
import { IdOf, LimitParam, Nullable, ReasonBody, Timestamp } from '../contract/schemas.ts';
import { ENFORCEMENT_STAGES } from './enforcement.plan.ts';
import { FINDING_SEVERITIES, FINDING_STATUSES, FINDING_TYPES } from './finding.types.ts';

const Ref = Type.Object({ id: Type.String(), name: Type.String() });

export const FindingSchema = Type.Object(
  {
    id: Type.String(),
    type: Type.Enum(FINDING_TYPES),
    severity: Type.Enum(FINDING_SEVERITIES),
    status: Type.Enum(FINDING_STATUSES),
    tokenId: Nullable(Type.String()),
    workloadId: Nullable(Type.String({ description: 'For a finding about a workload (owner_orphaned, no_owner)' })),
    tenantId: Nullable(Type.String()),
    firstSeenAt: Timestamp,
    lastSeenAt: Timestamp,
    resolvedAt: Nullable(Timestamp),
    reasons: Type.Array(Type.Object({ code: Type.String(), message: Type.String(), data: Type.Optional(Type.Record(Type.String(), Type.Unknown())) })),
    mappings: Type.Object({ owaspNhi: Type.Array(Ref), nistCsf: Type.Array(Ref), nistAiRmf: Type.Array(Ref) }, { description: 'OWASP Non-Human Identities Top 10 (2025), NIST CSF 2.0, NIST AI RMF 1.0 (docs/compliance.md)' }),
    exception: Nullable(Type.Object({ id: Type.String(), expiresAt: Nullable(Timestamp) })),
    acknowledgement: Nullable(Type.Object({ at: Timestamp, by: Type.String(), reason: Nullable(Type.String()) })),
    enforcement: Nullable(
      Type.Object(
        {
          stage: Type.Union([Type.Enum(ENFORCEMENT_STAGES), Type.Null()], { description: 'null: nothing done yet; notified; suspended; in audit mode would_notify / would_suspend' }),
          nextActionAt: Type.Union([Timestamp, Type.Null()], { description: 'When the next step falls due (null: none, or held by an exception or a token that is not active)' }),
          noticeId: Nullable(Type.String()),
        },
        { description: 'Where enforcement stands on this finding (null for the types enforcement does not act on)' },
      ),
    ),
  },
  { $id: 'Finding' },
);
export type Finding = Static<typeof FindingSchema>;

export const FindingQuery = Type.Object(
  {
    tenantId: Type.Optional(IdOf('tenant')),
    tokenId: Type.Optional(IdOf('token')),
    type: Type.Optional(Type.Enum(FINDING_TYPES)),
    severity: Type.Optional(Type.Enum(FINDING_SEVERITIES)),
    status: Type.Optional(Type.Enum(FINDING_STATUSES, { description: 'Default: every status but resolved' })),
    owaspNhi: Type.Optional(Type.String({ pattern: '^NHI(?:[1-9]|10)$', description: 'An OWASP NHI Top 10 (2025) item, e.g. NHI7' })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    limit: LimitParam,
  },
  { additionalProperties: false },
);

const Counts = Type.Record(Type.String(), Type.Integer());
const Share = Type.Object({
  live: Type.Integer({ description: 'Tokens holding privilege (active or suspended)' }),
  managed: Type.Integer(),
  unmanaged: Type.Integer(),
  share: Nullable(Type.Number({ description: 'managed / live (null with no live token)' })),
});

export const FindingSummarySchema = Type.Object({
  tenantId: Nullable(Type.String()),
  at: Timestamp,
  findings: Type.Integer({ description: 'Live (not resolved) findings' }),
  byType: Counts,
  bySeverity: Counts,
  byStatus: Counts,
  byOwaspNhi: Counts,
  byNistCsf: Counts,
  managed: Share,
  tenants: Type.Array(Type.Object({ tenantId: Type.String(), findings: Type.Integer(), managed: Share })),
});

export const SweepResultSchema = Type.Object({
  startedAt: Timestamp,
  finishedAt: Timestamp,
  durationMs: Type.Integer(),
  tokens: Type.Integer({ description: 'Live tokens evaluated' }),
  workloads: Type.Integer(),
  opened: Type.Integer(),
  resolved: Type.Integer(),
  changed: Type.Integer({ description: 'Findings whose reasons, status or exception changed' }),
  riskChanged: Type.Integer({ description: 'Tokens whose risk score or its components changed (and were written)' }),
  enforcement: Nullable(
    Type.Object(
      {
        due: Type.Integer({ description: 'Findings whose next enforcement step had fallen due' }),
        notified: Type.Integer({ description: 'Notices given' }),
        suspended: Type.Integer({ description: 'Tokens suspended by policy' }),
        wouldNotify: Type.Integer({ description: 'Audit mode: notices that would have been given (ledgered only)' }),
        wouldSuspend: Type.Integer({ description: 'Audit mode: suspensions that would have been made (ledgered only)' }),
        unchanged: Type.Integer({ description: 'Looked at and left (excepted, token not active, not due yet)' }),
        durationMs: Type.Integer(),
      },
      { description: 'The enforcement pass that follows the sweep' },
    ),
  ),
});

const tags = ['findings'];
const FindingParams = Type.Object({ id: IdOf('finding') });

export const findingEndpoints = {
  list: endpoint({
    method: 'GET',
    path: '/v1/findings',
    summary: 'Findings, filtered and paged',
    description: 'A tenant administrator sees their tenant’s only. Without `status`, every live finding (open, acknowledged, excepted).',
    tags,
    permission: 'findings.read',
    query: FindingQuery,
    status: 200,
    response: Type.Object({ items: Type.Array(FindingSchema), nextCursor: Nullable(Type.String()) }),
    errors: ['invalid_cursor'],
  }),
  summary: endpoint({
    method: 'GET',
    path: '/v1/findings/summary',
    summary: 'Counts by type, severity, OWASP item and CSF subcategory, and the managed share',
    description:
      'Overall and per tenant (a tenant administrator: their tenant). The managed share is counted over the inventory (the same test as GET /v1/tokens?managed=). Each summary (platform-wide, or a tenant’s) is reused for up to 10 seconds, so polling it cannot keep the database scanning; `at` says when it was counted.',
    tags,
    permission: 'findings.read',
    query: Type.Object({ tenantId: Type.Optional(IdOf('tenant')) }, { additionalProperties: false }),
    status: 200,
    response: FindingSummarySchema,
    errors: ['tenant_not_found'],
  }),
  get: endpoint({ method: 'GET', path: '/v1/findings/:id', summary: 'One finding, with its reasons and mappings', tags, permission: 'findings.read', params: FindingParams, status: 200, response: FindingSchema, errors: ['finding_not_found'] }),
  acknowledge: endpoint({
    method: 'POST',
    path: '/v1/findings/:id/acknowledge',
    summary: 'Acknowledge a finding (seen, being worked on)',
    description: 'Acknowledging does not suppress it (an exception does): it stays until its cause clears. Ledgered.',
    tags,
    permission: 'findings.acknowledge',
    params: FindingParams,
    body: ReasonBody,
    status: 200,
    response: FindingSchema,
    errors: ['finding_not_found', 'finding_resolved'],
  }),
  sweep: endpoint({
    method: 'POST',
    path: '/v1/sweeps',
    summary: 'Run the governance sweep now',
    description: 'Evaluates every live token and workload; answers when it has finished, with what it found. A sweep starts after the call: if one is running, the next one (shared by every caller who asked meanwhile) runs when it ends.',
    tags,
    permission: 'sweeps.run',
    status: 200,
    response: SweepResultSchema,
    errors: [],
  }),
};
