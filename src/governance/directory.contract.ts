import { Type, type Static } from 'typebox';
import { endpoint } from '../contract/endpoint.ts';
import { IdOf, Nullable, ReasonText, Text, Timestamp } from '../contract/schemas.ts';

const OwnerName = Type.String({ minLength: 1, maxLength: 200, description: 'How tokens name the owner (their `owner` field): a person or team' });
const WorkloadName = Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9._:-]+$', description: 'As tokens and workload API keys name it' });

export const OwnerSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    kind: Type.Union([Type.Literal('person'), Type.Literal('team')]),
    contact: Nullable(Type.String()),
    active: Type.Boolean({ description: 'false once the person left or the team was dissolved: their tokens and workloads are owner_orphaned' }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { $id: 'Owner' },
);
export type Owner = Static<typeof OwnerSchema>;

export const CreateOwnerBody = Type.Object(
  { name: OwnerName, kind: Type.Union([Type.Literal('person'), Type.Literal('team')]), contact: Type.Optional(Text(320, 'Email, chat channel or pager')), active: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);
export const PatchOwnerBody = Type.Object(
  { kind: Type.Optional(Type.Union([Type.Literal('person'), Type.Literal('team')])), contact: Type.Optional(Nullable(Text(320))), active: Type.Optional(Type.Boolean()) },
  { additionalProperties: false, minProperties: 1 },
);

export const WorkloadSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    tenantId: Nullable(Type.String({ description: 'null: platform-wide (serves every tenant)' })),
    owner: Nullable(Type.String()),
    purpose: Nullable(Type.String()),
    active: Type.Boolean(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { $id: 'Workload' },
);
export type Workload = Static<typeof WorkloadSchema>;

export const CreateWorkloadBody = Type.Object(
  { name: WorkloadName, tenantId: Type.Optional(IdOf('tenant', 'Leave out for a platform-wide workload')), owner: Type.Optional(OwnerName), purpose: Type.Optional(Text(1000)) },
  { additionalProperties: false },
);
export const PatchWorkloadBody = Type.Object(
  { owner: Type.Optional(Nullable(OwnerName)), purpose: Type.Optional(Nullable(Text(1000))), active: Type.Optional(Type.Boolean()) },
  { additionalProperties: false, minProperties: 1 },
);

export const ReassignBody = Type.Object({ fromOwner: OwnerName, toOwner: OwnerName, reason: Type.Optional(ReasonText()) }, { additionalProperties: false });
export const ReassignResult = Type.Object({
  tokens: Type.Integer({ description: 'Live tokens moved (revoked and expired records keep the owner they ended with)' }),
  workloads: Type.Integer({ description: 'Workloads moved' }),
});

const tags = ['owners and workloads'];
const OwnerParams = Type.Object({ id: IdOf('owner') });
const WorkloadParams = Type.Object({ id: IdOf('workload') });

export const directoryEndpoints = {
  listOwners: endpoint({ method: 'GET', path: '/v1/owners', summary: 'The accountable owners (by name, at most 10,000)', tags, permission: 'owners.read', query: Type.Object({ active: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])) }, { additionalProperties: false }), status: 200, response: Type.Object({ items: Type.Array(OwnerSchema) }), errors: [] }),
  createOwner: endpoint({ method: 'POST', path: '/v1/owners', summary: 'Add an owner (person or team)', tags, permission: 'owners.manage', body: CreateOwnerBody, status: 201, response: OwnerSchema, errors: ['owner_exists'] }),
  patchOwner: endpoint({
    method: 'PATCH',
    path: '/v1/owners/:id',
    summary: 'Change or deactivate an owner',
    description: 'Deactivating raises owner_orphaned on each of their live tokens and workloads at once; reassign them with POST /v1/tokens/reassign. Ledgered.',
    tags,
    permission: 'owners.manage',
    params: OwnerParams,
    body: PatchOwnerBody,
    status: 200,
    response: OwnerSchema,
    errors: ['owner_not_found'],
  }),
  listWorkloads: endpoint({ method: 'GET', path: '/v1/workloads', summary: 'The platform’s workloads (by name, at most 10,000)', description: 'A tenant administrator sees their tenant’s and the platform-wide ones (without the platform-wide ones’ owners).', tags, permission: 'workloads.read', query: Type.Object({ tenantId: Type.Optional(IdOf('tenant')) }, { additionalProperties: false }), status: 200, response: Type.Object({ items: Type.Array(WorkloadSchema) }), errors: [] }),
  createWorkload: endpoint({ method: 'POST', path: '/v1/workloads', summary: 'Register a workload', description: 'Tokens naming it stop being unknown_workload findings.', tags, permission: 'workloads.manage', body: CreateWorkloadBody, status: 201, response: WorkloadSchema, errors: ['workload_exists', 'tenant_not_found'] }),
  patchWorkload: endpoint({ method: 'PATCH', path: '/v1/workloads/:id', summary: 'Change a workload’s owner or purpose, or retire it', tags, permission: 'workloads.manage', params: WorkloadParams, body: PatchWorkloadBody, status: 200, response: WorkloadSchema, errors: ['workload_not_found'] }),
  reassign: endpoint({
    method: 'POST',
    path: '/v1/tokens/reassign',
    summary: 'Move every live token and workload of one owner to another',
    description: 'One transaction, one ledger entry per token and workload; the owner_orphaned findings clear at once. The new owner must be active in the directory.',
    tags: ['tokens', ...tags],
    permission: 'tokens.reassign',
    body: ReassignBody,
    status: 200,
    response: ReassignResult,
    errors: ['owner_not_found', 'owner_inactive'],
  }),
};
