import { Type, type Static } from 'typebox';
import { endpoint } from '../contract/endpoint.ts';
import { IdOf, Nullable, ReasonText, Text, Timestamp } from '../contract/schemas.ts';
import { FINDING_TYPES } from './finding.types.ts';

export const ExceptionSchema = Type.Object(
  {
    id: Type.String(),
    tenantId: Type.String(),
    tokenId: Nullable(Type.String({ description: 'null: every token of the tenant' })),
    findingType: Type.Enum(FINDING_TYPES),
    approvedBy: Type.String(),
    reason: Type.String(),
    expiresAt: Timestamp,
    status: Type.Union([Type.Literal('active'), Type.Literal('expired'), Type.Literal('withdrawn')]),
    createdAt: Timestamp,
    createdBy: Type.String(),
    withdrawnAt: Nullable(Timestamp),
    withdrawnBy: Nullable(Type.String()),
  },
  { $id: 'FindingException' },
);
export type FindingException = Static<typeof ExceptionSchema>;

export const CreateExceptionBody = Type.Object(
  {
    tenantId: IdOf('tenant'),
    tokenId: Type.Optional(IdOf('token', 'Leave out to cover every token of the tenant')),
    findingType: Type.Enum(FINDING_TYPES),
    approvedBy: Text(200, 'The person who approved the exception (a customer-specific exception needs a name)'),
    reason: ReasonText(1000, 'Why the finding is accepted for now'),
    expiresAt: Timestamp,
  },
  { additionalProperties: false },
);

const ExceptionQuery = Type.Object(
  {
    tenantId: Type.Optional(IdOf('tenant')),
    tokenId: Type.Optional(IdOf('token')),
    status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('expired'), Type.Literal('withdrawn')])),
  },
  { additionalProperties: false },
);

const tags = ['findings'];
export const exceptionEndpoints = {
  create: endpoint({
    method: 'POST',
    path: '/v1/exceptions',
    summary: 'Accept a finding type for a tenant or a token, until a date',
    description: 'Covered findings show `excepted` with the exception, enforcement skips them, and they reopen when it expires (at most 365 days ahead). Ledgered.',
    tags,
    permission: 'exceptions.manage',
    body: CreateExceptionBody,
    status: 201,
    response: ExceptionSchema,
    errors: ['tenant_not_found', 'token_not_found'],
  }),
  list: endpoint({ method: 'GET', path: '/v1/exceptions', summary: 'Exceptions, newest first (at most 1,000; filter by tenant, token or status for older ones; a tenant administrator sees their tenant’s)', tags, permission: 'exceptions.read', query: ExceptionQuery, status: 200, response: Type.Object({ items: Type.Array(ExceptionSchema) }), errors: [] }),
  withdraw: endpoint({
    method: 'DELETE',
    path: '/v1/exceptions/:id',
    summary: 'Withdraw an exception before it expires',
    description: 'The findings it covered reopen at once. Ledgered; the record is kept.',
    tags,
    permission: 'exceptions.manage',
    params: Type.Object({ id: IdOf('exception') }),
    status: 200,
    response: ExceptionSchema,
    errors: ['exception_not_found', 'exception_expired'],
  }),
};
