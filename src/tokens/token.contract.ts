import { endpoint } from '../contract/endpoint.ts';
import { ReasonBody } from '../contract/schemas.ts';
import { Type } from 'typebox';
import { BulkRevokeBody, BulkRevokeResult, RevocationProgress, TokenCounts, TokenCountsQuery, RevocationProgressQuery, PatchTokenBody, RegisterTokenBody, TokenPage, TokenParams, TokenQuery, TokenSchema } from './token.schemas.ts';

const tags = ['tokens'];
const JustifyBody = Type.Object({ purpose: Type.String({ minLength: 1, maxLength: 1000, pattern: '\\S', description: 'Why the token is still needed (not blank): recorded in the ledger' }) }, { additionalProperties: false });
const lifecycle = (action: 'suspend' | 'resume' | 'revoke', summary: string, description: string) =>
  endpoint({
    method: 'POST',
    path: `/v1/tokens/:id/${action}`,
    summary,
    description,
    tags,
    permission: `tokens.${action}`,
    params: TokenParams,
    body: ReasonBody,
    status: 200,
    response: TokenSchema,
    errors: ['token_not_found', 'illegal_transition'],
  });

/** The token inventory and lifecycle (DESIGN §8): declared once for the server, the OpenAPI document and the CLI. */
export const tokenEndpoints = {
  register: endpoint({
    method: 'POST',
    path: '/v1/tokens',
    summary: 'Register an existing customer token',
    description: 'The credentials are encrypted at once and never returned; the record comes back without them. A credential already in the inventory (in any tenant) is refused with 409 credential_registered: a second record would escape the first one’s suspension or revocation.',
    tags,
    permission: 'tokens.register',
    body: RegisterTokenBody,
    status: 201,
    response: TokenSchema,
    errors: ['tenant_not_found', 'provider_not_found', 'credential_registered'],
  }),
  list: endpoint({
    method: 'GET',
    path: '/v1/tokens',
    summary: 'The inventory, filtered and paged',
    description:
      'A tenant-bound caller sees its own tenant only. `nextCursor` is null on the last page. `sort=risk` lists the highest risk score first (docs/risk.md); `minRisk`/`maxRisk` bound the score. A cursor continues the order it was issued in.',
    tags,
    permission: 'tokens.read',
    query: TokenQuery,
    status: 200,
    response: TokenPage,
    errors: ['invalid_cursor'],
  }),
  get: endpoint({
    method: 'GET',
    path: '/v1/tokens/:id',
    summary: 'One token, with the practical test and scope usage',
    tags,
    permission: 'tokens.read',
    params: TokenParams,
    status: 200,
    response: TokenSchema,
    errors: ['token_not_found'],
  }),
  update: endpoint({
    method: 'PATCH',
    path: '/v1/tokens/:id',
    summary: 'Change owner, purpose, review date or workloads',
    description: 'Each change is ledgered with its old and new value; a removed workload is refused by the gateway at once. A revoked or expired token is final: 409.',
    tags,
    permission: 'tokens.update',
    params: TokenParams,
    body: PatchTokenBody,
    status: 200,
    response: TokenSchema,
    errors: ['token_not_found', 'illegal_transition'],
  }),
  justify: endpoint({
    method: 'POST',
    path: '/v1/tokens/:id/justify',
    summary: "Re-justify a token's purpose (its owner's periodic review)",
    description: "Records the purpose (it may restate the same one) and moves reviewDueAt by the tenant's reviewIntervalDays; an overdue review's finding resolves and no enforcement follows. Ledgered (token.justified).",
    tags,
    permission: 'tokens.justify',
    params: TokenParams,
    body: JustifyBody,
    status: 200,
    response: TokenSchema,
    errors: ['token_not_found', 'illegal_transition'],
  }),
  suspend: lifecycle('suspend', 'Suspend a token (reversible)', 'The gateway refuses it at once, on every instance.'),
  resume: lifecycle('resume', 'Resume a suspended token', 'Only from suspended.'),
  revoke: lifecycle('revoke', 'Revoke a token (final)', 'Refused by the gateway at once; revoked at the issuer (RFC 7009) by the outbox, then confirmed by introspection.'),
  bulkRevoke: endpoint({
    method: 'POST',
    path: '/v1/tokens/revoke',
    summary: 'Revoke every live token matching a filter',
    description:
      'Needs at least one of tenantId, providerId, ids. Set-based, in transactions of 10,000 tokens: when it answers, every matching token is revoked, ledgered and refused by the gateway, and its upstream revocation is queued in the paced bulk lane (behind single revocations). Follow the upstream side with GET /v1/tokens/revocation-progress. With `ids`, the answer’s `notRevoked` names each id it did not revoke and why (another tenant’s token reads as not_found, like one that does not exist).',
    tags,
    permission: 'tokens.bulk_revoke',
    body: BulkRevokeBody,
    status: 200,
    response: BulkRevokeResult,
    errors: ['filter_required', 'tenant_not_found', 'provider_not_found'],
  }),
  counts: endpoint({
    method: 'GET',
    path: '/v1/tokens/counts',
    summary: 'Token records by provider and state',
    description:
      'Counts every record (live and ended) by provider and state, of one tenant (`tenantId`) or every tenant the caller sees: the console overview’s "tokens by state and provider". A tenant administrator counts only their tenant. Read from indexes alone; a platform-wide count is reused for up to 5 s.',
    tags,
    permission: 'tokens.read',
    query: TokenCountsQuery,
    status: 200,
    response: TokenCounts,
    errors: ['tenant_not_found'],
  }),
  revocationProgress: endpoint({
    method: 'GET',
    path: '/v1/tokens/revocation-progress',
    summary: 'Where the upstream side of a (bulk) revocation stands',
    description: 'Counts the tokens whose revocation was asked for at requestedAt (as a bulk revocation answered it), by upstream outcome. A tenant administrator counts only their tenant.',
    tags,
    permission: 'tokens.read',
    query: RevocationProgressQuery,
    status: 200,
    response: RevocationProgress,
    errors: ['tenant_not_found'],
  }),
};

