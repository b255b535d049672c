import type { FastifyInstance } from 'fastify';
import { mount } from '../http/mount.ts';
import { CustodyError } from '../shared/errors.ts';
import { ledgerEndpoints as e } from './ledger.contract.ts';
import type { LedgerService } from './ledger.service.ts';

export function ledgerRoutes(ledger: LedgerService) {
  return async (app: FastifyInstance) => {
    mount(app, e.list, async ({ principal, query: q }) => {
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
    mount(app, e.verify, async () => ledger.verify());
    // Polled twice a second while a verification runs: its answers are not logged (its errors are).
    mount(app, e.verifyProgress, async () => ledger.verifyProgress(), { logLevel: 'warn' });
    mount(app, e.key, async () => ledger.publicKey());
  };
}
