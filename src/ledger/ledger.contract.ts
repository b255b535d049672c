import { Type } from 'typebox';
import { endpoint } from '../contract/endpoint.ts';
import { IdOf, LimitParam, Nullable } from '../contract/schemas.ts';

export const LedgerEntrySchema = Type.Object(
  {
    seq: Type.Integer(),
    at: Type.String(),
    actor: Type.String(),
    action: Type.String(),
    tenantId: Nullable(Type.String()),
    subjectId: Nullable(Type.String()),
    data: Type.Record(Type.String(), Type.Unknown()),
    prevHash: Type.String(),
    hash: Type.String(),
  },
  { $id: 'LedgerEntry' },
);

const SeqCursor = Type.String({ pattern: '^\\d{1,15}$' });

export const LedgerQuery = Type.Object(
  {
    tokenId: Type.Optional(IdOf('token')),
    subjectId: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    tenantId: Type.Optional(IdOf('tenant')),
    action: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')])),
    cursor: Type.Optional(SeqCursor),
    limit: LimitParam,
  },
  { additionalProperties: false },
);

export const VerifyResultSchema = Type.Object({
  ok: Type.Boolean(),
  entries: Type.Integer(),
  lastSeq: Type.Integer(),
  lastHash: Type.String(),
  checkpoints: Type.Object({
    total: Type.Integer(),
    verified: Type.Integer(),
    lastSeq: Nullable(Type.Integer()),
    unanchored: Type.Integer({ description: 'Entries after the last valid signed checkpoint: cutting them from the end could not be detected from the database alone' }),
  }),
  problems: Type.Array(Type.Object({ kind: Type.String(), seq: Type.Integer(), message: Type.String() })),
  durationMs: Type.Integer(),
  threads: Type.Integer({ description: 'Worker threads that walked the ledger in parallel ranges (0: walked in the serving thread, for a ledger of one page)' }),
});

export const VerifyProgressSchema = Type.Object({
  running: Type.Boolean({ description: 'A verification is walking the ledger on the instance that answered' }),
  startedAt: Nullable(Type.String()),
  checked: Type.Integer({ description: 'Entries walked so far' }),
  total: Type.Integer({ description: 'Entries to walk (counted when the verification started)' }),
  last: Nullable(
    Type.Object({
      startedAt: Type.String(),
      finishedAt: Type.String(),
      ok: Nullable(Type.Boolean({ description: 'null: the verification stopped before the end' })),
      entries: Type.Integer(),
      problems: Type.Integer(),
      durationMs: Type.Integer(),
      error: Nullable(Type.String()),
    }),
  ),
});

export const LedgerKeySchema = Type.Object(
  {
    keyId: Type.String({ description: 'ed25519: and the first 16 hex digits of the SHA-256 of the key (SPKI DER)' }),
    alg: Type.Literal('EdDSA'),
    jwk: Type.Object({ kty: Type.Literal('OKP'), crv: Type.Literal('Ed25519'), x: Type.String(), kid: Type.String(), alg: Type.Literal('EdDSA'), use: Type.Literal('sig') }),
    pem: Type.String({ description: 'The same key as PEM (SubjectPublicKeyInfo)' }),
  },
  { $id: 'LedgerKey' },
);

export const LedgerPage = Type.Object({ items: Type.Array(LedgerEntrySchema), nextCursor: Nullable(Type.String()) });

const tags = ['ledger'];
export const ledgerEndpoints = {
  list: endpoint({
    method: 'GET',
    path: '/v1/ledger',
    summary: 'Ledger entries, newest first by default',
    description: 'A tenant-bound caller reads only its tenant’s entries. Page with `cursor` (the last seq seen) and `order`.',
    tags,
    permission: 'ledger.read',
    query: LedgerQuery,
    status: 200,
    response: LedgerPage,
    errors: [],
  }),
  key: endpoint({
    method: 'GET',
    path: '/v1/ledger/key',
    summary: 'The public key that signs ledger checkpoints and compliance reports',
    description:
      'Ed25519, as a JWK (RFC 8037) and as PEM (SPKI). `keyId` is what checkpoints and signed reports name (`ed25519:` and the first 16 hex digits of the SHA-256 of the SPKI). `custody report verify` fetches it from here unless given a key file.',
    tags,
    permission: 'ledger.read',
    query: Type.Object({}, { additionalProperties: false }),
    status: 200,
    response: LedgerKeySchema,
    errors: [],
  }),
  verify: endpoint({
    method: 'GET',
    path: '/v1/ledger/verify',
    summary: 'Verify the hash chain and the signed checkpoints',
    description: 'Detects edited, deleted, reordered and (up to the last signed checkpoint) truncated entries. Answers when the walk is done (in worker threads, seconds at a million entries); poll `GET /v1/ledger/verify/progress` meanwhile for how far it is. One verification at a time: a second caller gets the running one’s result.',
    tags,
    permission: 'ledger.verify',
    query: Type.Object({}, { additionalProperties: false }),
    status: 200,
    response: VerifyResultSchema,
    errors: [],
  }),
  verifyProgress: endpoint({
    method: 'GET',
    path: '/v1/ledger/verify/progress',
    summary: 'How far the running verification has walked, and how the last one ended',
    description:
      'Read from the memory of the instance that answers, so it can be polled (e.g. every 250 ms) while `GET /v1/ledger/verify` runs. Behind a load balancer the poll may reach another instance, which then reports `running: false`.',
    tags,
    permission: 'ledger.verify',
    query: Type.Object({}, { additionalProperties: false }),
    status: 200,
    response: VerifyProgressSchema,
    errors: [],
  }),
};
