import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { principalOf } from '../http/auth.ts';
import { errorResponses, IdOf, LimitParam, Nullable } from '../contract/schemas.ts';
import { CustodyError } from '../shared/errors.ts';
import type { LedgerService } from './ledger.service.ts';

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
  checkpoints: Type.Object({ total: Type.Integer(), verified: Type.Integer(), lastSeq: Nullable(Type.Integer()) }),
  problems: Type.Array(Type.Object({ kind: Type.String(), seq: Type.Integer(), message: Type.String() })),
  durationMs: Type.Integer(),
});

export function ledgerRoutes(ledger: LedgerService): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['ledger'];
    app.get('/v1/ledger', {
      config: { permission: 'ledger.read' },
      schema: {
        tags,
        summary: 'Ledger entries, newest first by default',
        querystring: LedgerQuery,
        response: { 200: Type.Object({ items: Type.Array(LedgerEntrySchema), nextCursor: Nullable(Type.String()) }), ...errorResponses },
      },
    }, async (request) => {
      const principal = principalOf(request);
      const q = request.query;
      if (q.tokenId && q.subjectId && q.tokenId !== q.subjectId) throw new CustodyError('validation_failed', 'Give tokenId or subjectId, not two different ones.');
      // A tenant-bound caller reads only its tenant's entries; asking for another tenant finds nothing.
      let tenantId = q.tenantId;
      if (principal.tenantId !== null) {
        if (tenantId && tenantId !== principal.tenantId) return { items: [], nextCursor: null };
        tenantId = principal.tenantId;
      }
      const order = q.order ?? 'desc';
      const limit = q.limit === undefined ? 100 : Number(q.limit);
      const cursor = q.cursor === undefined ? undefined : Number(q.cursor);
      const items = await ledger.list({
        tenantId,
        subjectId: q.tokenId ?? q.subjectId,
        action: q.action,
        order,
        limit,
        ...(cursor === undefined ? {} : order === 'asc' ? { afterSeq: cursor } : { beforeSeq: cursor }),
      });
      return { items, nextCursor: items.length === limit ? String(items[items.length - 1]!.seq) : null };
    });

    app.get('/v1/ledger/verify', {
      config: { permission: 'ledger.verify' },
      schema: { tags, summary: 'Verify the hash chain and the signed checkpoints', response: { 200: VerifyResultSchema, ...errorResponses } },
    }, async () => ledger.verify());
  };
}
