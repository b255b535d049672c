import type { FastifyInstance } from 'fastify';
import { mount } from '../http/mount.ts';
import { Secret } from '../shared/secret.ts';
import { tokenEndpoints as e } from './token.contract.ts';
import { decodeCursor } from '../shared/cursor.ts';
import type { TokenService } from './token.service.ts';
import { decodeRiskCursor, isRiskCursor } from './token.risk.ts';
import type { TokenFilter } from './token.types.ts';
import { CustodyError } from '../shared/errors.ts';

/** The inventory's order, risk bounds and where a page starts, from the query (a cursor continues only the order it was issued in). */
function listOrder(q: { sort?: 'id' | 'risk'; minRisk?: string; maxRisk?: string; cursor?: string }): Pick<TokenFilter, 'sort' | 'minRisk' | 'maxRisk' | 'afterId' | 'afterRisk'> {
  const minRisk = q.minRisk === undefined ? undefined : Number(q.minRisk);
  const maxRisk = q.maxRisk === undefined ? undefined : Number(q.maxRisk);
  if (minRisk !== undefined && maxRisk !== undefined && minRisk > maxRisk) {
    throw new CustodyError('validation_failed', `minRisk (${minRisk}) is above maxRisk (${maxRisk}): no score can be both.`, [{ path: 'query/minRisk', message: 'must not be above maxRisk' }]);
  }
  const bounds = { ...(minRisk !== undefined ? { minRisk } : {}), ...(maxRisk !== undefined ? { maxRisk } : {}) };
  if (q.sort === 'risk') return { sort: 'risk', ...bounds, ...(q.cursor === undefined ? {} : { afterRisk: decodeRiskCursor(q.cursor) }) };
  if (q.cursor !== undefined && isRiskCursor(q.cursor)) throw new CustodyError('invalid_cursor', 'This cursor continues the list sorted by risk: pass sort=risk with it, or start again without it.');
  return { ...bounds, ...(q.cursor === undefined ? {} : { afterId: decodeCursor('token', q.cursor) }) };
}

export function tokenRoutes(tokens: TokenService) {
  return async (app: FastifyInstance) => {
    mount(app, e.register, async ({ principal, body, reply }) => {
      const { accessToken, refreshToken, ...rest } = body;
      reply.header('cache-control', 'no-store');
      return tokens.register(principal, { ...rest, accessToken: new Secret(accessToken), ...(refreshToken !== undefined ? { refreshToken: new Secret(refreshToken) } : {}) });
    });

    mount(app, e.list, async ({ principal, query: q }) =>
      tokens.list(principal, {
        tenantId: q.tenantId,
        providerId: q.providerId,
        state: q.state,
        owner: q.owner,
        managed: q.managed === undefined ? undefined : q.managed === 'true',
        dormantDays: q.dormantDays === undefined ? undefined : Number(q.dormantDays),
        q: q.q,
        ...listOrder(q),
        limit: q.limit === undefined ? 50 : Number(q.limit),
      }),
    );

    mount(app, e.get, async ({ principal, params }) => tokens.get(principal, params.id));
    mount(app, e.update, async ({ principal, params, body }) => tokens.patch(principal, params.id, body));
    mount(app, e.justify, async ({ principal, params, body }) => tokens.justify(principal, params.id, body.purpose));
    mount(app, e.suspend, async ({ principal, params, body }) => tokens.transition(principal, params.id, 'suspend', body.reason));
    mount(app, e.resume, async ({ principal, params, body }) => tokens.transition(principal, params.id, 'resume', body.reason));
    mount(app, e.revoke, async ({ principal, params, body }) => tokens.transition(principal, params.id, 'revoke', body.reason));
    mount(app, e.bulkRevoke, async ({ principal, body }) => tokens.bulkRevoke(principal, body));
    mount(app, e.counts, async ({ principal, query }) => tokens.counts(principal, query));
    mount(app, e.revocationProgress, async ({ principal, query }) => tokens.revocationProgress(principal, query));
  };
}
