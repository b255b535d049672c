import type { FastifyInstance } from 'fastify';
import { mount } from '../http/mount.ts';
import { CustodyError } from '../shared/errors.ts';
import { directoryEndpoints as d } from './directory.contract.ts';
import type { DirectoryService } from './directory.service.ts';
import { exceptionEndpoints as x } from './exception.contract.ts';
import type { ExceptionService } from './exception.service.ts';
import { findingEndpoints as f } from './finding.contract.ts';
import type { FindingQueries } from './finding.queries.ts';
import { decodeCursor } from '../shared/cursor.ts';
import type { FindingService } from './finding.service.ts';
import { noticeEndpoints as n } from './notice.contract.ts';
import type { NoticeService } from './notice.service.ts';
import { policyEndpoints as p } from './policy.contract.ts';
import type { PolicyService } from './policy.service.ts';

export function governanceRoutes(g: { policy: PolicyService; directory: DirectoryService; exceptions: ExceptionService; findings: FindingService; findingQueries: FindingQueries; notices: NoticeService }) {
  return async (app: FastifyInstance) => {
    mount(app, p.getGlobal, async () => g.policy.getGlobal());
    mount(app, p.putGlobal, async ({ principal, body }) => g.policy.putGlobal(principal, body));
    mount(app, p.getTenant, async ({ principal, params }) => g.policy.getTenant(principal, params.id));
    mount(app, p.putTenant, async ({ principal, params, body }) => g.policy.putTenant(principal, params.id, body));
    mount(app, p.effective, async ({ principal, params }) => g.policy.effective(principal, params.id));

    mount(app, d.listOwners, async ({ query }) => ({ items: await g.directory.listOwners(query.active === undefined ? undefined : query.active === 'true') }));
    mount(app, d.createOwner, async ({ principal, body }) => g.directory.createOwner(principal, body));
    mount(app, d.patchOwner, async ({ principal, params, body }) => g.directory.patchOwner(principal, params.id, body));
    mount(app, d.listWorkloads, async ({ principal, query }) => ({ items: await g.directory.listWorkloads(principal, query.tenantId) }));
    mount(app, d.createWorkload, async ({ principal, body }) => g.directory.createWorkload(principal, body));
    mount(app, d.patchWorkload, async ({ principal, params, body }) => g.directory.patchWorkload(principal, params.id, body));
    mount(app, d.reassign, async ({ principal, body }) => g.directory.reassign(principal, body));

    mount(app, x.create, async ({ principal, body }) => g.exceptions.create(principal, body));
    mount(app, x.list, async ({ principal, query }) => ({ items: await g.exceptions.list(principal, query) }));
    mount(app, x.withdraw, async ({ principal, params }) => g.exceptions.withdraw(principal, params.id));

    mount(app, f.list, async ({ principal, query: q }) =>
      g.findingQueries.list(principal, { ...q, afterId: q.cursor === undefined ? undefined : decodeCursor('finding', q.cursor), limit: q.limit === undefined ? 50 : Number(q.limit) }),
    );
    mount(app, f.summary, async ({ principal, query }) => g.findingQueries.summary(principal, query.tenantId));
    mount(app, f.get, async ({ principal, params }) => g.findingQueries.get(principal, params.id));
    mount(app, f.acknowledge, async ({ principal, params, body }) => g.findingQueries.acknowledge(principal, params.id, body.reason));
    mount(app, n.list, async ({ principal, query: q }) =>
      g.notices.list(principal, { tenantId: q.tenantId, tokenId: q.tokenId, findingType: q.findingType, beforeId: q.cursor === undefined ? undefined : decodeCursor('notice', q.cursor), limit: q.limit === undefined ? 50 : Number(q.limit) }),
    );
    mount(app, n.get, async ({ principal, params }) => g.notices.get(principal, params.id));

    mount(app, f.sweep, async ({ request, principal }) => {
      // It takes nothing: a body with fields is refused, not ignored.
      const body = request.body;
      if (body !== undefined && body !== null && (typeof body !== 'object' || Object.keys(body).length > 0)) {
        throw new CustodyError('validation_failed', 'POST /v1/sweeps takes no body (or an empty object).', [{ path: 'body', message: 'must be empty' }]);
      }
      const result = await g.findings.sweep();
      request.log.info({ sweep: result, by: principal.actor }, 'governance sweep (on demand)');
      await g.findings.recordRequestedSweep(principal.actor, result);
      return result;
    });
  };
}
