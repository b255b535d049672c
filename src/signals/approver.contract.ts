import { Type, type Static } from 'typebox';
import { endpoint } from '../contract/endpoint.ts';
import { IdOf, ReasonText, Text, Timestamp } from '../contract/schemas.ts';

export const InactiveApproverSchema = Type.Object(
  {
    tenantId: Type.String(),
    issuer: Type.String(),
    subject: Type.String(),
    reason: Type.String(),
    source: Type.Union([Type.Literal('api'), Type.Literal('ssf')], { description: 'api: POST /v1/approvers/deactivate; ssf: a RISC account-disabled or account-purged event' }),
    deactivatedAt: Timestamp,
    deactivatedBy: Type.String(),
  },
  { $id: 'InactiveApprover' },
);
export type InactiveApprover = Static<typeof InactiveApproverSchema>;

export const DeactivateApproverBody = Type.Object(
  {
    tenantId: IdOf('tenant'),
    issuer: Text(500, 'The issuer the approver signs in at (the `approver.issuer` of their tokens)'),
    subject: Text(500, 'Their account (`sub`) at that issuer'),
    reason: Type.Optional(ReasonText()),
  },
  { additionalProperties: false },
);

export const DeactivationResult = Type.Object({
  approver: InactiveApproverSchema,
  tokensFlagged: Type.Integer({ description: 'Live tokens they approved whose approver is now inactive (governance finds approver_inactive; enforcement gives notice)' }),
  tokenIds: Type.Array(Type.String(), { description: 'The first 100 of them' }),
  alreadyInactive: Type.Boolean(),
});

const tags = ['signals'];

export const approverEndpoints = {
  deactivate: endpoint({
    method: 'POST',
    path: '/v1/approvers/deactivate',
    summary: 'A customer approver left: their approvals lose their approver',
    description:
      'Records the approver as inactive in the tenant, sets approver_inactive on every live token they approved there (notice, then suspension after the grace, per the tenant’s enforcement policy), ' +
      'and refuses a later consent by that same account. Another administrator of the tenant re-approving a token (its reauthorisation link) makes it approved again.',
    tags,
    permission: 'approvers.deactivate',
    body: DeactivateApproverBody,
    status: 200,
    response: DeactivationResult,
    errors: ['tenant_not_found'],
  }),
  listInactive: endpoint({
    method: 'GET',
    path: '/v1/approvers/inactive',
    summary: 'Approvers recorded as inactive, newest first',
    tags,
    permission: 'approvers.read',
    query: Type.Object({ tenantId: Type.Optional(IdOf('tenant')) }, { additionalProperties: false }),
    status: 200,
    response: Type.Object({ items: Type.Array(InactiveApproverSchema), truncated: Type.Boolean({ description: 'More than the 1,000 newest exist' }) }),
    errors: ['tenant_not_found'],
  }),
};
