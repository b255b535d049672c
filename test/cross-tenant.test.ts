import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';

/** The methods inject takes (light-my-request's list, which Fastify's own type does not match exactly). */
type HTTPMethods = NonNullable<InjectOptions['method']>;
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROLES, type Role } from '../src/auth/roles.ts';
import { newId } from '../src/shared/ids.ts';
import { Secret } from '../src/shared/secret.ts';
import { describeEachDatabase } from './support/databases.ts';
import { bearer, keyFor, startHarness, type Harness } from './support/harness.ts';

/**
 * The cross-tenant matrix (DESIGN §6): every route of the running app × every role × an object of
 * another tenant. Routes are read from the app itself, so a route added later without an entry
 * here fails the "every route has an entry" test with a message saying what to add.
 */

interface Req {
  method: HTTPMethods;
  url: string;
  payload?: object;
}

type Target = 'own' | 'foreign' | 'missing';

interface World {
  h: Harness;
  /** Tenant A: the tenant of the tenant-bound keys. Tenant B: the other tenant. */
  A: string;
  B: string;
  providerId: string;
  keys: Record<Role, string>;
  token(tenant: 'A' | 'B', state?: 'active' | 'suspended'): Promise<string>;
  call(role: Role | string, req: Req): Promise<LightMyRequestResponse>;
}

interface RouteCase {
  /** Roles that may call the route; every other role must get 403 forbidden. */
  allowed: readonly Role[];
  /** A request naming an object of tenant A (own), of tenant B (foreign), or one that does not exist. */
  request(w: World, target: Target): Promise<Req> | Req;
  /** What an allowed role gets for its own request. */
  ok: number | { describe: string; accepts(status: number, code: string | undefined): boolean };
  /**
   * What a tenant-bound caller of tenant A must get when the request names tenant B's object; or,
   * for routes without tenant objects, why there is none to leak.
   */
  foreign: ((w: World, role: Role) => Promise<void>) | { global: string };
  /** A route another capability is adding: checked once the app has it, skipped until then. */
  planned?: true;
}

const READERS = ['admin', 'security', 'auditor', 'tenant_admin'] as const;
/** For routes whose success needs a live issuer or upstream: the caller got past authentication and the role check. */
const PAST_THE_ROLE_CHECK = {
  describe: 'past the key and role checks',
  accepts: (status: number, code: string | undefined) => status !== 401 && !(status === 403 && code === 'forbidden') && status !== 500,
};
const WRITERS = ['admin', 'security', 'tenant_admin'] as const;
const GLOBAL_ROLES = new Set<Role>(['admin', 'security', 'auditor']);
const rnd = () => Math.random().toString(36).slice(2, 10);

/** Routes that answer without a key, by design. Anything else must answer 401 without one. */
const PUBLIC_ROUTES: Record<string, (status: number) => boolean> = {
  'GET /healthz': (s) => s === 200,
  'GET /openapi.json': (s) => s === 200,
  'GET /docs': (s) => s === 200 || s === 302,
  // Swagger UI's own page, assets and copies of the document, served from the package.
  'GET /docs/': (s) => s === 200,
  'GET /docs/*': (s) => s === 200 || s === 404,
  'GET /docs/static/index.html': (s) => s === 200 || s === 302,
  'GET /docs/static/swagger-initializer.js': (s) => s === 200,
  'GET /docs/json': (s) => s === 200,
  'GET /docs/yaml': (s) => s === 200,
  'GET /readyz': (s) => s === 200,
  // The SSF transmitter's metadata and public keys (src/streams): read-only, as a receiver fetches them.
  'GET /.well-known/ssf-configuration': (s) => s === 200,
  'GET /ssf/jwks.json': (s) => s === 200,
  'GET /metrics': (s) => s === 200,
  // A consent link is opened in a plain browser; an unknown code is a 404 page and writes nothing.
  'GET /connect/:code': (s) => s === 404 || s === 400,
  'POST /connect/:code': (s) => s === 404 || s === 400,
  // The issuer redirects the customer's browser here; it carries no key. Without state/code: a 4xx page.
  'GET /oauth/callback': (s) => s >= 400 && s < 500 && s !== 401 && s !== 403,
  // The console (src/http/console.ts): its page, and its built assets (an unknown one is a 404).
  'GET /': (s) => s === 200 || s === 503,
  'GET /*': (s) => s === 200 || s === 404,
};

/**
 * The console's sign-in routes (src/sessions): they take no bearer key. Sign-in carries the key in
 * its body; the others act on the session cookie (none here: signed out). Without either they answer
 * as a signed-out browser sees them, and a bearer key changes nothing.
 */
const SESSION_ROUTES: Record<string, (status: number) => boolean> = {
  'POST /v1/session': (s) => s === 400 || s === 401,
  'GET /v1/session': (s) => s === 200,
  'DELETE /v1/session': (s) => s === 204,
  'GET /v1/session/options': (s) => s === 200,
  // Single sign-on, when configured (not in this world): a redirect to the issuer, or back with an error.
  'GET /v1/session/sso/start': (s) => s === 302,
  'GET /v1/session/sso/callback': (s) => s === 302,
};

/**
 * Routes whose caller is authenticated by a signature over the request, not an API key (a leak
 * reporter's ECDSA signature): they answer an unsigned request with their own coded 4xx, with or
 * without an API key, and a key grants nothing on them.
 */
const SIGNED_ROUTES: Record<string, (status: number, code: string | undefined) => boolean> = {
  'POST /v1/leaks': (s, code) => s === 400 && code === 'leak_signature_missing',
  // A SET's signature authenticates it; anything else is an RFC 8935 400 ({err, description}, no coded error).
  'POST /v1/signals/ssf': (s) => s === 400,
};

/** A foreign object answers exactly like a missing one (404 with `code`), and is left unchanged. */
function hiddenLikeMissing(code: string, after?: (w: World, foreignId: string) => Promise<void>) {
  return async (w: World, role: Role, entry: RouteCase) => {
    const foreign = await entry.request(w, 'foreign');
    const missing = await entry.request(w, 'missing');
    const rf = await w.call(role, foreign);
    const rm = await w.call(role, missing);
    expect(rf.statusCode, `${role} of tenant A → ${foreign.method} ${foreign.url}: ${rf.body}`).toBe(404);
    expect(rf.json().error.code).toBe(code);
    expect(rm.statusCode).toBe(404);
    expect({ code: rf.json().error.code, message: rf.json().error.message }).toEqual({ code: rm.json().error.code, message: rm.json().error.message });
    if (after) await after(w, foreignIdOf(foreign));
  };
}

/** The B-side id a foreign request named (path or body), for the "left unchanged" checks. */
function foreignIdOf(req: Req): string {
  const fromPath = /(tok|ten)_[0-9A-Z]{26}/.exec(req.url)?.[0];
  return fromPath ?? String((req.payload as { tenantId?: string } | undefined)?.tenantId);
}

async function unchangedActiveToken(w: World, id: string) {
  const t = await w.h.custody.tokens.get(w.h.admin, id);
  expect(t.state).toBe('active');
  expect(t.owner).toBe('team-b');
}

const tokenPath = (suffix: string) => async (w: World, target: Target) => {
  const id = target === 'own' ? await w.token('A', suffix === '/resume' ? 'suspended' : 'active') : target === 'foreign' ? await w.token('B') : newId('token');
  return id;
};

function tokenRequest(method: HTTPMethods, suffix: string, payload?: object) {
  const idFor = tokenPath(suffix);
  return async (w: World, target: Target): Promise<Req> => ({ method, url: `/v1/tokens/${await idFor(w, target)}${suffix}`, ...(payload ? { payload } : {}) });
}

const registerBody = (w: World, tenantId: string) => ({
  tenantId,
  providerId: w.providerId,
  owner: 'team-a',
  approver: { subject: 'alice' },
  purpose: 'sync invoices',
  scopes: ['invoices.read'],
  accessToken: `at-${rnd()}`,
});

export const MATRIX: Record<string, RouteCase> = {
  'POST /v1/tenants': {
    allowed: ['admin'],
    ok: 201,
    request: () => ({ method: 'POST', url: '/v1/tenants', payload: { name: `t-${rnd()}` } }),
    foreign: { global: 'creates a tenant; only admin (all tenants) may' },
  },
  'GET /v1/tenants': {
    allowed: READERS,
    ok: 200,
    request: () => ({ method: 'GET', url: '/v1/tenants' }),
    foreign: async (w, role) => {
      const ids = (await w.call(role, { method: 'GET', url: '/v1/tenants' })).json().items.map((t: { id: string }) => t.id);
      expect(ids).toEqual([w.A]);
      const all = (await w.call('admin', { method: 'GET', url: '/v1/tenants' })).json().items.map((t: { id: string }) => t.id);
      expect(all).toEqual(expect.arrayContaining([w.A, w.B]));
    },
  },
  'GET /v1/tenants/:id': {
    allowed: READERS,
    ok: 200,
    request: (w, target) => ({ method: 'GET', url: `/v1/tenants/${target === 'own' ? w.A : target === 'foreign' ? w.B : newId('tenant')}` }),
    foreign: hiddenLikeMissingAdapter('tenant_not_found'),
  },
  'POST /v1/providers': {
    allowed: ['admin'],
    ok: 201,
    request: () => ({
      method: 'POST',
      url: '/v1/providers',
      payload: { name: `p-${rnd()}`, tokenEndpoint: 'https://issuer.example.com/token', clientId: 'c', apiBaseUrls: ['https://api.example.com'] },
    }),
    foreign: { global: 'providers are platform-wide configuration; only admin may add one' },
  },
  'GET /v1/providers': {
    allowed: READERS,
    ok: 200,
    request: () => ({ method: 'GET', url: '/v1/providers' }),
    foreign: { global: 'providers are platform-wide and carry no tenant data (never the client secret)' },
  },
  'GET /v1/providers/:id': {
    allowed: READERS,
    ok: 200,
    request: (w, target) => ({ method: 'GET', url: `/v1/providers/${target === 'missing' ? newId('provider') : w.providerId}` }),
    foreign: { global: 'providers are platform-wide and carry no tenant data (never the client secret)' },
  },
  'POST /v1/tokens': {
    allowed: WRITERS,
    ok: 201,
    request: (w, target) => ({
      method: 'POST',
      url: '/v1/tokens',
      payload: registerBody(w, target === 'own' ? w.A : target === 'foreign' ? w.B : newId('tenant')),
    }),
    foreign: hiddenLikeMissingAdapter('tenant_not_found', async (w, tenantId) => {
      const inB = await w.h.custody.tokens.list(w.h.admin, { tenantId, owner: 'team-a', limit: 1000 });
      expect(inB.items).toEqual([]);
    }),
  },
  'GET /v1/tokens': {
    allowed: READERS,
    ok: 200,
    request: () => ({ method: 'GET', url: '/v1/tokens' }),
    foreign: async (w, role) => {
      // A token on each side of its own, so the lists below are not empty whatever ran before.
      const tokenA = await w.token('A');
      const tokenB = await w.token('B');
      const seen = async (who: Role | string, query: string) =>
        (await w.call(who, { method: 'GET', url: `/v1/tokens?limit=1000${query}` })).json().items as { id: string; tenantId: string }[];
      for (const query of ['', `&tenantId=${w.B}`, `&q=${tokenB}`, `&providerId=${w.providerId}`, '&state=active', '&managed=false', '&owner=team-b']) {
        const items = await seen(role, query);
        expect(items.filter((t) => t.tenantId !== w.A), `${role} GET /v1/tokens?${query}`).toEqual([]);
      }
      expect((await seen(role, '')).length).toBeGreaterThan(0);
      expect((await seen(role, `&q=${tokenA}`)).map((t) => t.id)).toEqual([tokenA]);
      expect((await seen('admin', `&q=${tokenB}`)).map((t) => t.id)).toEqual([tokenB]);
    },
  },
  'GET /v1/tokens/:id': { allowed: READERS, ok: 200, request: tokenRequest('GET', ''), foreign: hiddenLikeMissingAdapter('token_not_found', unchangedActiveToken) },
  'PATCH /v1/tokens/:id': {
    allowed: WRITERS,
    ok: 200,
    request: tokenRequest('PATCH', '', { owner: 'team-changed' }),
    foreign: hiddenLikeMissingAdapter('token_not_found', unchangedActiveToken),
  },
  'POST /v1/tokens/:id/suspend': {
    allowed: WRITERS,
    ok: 200,
    request: tokenRequest('POST', '/suspend', { reason: 'matrix' }),
    foreign: hiddenLikeMissingAdapter('token_not_found', unchangedActiveToken),
  },
  'POST /v1/tokens/:id/resume': {
    allowed: ['admin', 'security'],
    ok: 200,
    request: tokenRequest('POST', '/resume', { reason: 'matrix' }),
    foreign: { global: 'tenant-bound roles may not resume at all (403 before any lookup)' },
  },
  'POST /v1/tokens/:id/revoke': {
    allowed: WRITERS,
    ok: 200,
    request: tokenRequest('POST', '/revoke', { reason: 'matrix' }),
    foreign: hiddenLikeMissingAdapter('token_not_found', unchangedActiveToken),
  },
  'POST /v1/tokens/:id/reauthorization': {
    allowed: WRITERS,
    // The world's provider runs no consent: past the checks, the own token answers consent_not_supported.
    ok: PAST_THE_ROLE_CHECK,
    request: tokenRequest('POST', '/reauthorization', {}),
    foreign: hiddenLikeMissingAdapter('token_not_found', unchangedActiveToken),
  },
  'POST /v1/tokens/:id/justify': {
    allowed: ['admin', 'security'],
    ok: 200,
    request: tokenRequest('POST', '/justify', { purpose: 'matrix' }),
    foreign: { global: 'platform staff only (the platform’s purpose; tenant-bound roles get 403 before any lookup)' },
  },
  'POST /v1/tokens/revoke': {
    allowed: WRITERS,
    ok: 200,
    request: async (w, target) => ({
      method: 'POST',
      url: '/v1/tokens/revoke',
      payload: target === 'own' ? { ids: [await w.token('A')], reason: 'matrix' } : { tenantId: target === 'foreign' ? w.B : newId('tenant'), reason: 'matrix' },
    }),
    // Revoking by tenant B's id is a 404; by B's token ids or a shared provider: see the bulk-revoke test below.
    foreign: hiddenLikeMissingAdapter('tenant_not_found'),
  },
  'POST /v1/tokens/import': {
    allowed: WRITERS,
    ok: 200,
    request: (w, target) => ({
      method: 'POST',
      url: '/v1/tokens/import',
      payload: { format: 'csv', data: `tenantId,providerId,externalId,owner\n${target === 'own' ? w.A : target === 'foreign' ? w.B : newId('tenant')},${w.providerId},matrix-${rnd()},team-a\n` },
    }),
    // A row naming tenant B is an invalid row (the batch writes nothing), worded exactly as for a tenant that does not exist.
    foreign: async (w, role) => {
      const foreign = await w.call(role, await MATRIX['POST /v1/tokens/import']!.request(w, 'foreign'));
      const missing = await w.call(role, await MATRIX['POST /v1/tokens/import']!.request(w, 'missing'));
      const reason = (r: LightMyRequestResponse) => {
        expect(r.statusCode, r.body).toBe(200);
        expect(r.json()).toMatchObject({ written: false, imported: 0, invalid: 1 });
        return (r.json().invalidRows[0].reasons[0].message as string).replace(/ten_[0-9A-Z]{26}/, 'TENANT');
      };
      expect(reason(foreign)).toBe(reason(missing));
      const inB = await w.h.custody.tokens.list(w.h.admin, { tenantId: w.B, limit: 1000 });
      expect(inB.items.filter((t) => t.externalId?.startsWith('matrix-'))).toEqual([]);
    },
  },
  'GET /v1/tokens/counts': {
    allowed: READERS,
    ok: 200,
    request: async (w, target) => ({ method: 'GET', url: `/v1/tokens/counts?tenantId=${target === 'own' ? w.A : target === 'foreign' ? w.B : newId('tenant')}` }),
    // Naming tenant B is a 404; without a tenant, a tenant-bound key counts its own tenant only (token.routes.test.ts).
    foreign: hiddenLikeMissingAdapter('tenant_not_found'),
  },
  'GET /v1/tokens/revocation-progress': {
    allowed: READERS,
    ok: 200,
    request: async (w, target) => ({
      method: 'GET',
      url: `/v1/tokens/revocation-progress?requestedAt=2026-01-01T00:00:00.000Z&tenantId=${target === 'own' ? w.A : target === 'foreign' ? w.B : newId('tenant')}`,
    }),
    // Naming tenant B is a 404; without a tenant, a tenant-bound key counts its own tenant only (bulk-revoke.test.ts).
    foreign: hiddenLikeMissingAdapter('tenant_not_found'),
  },
  'POST /v1/api-keys': {
    allowed: ['admin'],
    ok: 201,
    request: () => ({ method: 'POST', url: '/v1/api-keys', payload: { role: 'auditor', name: `k-${rnd()}` } }),
    foreign: { global: 'only admin (all tenants) manages keys' },
  },
  'GET /v1/api-keys': {
    allowed: ['admin'],
    ok: 200,
    request: () => ({ method: 'GET', url: '/v1/api-keys' }),
    foreign: { global: 'only admin (all tenants) manages keys' },
  },
  'DELETE /v1/api-keys/:id': {
    allowed: ['admin'],
    ok: 200,
    request: async (w, target) => {
      const id = target === 'missing' ? newId('apiKey') : (await w.h.custody.apiKeys.create(w.h.admin, { role: 'auditor', name: `k-${rnd()}` })).apiKey.id;
      return { method: 'DELETE', url: `/v1/api-keys/${id}` };
    },
    foreign: { global: 'only admin (all tenants) manages keys' },
  },
  'GET /v1/ledger': {
    allowed: READERS,
    ok: 200,
    request: () => ({ method: 'GET', url: '/v1/ledger' }),
    foreign: async (w, role) => {
      // A token on each side of its own, so the entries below are not empty whatever ran before.
      const tokenA = await w.token('A');
      const tokenB = await w.token('B');
      const read = async (who: Role | string, query: string) =>
        (await w.call(who, { method: 'GET', url: `/v1/ledger?limit=1000${query}` })).json().items as { tenantId: string | null; subjectId: string | null }[];
      for (const query of ['', `&tenantId=${w.B}`, `&tokenId=${tokenB}`, `&subjectId=${w.B}`, '&action=token.registered', '&order=asc']) {
        const items = await read(role, query);
        expect(items.filter((e) => e.tenantId !== w.A), `${role} GET /v1/ledger?${query}`).toEqual([]);
      }
      expect((await read(role, '&action=token.registered')).length).toBeGreaterThan(0);
      expect((await read(role, `&tokenId=${tokenA}`)).map((e) => e.subjectId)).toContain(tokenA);
      expect((await read('admin', `&tokenId=${tokenB}`)).map((e) => e.tenantId)).toEqual([w.B]);
    },
  },
  'GET /v1/ledger/key': {
    allowed: READERS,
    ok: 200,
    request: () => ({ method: 'GET', url: '/v1/ledger/key' }),
    foreign: { global: 'the ledger’s public signing key is the same for every tenant and secret to none' },
  },
  'GET /v1/ledger/verify': {
    allowed: ['admin', 'security', 'auditor'],
    ok: 200,
    request: () => ({ method: 'GET', url: '/v1/ledger/verify' }),
    foreign: { global: 'reports only counts and hashes of the whole chain; tenant-bound roles may not call it' },
  },
  'GET /v1/ledger/verify/progress': {
    allowed: ['admin', 'security', 'auditor'],
    ok: 200,
    request: () => ({ method: 'GET', url: '/v1/ledger/verify/progress' }),
    foreign: { global: 'reports only how many entries of the whole chain were walked; tenant-bound roles may not call it' },
  },

  'PATCH /v1/providers/:id': {
    allowed: ['admin'],
    ok: 200,
    request: (w, target) => ({ method: 'PATCH', url: `/v1/providers/${target === 'missing' ? newId('provider') : w.providerId}`, payload: { unmappedCalls: 'deny' } }),
    foreign: { global: 'providers are platform-wide configuration; only admin may change one' },
  },
  'GET /v1/connect-links': {
    allowed: READERS,
    ok: 200,
    request: () => ({ method: 'GET', url: '/v1/connect-links' }),
    foreign: async (w, role) => {
      const linkB = await makeLink(w, w.B);
      for (const query of ['', `?tenantId=${w.B}`, '?status=pending']) {
        const items = (await w.call(role, { method: 'GET', url: `/v1/connect-links${query}` })).json().items as { id: string; tenantId: string }[];
        expect(items.filter((l) => l.tenantId !== w.A), `${role} GET /v1/connect-links${query}`).toEqual([]);
        expect(items.map((l) => l.id)).not.toContain(linkB);
      }
    },
  },
  'POST /v1/connect-links/:id/revoke': {
    allowed: WRITERS,
    ok: 200,
    request: async (w, target) => ({
      method: 'POST',
      url: `/v1/connect-links/${target === 'missing' ? newId('connectLink') : await makeLink(w, target === 'own' ? w.A : w.B)}/revoke`,
      payload: { reason: 'matrix' },
    }),
    foreign: hiddenLikeMissingAdapter('connect_link_not_found'),
  },
  'POST /v1/connect-links': {
    allowed: WRITERS,
    // The world's provider has no issuer, so an allowed caller gets 409 consent_not_supported: past the role check.
    ok: PAST_THE_ROLE_CHECK,
    request: (w, target) => ({
      method: 'POST',
      url: '/v1/connect-links',
      payload: { providerId: w.providerId, tenantId: target === 'own' ? w.A : target === 'foreign' ? w.B : newId('tenant'), owner: 'team-a' },
    }),
    foreign: hiddenLikeMissingAdapter('tenant_not_found'),
  },

  // Routes other capabilities are adding (issues 3 and 4): their contract, checked once they exist.
  'GET /v1/connect/:providerId': {
    planned: true,
    allowed: WRITERS,
    ok: PAST_THE_ROLE_CHECK,
    request: (w, target) => ({ method: 'GET', url: `/v1/connect/${w.providerId}?tenantId=${target === 'own' ? w.A : target === 'foreign' ? w.B : newId('tenant')}&owner=team-a&purpose=sync` }),
    foreign: hiddenLikeMissingAdapter('tenant_not_found'),
  },
  'POST /v1/tokens/:id/refresh': {
    planned: true,
    allowed: WRITERS,
    ok: PAST_THE_ROLE_CHECK,
    request: tokenRequest('POST', '/refresh', {}),
    foreign: hiddenLikeMissingAdapter('token_not_found', unchangedActiveToken),
  },
  'ANY /gw/:tokenId/*': {
    planned: true,
    allowed: ['workload'],
    ok: PAST_THE_ROLE_CHECK,
    request: async (w, target) => ({ method: 'GET', url: `/gw/${target === 'own' ? await w.token('A') : target === 'foreign' ? await w.token('B') : newId('token')}/items` }),
    foreign: hiddenLikeMissingAdapter('token_not_found'),
  },
  'ANY /gw/:tokenId': {
    planned: true,
    allowed: ['workload'],
    ok: PAST_THE_ROLE_CHECK,
    request: async (w, target) => ({ method: 'GET', url: `/gw/${target === 'own' ? await w.token('A') : target === 'foreign' ? await w.token('B') : newId('token')}` }),
    foreign: hiddenLikeMissingAdapter('token_not_found'),
  },
  'GET /v1/policy': { allowed: READERS, ok: 200, request: () => ({ method: 'GET', url: '/v1/policy' }), foreign: { global: 'the global policy names no tenant' } },
  'PUT /v1/policy': {
    allowed: ['admin'],
    ok: 200,
    request: () => ({ method: 'PUT', url: '/v1/policy', payload: { mode: 'audit' } }),
    foreign: { global: 'only admin (all tenants) sets the global policy' },
  },
  'GET /v1/tenants/:id/policy': {
    allowed: READERS,
    ok: 200,
    request: (w, target) => ({ method: 'GET', url: `/v1/tenants/${tenantOf(w, target)}/policy` }),
    foreign: hiddenLikeMissingAdapter('tenant_not_found'),
  },
  'PUT /v1/tenants/:id/policy': {
    allowed: ['admin'],
    ok: 200,
    request: (w, target) => ({ method: 'PUT', url: `/v1/tenants/${tenantOf(w, target)}/policy`, payload: { graceDays: 7 } }),
    foreign: { global: 'only admin (all tenants) sets a tenant override' },
  },
  'GET /v1/tenants/:id/policy/effective': {
    allowed: READERS,
    ok: 200,
    request: (w, target) => ({ method: 'GET', url: `/v1/tenants/${tenantOf(w, target)}/policy/effective` }),
    foreign: hiddenLikeMissingAdapter('tenant_not_found'),
  },
  'GET /v1/owners': { allowed: ['admin', 'security', 'auditor'], ok: 200, request: () => ({ method: 'GET', url: '/v1/owners' }), foreign: { global: "the platform's own staff directory: tenant administrators may not read it" } },
  'POST /v1/owners': {
    allowed: ['admin', 'security'],
    ok: 201,
    request: () => ({ method: 'POST', url: '/v1/owners', payload: { name: `owner-${rnd()}`, kind: 'person' } }),
    foreign: { global: 'platform staff only' },
  },
  'PATCH /v1/owners/:id': {
    allowed: ['admin', 'security'],
    ok: 200,
    request: async (w, target) => ({ method: 'PATCH', url: `/v1/owners/${target === 'missing' ? newId('owner') : (await w.h.custody.directory.createOwner(w.h.admin, { name: `owner-${rnd()}`, kind: 'team' })).id}`, payload: { contact: 'ops@example.com' } }),
    foreign: { global: 'platform staff only' },
  },
  'GET /v1/workloads': {
    allowed: READERS,
    ok: 200,
    request: () => ({ method: 'GET', url: '/v1/workloads' }),
    foreign: async (w, role) => {
      await w.h.custody.directory.createWorkload(w.h.admin, { name: `wl-b-${rnd()}`, tenantId: w.B });
      for (const query of ['', `?tenantId=${w.B}`]) {
        const items = (await w.call(role, { method: 'GET', url: `/v1/workloads${query}` })).json().items as { tenantId: string | null }[];
        expect(items.filter((x) => x.tenantId !== null && x.tenantId !== w.A), `${role} GET /v1/workloads${query}`).toEqual([]);
      }
    },
  },
  'POST /v1/workloads': {
    allowed: ['admin', 'security'],
    ok: 201,
    request: (w) => ({ method: 'POST', url: '/v1/workloads', payload: { name: `wl-${rnd()}`, tenantId: w.A } }),
    foreign: { global: 'platform staff only' },
  },
  'PATCH /v1/workloads/:id': {
    allowed: ['admin', 'security'],
    ok: 200,
    request: async (w, target) => ({
      method: 'PATCH',
      url: `/v1/workloads/${target === 'missing' ? newId('workload') : (await w.h.custody.directory.createWorkload(w.h.admin, { name: `wl-${rnd()}`, tenantId: target === 'own' ? w.A : w.B })).id}`,
      payload: { purpose: 'sync' },
    }),
    foreign: { global: 'platform staff only' },
  },
  'POST /v1/tokens/reassign': {
    allowed: ['admin', 'security'],
    ok: 200,
    request: async (w) => {
      const to = (await w.h.custody.directory.createOwner(w.h.admin, { name: `owner-${rnd()}`, kind: 'person' })).name;
      return { method: 'POST', url: '/v1/tokens/reassign', payload: { fromOwner: `nobody-${rnd()}`, toOwner: to } };
    },
    foreign: { global: 'platform staff only (moves tokens of every tenant an owner holds)' },
  },
  'POST /v1/exceptions': {
    allowed: ['admin', 'security'],
    ok: 201,
    request: (w, target) => ({ method: 'POST', url: '/v1/exceptions', payload: { tenantId: tenantOf(w, target), findingType: 'dormant', approvedBy: 'ciso', reason: 'pilot', expiresAt: new Date(Date.now() + 86_400_000).toISOString() } }),
    foreign: { global: 'platform staff only' },
  },
  'GET /v1/exceptions': {
    allowed: READERS,
    ok: 200,
    request: () => ({ method: 'GET', url: '/v1/exceptions' }),
    foreign: async (w, role) => {
      await w.h.custody.exceptions.create(w.h.admin, { tenantId: w.B, findingType: 'dormant', approvedBy: 'ciso', reason: 'b', expiresAt: new Date(Date.now() + 86_400_000).toISOString() });
      for (const query of ['', `?tenantId=${w.B}`]) {
        const items = (await w.call(role, { method: 'GET', url: `/v1/exceptions${query}` })).json().items as { tenantId: string }[];
        expect(items.filter((x) => x.tenantId !== w.A), `${role} GET /v1/exceptions${query}`).toEqual([]);
      }
    },
  },
  'DELETE /v1/exceptions/:id': {
    allowed: ['admin', 'security'],
    ok: 200,
    request: async (w, target) => ({
      method: 'DELETE',
      url: `/v1/exceptions/${target === 'missing' ? newId('exception') : (await w.h.custody.exceptions.create(w.h.admin, { tenantId: tenantOf(w, target), findingType: 'dormant', approvedBy: 'ciso', reason: 'x', expiresAt: new Date(Date.now() + 86_400_000).toISOString() })).id}`,
    }),
    foreign: { global: 'platform staff only' },
  },
  'GET /v1/findings': {
    allowed: READERS,
    ok: 200,
    request: () => ({ method: 'GET', url: '/v1/findings' }),
    foreign: async (w, role) => {
      const own = await findingOf(w, 'A');
      const foreign = await findingOf(w, 'B');
      for (const query of ['', `&tenantId=${w.B}`, `&tokenId=${foreign.tokenId}`, '&type=no_owner', '&owaspNhi=NHI1']) {
        const items = (await w.call(role, { method: 'GET', url: `/v1/findings?limit=1000${query}` })).json().items as { tenantId: string | null }[];
        expect(items.filter((x) => x.tenantId !== w.A), `${role} GET /v1/findings?${query}`).toEqual([]);
      }
      const mine = (await w.call(role, { method: 'GET', url: `/v1/findings?limit=1000&tokenId=${own.tokenId}` })).json().items as { id: string }[];
      expect(mine.map((x) => x.id)).toContain(own.id);
    },
  },
  'GET /v1/findings/summary': {
    allowed: READERS,
    ok: 200,
    request: (w, target) => ({ method: 'GET', url: `/v1/findings/summary?tenantId=${tenantOf(w, target)}` }),
    foreign: hiddenLikeMissingAdapter('tenant_not_found'),
  },
  'GET /v1/findings/:id': {
    allowed: READERS,
    ok: 200,
    request: async (w, target) => ({ method: 'GET', url: `/v1/findings/${target === 'missing' ? newId('finding') : (await findingOf(w, target === 'own' ? 'A' : 'B')).id}` }),
    foreign: hiddenLikeMissingAdapter('finding_not_found'),
  },
  'POST /v1/findings/:id/acknowledge': {
    allowed: ['admin', 'security'],
    ok: 200,
    request: async (w, target) => ({ method: 'POST', url: `/v1/findings/${target === 'missing' ? newId('finding') : (await findingOf(w, target === 'own' ? 'A' : 'B')).id}/acknowledge`, payload: { reason: 'on it' } }),
    foreign: { global: 'platform staff only (tenant administrators read their findings)' },
  },
  'GET /v1/alerts': {
    allowed: READERS,
    ok: 200,
    request: () => ({ method: 'GET', url: '/v1/alerts' }),
    foreign: async (w, role) => {
      const own = await alertOf(w, 'A');
      const foreign = await alertOf(w, 'B');
      const global = await alertOf(w, null);
      for (const query of ['', `&tenantId=${w.B}`, `&tokenId=${foreign.tokenId}`, '&kind=matrix_probe', '&status=open']) {
        const items = (await w.call(role, { method: 'GET', url: `/v1/alerts?limit=1000${query}` })).json().items as { id: string; tenantId: string | null }[];
        expect(items.filter((x) => x.tenantId !== w.A), `${role} GET /v1/alerts?${query}`).toEqual([]);
        expect(items.map((x) => x.id)).not.toContain(global.id);
      }
      const mine = (await w.call(role, { method: 'GET', url: `/v1/alerts?limit=1000&tokenId=${own.tokenId}` })).json().items as { id: string }[];
      expect(mine.map((x) => x.id)).toContain(own.id);
    },
  },
  'GET /v1/alerts/:id': {
    allowed: READERS,
    ok: 200,
    request: async (w, target) => ({ method: 'GET', url: `/v1/alerts/${target === 'missing' ? newId('alert') : (await alertOf(w, target === 'own' ? 'A' : 'B')).id}` }),
    foreign: hiddenLikeMissingAdapter('alert_not_found'),
  },
  'POST /v1/alerts/:id/acknowledge': {
    allowed: ['admin', 'security'],
    ok: 200,
    request: async (w, target) => ({ method: 'POST', url: `/v1/alerts/${target === 'missing' ? newId('alert') : (await alertOf(w, target === 'own' ? 'A' : 'B')).id}/acknowledge`, payload: { reason: 'on it' } }),
    foreign: { global: 'platform staff only (tenant administrators read their alerts)' },
  },
  'POST /v1/alerts/:id/resolve': {
    allowed: ['admin', 'security'],
    ok: 200,
    request: async (w, target) => ({ method: 'POST', url: `/v1/alerts/${target === 'missing' ? newId('alert') : (await alertOf(w, target === 'own' ? 'A' : 'B')).id}/resolve`, payload: { reason: 'dealt with' } }),
    foreign: { global: 'platform staff only (tenant administrators read their alerts)' },
  },
  'GET /v1/tokens/:id/usage': { allowed: READERS, ok: 200, request: tokenRequest('GET', '/usage'), foreign: hiddenLikeMissingAdapter('token_not_found') },
  'GET /v1/usage/summary': {
    allowed: READERS,
    ok: 200,
    request: (w, target) => ({ method: 'GET', url: `/v1/usage/summary?tenantId=${tenantOf(w, target)}` }),
    foreign: hiddenLikeMissingAdapter('tenant_not_found'),
  },
  // Trends (src/trends): a tenant's series, or the platform's; a tenant administrator reads only its own.
  'GET /v1/reports/trends': {
    allowed: READERS,
    ok: 200,
    request: (w, target) => ({ method: 'GET', url: `/v1/reports/trends?tenantId=${tenantOf(w, target)}` }),
    foreign: async (w, role) => {
      await hiddenLikeMissing('tenant_not_found')(w, role, MATRIX['GET /v1/reports/trends']!);
      // Without a tenantId a tenant administrator gets its own tenant's series, never the platform's.
      const own = (await w.call(role, { method: 'GET', url: '/v1/reports/trends' })).json();
      expect(own.tenantId).toBe(w.A);
    },
  },
  // The compliance report (src/reports): one tenant's, or every tenant's for platform roles.
  'GET /v1/reports/compliance': {
    allowed: READERS,
    ok: 200,
    request: (w, target) => ({ method: 'GET', url: `/v1/reports/compliance?tenantId=${tenantOf(w, target)}` }),
    foreign: async (w, role) => {
      await hiddenLikeMissing('tenant_not_found')(w, role, MATRIX['GET /v1/reports/compliance']!);
      // Without a tenantId a tenant administrator gets its own tenant's report, in every format.
      const own = (await w.call(role, { method: 'GET', url: '/v1/reports/compliance' })).json();
      expect(own.report.scope.tenantId).toBe(w.A);
      expect(JSON.stringify(own.report)).not.toContain(w.B);
      const html = await w.call(role, { method: 'GET', url: '/v1/reports/compliance?format=html' });
      expect(html.statusCode).toBe(200);
      expect(html.body).not.toContain(w.B);
    },
  },
  'GET /v1/reports/kill-times': {
    allowed: READERS,
    ok: 200,
    request: (w, target) => ({ method: 'GET', url: `/v1/reports/kill-times?tenantId=${tenantOf(w, target)}` }),
    foreign: async (w, role) => {
      await hiddenLikeMissing('tenant_not_found')(w, role, MATRIX['GET /v1/reports/kill-times']!);
      // Without a tenantId a tenant administrator counts its own tenant's revocations.
      expect((await w.call(role, { method: 'GET', url: '/v1/reports/kill-times' })).json().scope.tenantId).toBe(w.A);
    },
  },
  'GET /v1/notices': {
    allowed: READERS,
    ok: 200,
    request: () => ({ method: 'GET', url: '/v1/notices' }),
    foreign: async (w, role) => {
      const own = await noticeOf(w, 'A');
      const foreign = await noticeOf(w, 'B');
      for (const query of ['', `&tenantId=${w.B}`, `&tokenId=${foreign.tokenId}`, '&findingType=dormant']) {
        const items = (await w.call(role, { method: 'GET', url: `/v1/notices?limit=1000${query}` })).json().items as { tenantId: string }[];
        expect(items.filter((x) => x.tenantId !== w.A), `${role} GET /v1/notices?${query}`).toEqual([]);
      }
      const mine = (await w.call(role, { method: 'GET', url: `/v1/notices?limit=1000&tokenId=${own.tokenId}` })).json().items as { id: string }[];
      expect(mine.map((x) => x.id)).toContain(own.id);
    },
  },
  'GET /v1/notices/:id': {
    allowed: READERS,
    ok: 200,
    request: async (w, target) => ({ method: 'GET', url: `/v1/notices/${target === 'missing' ? newId('notice') : (await noticeOf(w, target === 'own' ? 'A' : 'B')).id}` }),
    foreign: hiddenLikeMissingAdapter('notice_not_found'),
  },
  'POST /v1/sweeps': { allowed: ['admin', 'security'], ok: 200, request: () => ({ method: 'POST', url: '/v1/sweeps' }), foreign: { global: 'the sweep covers every tenant; platform staff only' } },
  // The SSF transmitter's streams (src/streams): stream_id in the query or the body, SSF's field names.
  'POST /v1/ssf/streams': {
    allowed: WRITERS,
    ok: 201,
    request: async (w, target) => {
      await roomForStream(w);
      return { method: 'POST', url: '/v1/ssf/streams', payload: { tenant_id: tenantOf(w, target), delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: 'https://receiver.example.com/ssf' } } };
    },
    foreign: hiddenLikeMissingAdapter('tenant_not_found'),
  },
  'GET /v1/ssf/streams': {
    allowed: READERS,
    ok: 200,
    request: async (w, target) => ({ method: 'GET', url: `/v1/ssf/streams?stream_id=${await streamIdOf(w, target)}` }),
    foreign: async (w, role) => {
      await hiddenLikeMissing('ssf_stream_not_found')(w, role, MATRIX['GET /v1/ssf/streams']!);
      const listed = (await w.call(role, { method: 'GET', url: '/v1/ssf/streams' })).json() as { tenant_id: string }[];
      expect(listed.length).toBeGreaterThan(0);
      expect(listed.filter((x) => x.tenant_id !== w.A)).toEqual([]);
    },
  },
  'PATCH /v1/ssf/streams': {
    allowed: WRITERS,
    ok: 200,
    request: async (w, target) => ({ method: 'PATCH', url: '/v1/ssf/streams', payload: { stream_id: await streamIdOf(w, target), description: 'changed' } }),
    foreign: hiddenLikeMissingAdapter('ssf_stream_not_found'),
  },
  'PUT /v1/ssf/streams': {
    allowed: WRITERS,
    ok: 200,
    request: async (w, target) => ({ method: 'PUT', url: '/v1/ssf/streams', payload: { stream_id: await streamIdOf(w, target), delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: 'https://receiver.example.com/ssf' }, events_requested: [] } }),
    foreign: hiddenLikeMissingAdapter('ssf_stream_not_found'),
  },
  'DELETE /v1/ssf/streams': {
    allowed: WRITERS,
    ok: 204,
    request: async (w, target) => ({ method: 'DELETE', url: `/v1/ssf/streams?stream_id=${await streamIdOf(w, target, true)}` }),
    foreign: hiddenLikeMissingAdapter('ssf_stream_not_found'),
  },
  'GET /v1/ssf/streams/status': {
    allowed: READERS,
    ok: 200,
    request: async (w, target) => ({ method: 'GET', url: `/v1/ssf/streams/status?stream_id=${await streamIdOf(w, target)}` }),
    foreign: hiddenLikeMissingAdapter('ssf_stream_not_found'),
  },
  'POST /v1/ssf/streams/status': {
    allowed: WRITERS,
    ok: 200,
    request: async (w, target) => ({ method: 'POST', url: '/v1/ssf/streams/status', payload: { stream_id: await streamIdOf(w, target), status: 'enabled' } }),
    foreign: hiddenLikeMissingAdapter('ssf_stream_not_found'),
  },
  'POST /v1/ssf/streams/verify': {
    allowed: WRITERS,
    ok: 204,
    // A fresh stream each time: a stream takes one verification request a minute.
    request: async (w, target) => ({ method: 'POST', url: '/v1/ssf/streams/verify', payload: { stream_id: await streamIdOf(w, target, true) } }),
    foreign: hiddenLikeMissingAdapter('ssf_stream_not_found'),
  },
  // Leaked-token intake (src/leaks): platform staff only; the reporters' keys are platform configuration.
  'POST /v1/leaks/check': {
    allowed: ['admin', 'security'],
    ok: 200,
    request: () => ({ method: 'POST', url: '/v1/leaks/check', payload: { strings: [`nothing-${rnd()}`] } }),
    foreign: { global: 'platform staff only: a check may match any tenant’s token, so tenant administrators may not run one' },
  },
  'GET /v1/leaks/reporters': {
    allowed: ['admin', 'security', 'auditor'],
    ok: 200,
    request: () => ({ method: 'GET', url: '/v1/leaks/reporters' }),
    foreign: { global: 'reporters are platform-wide configuration and carry no tenant data' },
  },
  'POST /v1/leaks/reporters': {
    allowed: ['admin'],
    ok: 201,
    request: () => ({ method: 'POST', url: '/v1/leaks/reporters', payload: { name: 'scanner', keyId: `k-${rnd()}`, publicKey: leakReporterKey() } }),
    foreign: { global: 'reporters are platform-wide configuration; only admin may add one' },
  },
  'POST /v1/leaks/reporters/:id/disable': {
    allowed: ['admin'],
    ok: 200,
    request: async (w) => ({ method: 'POST', url: `/v1/leaks/reporters/${(await w.h.custody.leaks.addReporter(w.h.admin, { name: 'scanner', keyId: `k-${rnd()}`, publicKey: leakReporterKey() })).id}/disable`, payload: { reason: 'rotated' } }),
    foreign: { global: 'reporters are platform-wide configuration; only admin may disable one' },
  },
  // Shared Signals (src/signals): transmitters are platform configuration (each can suspend its tenant's tokens).
  'GET /v1/ssf/transmitters': {
    allowed: ['admin', 'security', 'auditor'],
    ok: 200,
    request: () => ({ method: 'GET', url: '/v1/ssf/transmitters' }),
    foreign: { global: 'transmitters are platform configuration read by platform staff only; tenant administrators cannot read them' },
  },
  'POST /v1/ssf/transmitters': {
    allowed: ['admin', 'security'],
    ok: 201,
    request: (w) => ({ method: 'POST', url: '/v1/ssf/transmitters', payload: transmitterBody(w) }),
    foreign: { global: 'platform staff only: a transmitter can suspend and revoke its tenant’s tokens' },
  },
  'GET /v1/ssf/transmitters/:id': {
    allowed: ['admin', 'security', 'auditor'],
    ok: 200,
    request: async (w) => ({ method: 'GET', url: `/v1/ssf/transmitters/${(await w.h.custody.transmitters.create(w.h.admin, transmitterBody(w))).id}` }),
    foreign: { global: 'transmitters are platform configuration read by platform staff only' },
  },
  'PATCH /v1/ssf/transmitters/:id': {
    allowed: ['admin', 'security'],
    ok: 200,
    request: async (w) => ({ method: 'PATCH', url: `/v1/ssf/transmitters/${(await w.h.custody.transmitters.create(w.h.admin, transmitterBody(w))).id}`, payload: { enabled: false, reason: 'test' } }),
    foreign: { global: 'platform staff only' },
  },
  'POST /v1/approvers/deactivate': {
    allowed: WRITERS,
    ok: 200,
    request: (w, target) => ({ method: 'POST', url: '/v1/approvers/deactivate', payload: { tenantId: tenantOf(w, target), issuer: 'https://idp.example', subject: `gone-${rnd()}` } }),
    foreign: hiddenLikeMissingAdapter('tenant_not_found'),
  },
  'GET /v1/approvers/inactive': {
    allowed: READERS,
    ok: 200,
    request: (w, target) => ({ method: 'GET', url: `/v1/approvers/inactive?tenantId=${tenantOf(w, target)}` }),
    foreign: hiddenLikeMissingAdapter('tenant_not_found'),
  },
  // Signed webhooks (src/webhooks): a tenant administrator's subscriptions are its tenant's; the platform's are hidden from it.
  'POST /v1/webhooks': {
    allowed: WRITERS,
    ok: 201,
    request: async (w, target) => {
      await roomForWebhook(w);
      return { method: 'POST', url: '/v1/webhooks', payload: { url: 'https://hooks.example.com/custody', events: ['token.*'], tenantId: tenantOf(w, target) } };
    },
    foreign: hiddenLikeMissingAdapter('tenant_not_found'),
  },
  'GET /v1/webhooks': {
    allowed: READERS,
    ok: 200,
    request: () => ({ method: 'GET', url: '/v1/webhooks' }),
    foreign: async (w, role) => {
      await webhookIdOf(w, 'foreign');
      await w.h.custody.webhooks.create(w.h.admin, { url: 'https://hooks.example.com/platform', events: ['*'] }).catch(() => {});
      for (const query of ['', `?tenantId=${w.B}`]) {
        const items = (await w.call(role, { method: 'GET', url: `/v1/webhooks${query}` })).json().items as { tenantId: string | null }[];
        expect(items.filter((x) => x.tenantId !== w.A), `${role} GET /v1/webhooks${query}`).toEqual([]);
      }
    },
  },
  'GET /v1/webhooks/:id': { allowed: READERS, ok: 200, request: async (w, target) => ({ method: 'GET', url: `/v1/webhooks/${await webhookIdOf(w, target)}` }), foreign: hiddenLikeMissingAdapter('webhook_not_found') },
  'GET /v1/webhooks/:id/deliveries': { allowed: READERS, ok: 200, request: async (w, target) => ({ method: 'GET', url: `/v1/webhooks/${await webhookIdOf(w, target)}/deliveries` }), foreign: hiddenLikeMissingAdapter('webhook_not_found') },
  'DELETE /v1/webhooks/:id': {
    allowed: WRITERS,
    ok: 200,
    request: async (w, target) => ({ method: 'DELETE', url: `/v1/webhooks/${await webhookIdOf(w, target, true)}` }),
    foreign: hiddenLikeMissingAdapter('webhook_not_found'),
  },
  // The SIEM export (src/events): the ledger as OCSF; a tenant administrator reads its tenant's entries only.
  'GET /v1/events': {
    allowed: READERS,
    ok: 200,
    request: () => ({ method: 'GET', url: '/v1/events?limit=1000' }),
    foreign: async (w, role) => {
      for (const query of ['', `&tenantId=${w.B}`]) {
        const items = (await w.call(role, { method: 'GET', url: `/v1/events?limit=1000${query}` })).json().items as { unmapped: { tenant_id: string | null } }[];
        expect(items.filter((x) => x.unmapped.tenant_id !== w.A), `${role} GET /v1/events${query}`).toEqual([]);
      }
    },
  },
  // Access reviews (src/reviews): a tenant administrator's campaigns are its tenant's; the platform's (by owner or provider) are hidden from it.
  'POST /v1/reviews': {
    allowed: WRITERS,
    ok: 201,
    request: async (w, target) => {
      if (target === 'own') await w.token('A');
      return { method: 'POST', url: '/v1/reviews', payload: { name: 'matrix', tenantId: tenantOf(w, target), dueAt: new Date(Date.now() + 10 * 86_400_000).toISOString() } };
    },
    foreign: hiddenLikeMissingAdapter('tenant_not_found', async (w, tenantId) => {
      const theirs = await w.h.custody.reviews.list(w.h.admin, { tenantId, limit: 1000 });
      expect(theirs.items.filter((c) => c.name === 'matrix')).toEqual([]);
    }),
  },
  'GET /v1/reviews': {
    allowed: READERS,
    ok: 200,
    request: () => ({ method: 'GET', url: '/v1/reviews' }),
    foreign: async (w, role) => {
      const own = await reviewOf(w, 'A');
      const foreign = await reviewOf(w, 'B');
      // A platform campaign over both tenants shows them their own item only; one over tenant B alone not at all.
      const platform = await reviewOf(w, null);
      const platformOfB = await reviewOf(w, 'B', { platform: true });
      for (const query of ['', '&status=open']) {
        const items = (await w.call(role, { method: 'GET', url: `/v1/reviews?limit=1000${query}` })).json().items as { id: string; tenantId: string | null; progress: { total: number } }[];
        expect(items.filter((x) => x.tenantId !== w.A && x.tenantId !== null), `${role} GET /v1/reviews?${query}`).toEqual([]);
        expect(items.find((x) => x.id === platform.campaignId)).toMatchObject({ progress: { total: 1 } });
        expect(items.map((x) => x.id)).not.toContain(platformOfB.campaignId);
        expect(items.map((x) => x.id)).not.toContain(foreign.campaignId);
      }
      const other = await w.call(role, { method: 'GET', url: `/v1/reviews?tenantId=${w.B}` });
      expect([other.statusCode, other.json().error.code]).toEqual([404, 'tenant_not_found']);
      const mine = (await w.call(role, { method: 'GET', url: '/v1/reviews?limit=1000' })).json().items as { id: string }[];
      expect(mine.map((x) => x.id)).toContain(own.campaignId);
    },
  },
  'GET /v1/reviews/:id': {
    allowed: READERS,
    ok: 200,
    request: async (w, target) => ({ method: 'GET', url: `/v1/reviews/${target === 'missing' ? newId('reviewCampaign') : (await reviewOf(w, target === 'own' ? 'A' : 'B')).campaignId}` }),
    foreign: async (w, role) => {
      await hiddenLikeMissing('review_not_found')(w, role, MATRIX['GET /v1/reviews/:id']!);
      const platformOfB = await reviewOf(w, 'B', { platform: true });
      const r = await w.call(role, { method: 'GET', url: `/v1/reviews/${platformOfB.campaignId}` });
      expect([r.statusCode, r.json().error.code], 'a platform campaign holding none of their items').toEqual([404, 'review_not_found']);
      // Over both tenants: theirs only, counted and listed.
      const platform = await reviewOf(w, null);
      expect((await w.call(role, { method: 'GET', url: `/v1/reviews/${platform.campaignId}` })).json()).toMatchObject({ progress: { total: 1 } });
      const items = (await w.call(role, { method: 'GET', url: `/v1/reviews/${platform.campaignId}/items` })).json().items as { tenantId: string }[];
      expect(items.map((i) => i.tenantId)).toEqual([w.A]);
    },
  },
  'GET /v1/reviews/:id/items': {
    allowed: READERS,
    ok: 200,
    request: async (w, target) => ({ method: 'GET', url: `/v1/reviews/${target === 'missing' ? newId('reviewCampaign') : (await reviewOf(w, target === 'own' ? 'A' : 'B')).campaignId}/items` }),
    foreign: hiddenLikeMissingAdapter('review_not_found'),
  },
  'POST /v1/reviews/:id/items/:itemId/decide': {
    allowed: WRITERS,
    ok: 200,
    request: async (w, target) => {
      const r = target === 'missing' ? { campaignId: newId('reviewCampaign'), itemId: newId('reviewItem') } : await reviewOf(w, target === 'own' ? 'A' : 'B');
      return { method: 'POST', url: `/v1/reviews/${r.campaignId}/items/${r.itemId}/decide`, payload: { decision: 'keep', justification: 'still needed by the matrix' } };
    },
    foreign: async (w, role) => {
      await hiddenLikeMissing('review_not_found')(w, role, MATRIX['POST /v1/reviews/:id/items/:itemId/decide']!);
      // An item of tenant B named under tenant A's own campaign: not found either, and left open.
      const own = await reviewOf(w, 'A');
      const foreign = await reviewOf(w, 'B');
      const r = await w.call(role, { method: 'POST', url: `/v1/reviews/${own.campaignId}/items/${foreign.itemId}/decide`, payload: { decision: 'revoke', reason: 'matrix' } });
      expect([r.statusCode, r.json().error.code]).toEqual([404, 'review_item_not_found']);
      expect((await w.h.custody.reviews.items(w.h.admin, foreign.campaignId, { limit: 10 })).items[0]).toMatchObject({ status: 'open' });
      expect((await w.h.custody.tokens.get(w.h.admin, foreign.tokenId)).state).toBe('active');
    },
  },
};

/** Makes room for one more webhook subscription in tenant A (20 at most a tenant), removing the oldest. */
async function roomForWebhook(w: World): Promise<void> {
  const mine = (await w.h.custody.webhooks.list(w.h.admin, { tenantId: w.A, limit: 100 })).items;
  for (const x of mine.slice(0, Math.max(0, mine.length - 10))) await w.h.custody.webhooks.remove(w.h.admin, x.id);
}

/** A webhook subscription of the target's tenant (reused unless fresh); a well-formed id of none when missing. */
const webhookIds = new Map<string, string>();
async function webhookIdOf(w: World, target: Target, fresh = false): Promise<string> {
  if (target === 'missing') return newId('webhook');
  const tenantId = tenantOf(w, target);
  const known = webhookIds.get(tenantId);
  if (known && !fresh) return known;
  await roomForWebhook(w);
  const id = (await w.h.custody.webhooks.create(w.h.admin, { url: 'https://hooks.example.com/custody', events: ['token.*'], tenantId })).id;
  if (!fresh) webhookIds.set(tenantId, id);
  return id;
}

const transmitterBody = (w: World) => ({ tenantId: w.A, name: 'idp', issuer: `https://idp-${rnd()}.example`, audience: 'custody', jwksUrl: 'https://idp.example/jwks' });

/** A fresh ECDSA P-256 public key (PEM), as a leak reporter registers. */
const leakReporterKey = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ format: 'pem', type: 'spki' }).toString();

const tenantOf = (w: World, target: Target) => (target === 'own' ? w.A : target === 'foreign' ? w.B : newId('tenant'));

/** Makes room for one more SSF stream in tenant A (3 at most a tenant), deleting the oldest. */
async function roomForStream(w: World): Promise<void> {
  const streams = w.h.custody.streams;
  const mine = ((await streams.read(w.h.admin, undefined)) as { stream_id: string; tenant_id: string }[]).filter((x) => x.tenant_id === w.A);
  for (const x of mine.slice(0, Math.max(0, mine.length - 2))) await streams.delete(w.h.admin, x.stream_id);
}

/** An SSF stream of the target's tenant (fresh: made now, not reused); a well-formed id of none when missing. */
async function streamIdOf(w: World, target: Target, fresh = false): Promise<string> {
  if (target === 'missing') return newId('ssfStream');
  const tenantId = target === 'own' ? w.A : w.B;
  const streams = w.h.custody.streams;
  if (!fresh) {
    const existing = ((await streams.read(w.h.admin, undefined)) as { stream_id: string; tenant_id: string }[]).find((x) => x.tenant_id === tenantId);
    if (existing) return existing.stream_id;
  }
  if (target === 'own') await roomForStream(w);
  else {
    const theirs = ((await streams.read(w.h.admin, undefined)) as { stream_id: string; tenant_id: string }[]).filter((x) => x.tenant_id === tenantId);
    for (const x of theirs.slice(0, Math.max(0, theirs.length - 2))) await streams.delete(w.h.admin, x.stream_id);
  }
  return (await streams.create(w.h.admin, { tenant_id: tenantId, delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: 'https://receiver.example.com/ssf' } })).stream_id;
}

/** A live finding of a fresh token of a tenant (its owner is in no directory: no_owner). */
async function findingOf(w: World, tenant: 'A' | 'B'): Promise<{ id: string; tokenId: string }> {
  const tokenId = await w.token(tenant);
  await w.h.custody.findings.settled();
  const { items } = await w.h.custody.findingQueries.list(w.h.admin, { tokenId, type: 'no_owner', limit: 1 });
  return { id: items[0]!.id, tokenId };
}

/** An open alert about a fresh token of a tenant (null: a platform-wide alert about no token). */
async function alertOf(w: World, tenant: 'A' | 'B' | null): Promise<{ id: string; tokenId: string | null }> {
  const tokenId = tenant === null ? null : await w.token(tenant);
  const tenantId = tenant === null ? null : tenant === 'A' ? w.A : w.B;
  const { id } = await w.h.custody.storage.db.transaction().execute((trx) =>
    w.h.custody.alerts.raise(trx, { kind: 'matrix_probe', severity: 'high', tenantId, subjectId: tokenId, message: 'cross-tenant matrix' }, new Date()),
  );
  return { id, tokenId };
}

/** A notice about a fresh token of a tenant, recorded as an enforcement pass records one. */
async function noticeOf(w: World, tenant: 'A' | 'B'): Promise<{ id: string; tokenId: string }> {
  const tokenId = await w.token(tenant);
  const tenantId = tenant === 'A' ? w.A : w.B;
  const [id] = await w.h.custody.storage.db.transaction().execute((trx) =>
    w.h.custody.notices.record(trx, [
      { tenantId, tokenId, findingId: newId('finding'), findingType: 'dormant', deadline: new Date(Date.now() + 86_400_000).toISOString(), message: 'matrix', recipients: [{ kind: 'owner', name: 'team', address: null }], link: null, policyVersion: { global: 0, tenant: 0 } },
    ]),
  );
  return { id: id!, tokenId };
}

/** A one-item access review campaign about a fresh token of a tenant (null: a platform campaign by owner over tenants A and B). */
async function reviewOf(w: World, tenant: 'A' | 'B' | null, options: { platform?: boolean } = {}): Promise<{ campaignId: string; itemId: string; tokenId: string }> {
  const owner = `reviewed-${rnd()}`;
  const tokenIds: string[] = [];
  for (const tenantId of tenant === null ? [w.A, w.B] : [tenant === 'A' ? w.A : w.B]) {
    tokenIds.push((await w.h.custody.tokens.register(w.h.admin, { tenantId, providerId: w.providerId, owner, scopes: ['invoices.read'], accessToken: new Secret(`at-${rnd()}`) })).id);
  }
  // By owner only (a platform campaign) when over both tenants or asked; by tenant otherwise.
  const byTenant = tenant !== null && !options.platform;
  const campaign = await w.h.custody.reviews.create(w.h.admin, { name: 'matrix review', owner, ...(byTenant ? { tenantId: tenant === 'A' ? w.A : w.B } : {}), dueAt: new Date(Date.now() + 10 * 86_400_000).toISOString() });
  const [item] = (await w.h.custody.reviews.items(w.h.admin, campaign.id, { limit: 1 })).items;
  return { campaignId: campaign.id, itemId: item!.id, tokenId: item!.tokenId };
}

/** A pending consent link of a tenant, written as the link service would (the world's provider has no issuer to make one through the API). */
async function makeLink(w: World, tenantId: string): Promise<string> {
  const id = newId('connectLink');
  const now = new Date();
  await w.h.custody.storage.db
    .insertInto('connect_links')
    .values({
      id,
      code_hash: rnd() + rnd(),
      tenant_id: tenantId,
      provider_id: w.providerId,
      owner: 'o',
      purpose: null,
      scopes: '[]',
      created_by: 'system:test',
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + 3600_000).toISOString(),
      opened_at: null,
      flow_id: null,
      revoked_at: null,
    })
    .execute();
  return id;
}

function hiddenLikeMissingAdapter(code: string, after?: (w: World, foreignId: string) => Promise<void>) {
  const check = hiddenLikeMissing(code, after);
  return function foreignCheck(this: void, w: World, role: Role) {
    return check(w, role, entryOf(foreignCheck));
  };
}
const entryOf = (fn: unknown): RouteCase => Object.values(MATRIX).find((e) => e.foreign === fn)!;

/** Every (method, path) the app serves, read from its route tree (HEAD mirrors of GET included). */
export function liveRoutes(app: FastifyInstance): { method: string; path: string }[] {
  const out: { method: string; path: string }[] = [];
  const prefixes: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^((?:│ {3}| {4})*)(?:├── |└── )(.*?)(?: \(([^)]*)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    const parent = depth > 0 ? prefixes[depth - 1]! : '';
    // The tree prints a wildcard child as `*` under `/x/:param`; the route itself is `/x/:param/*`.
    const path = parent + (m[2]!.startsWith('*') && !parent.endsWith('/') ? `/${m[2]}` : m[2]!);
    prefixes[depth] = path;
    prefixes.length = depth + 1;
    if (m[3] && m[3] !== '-') for (const method of m[3].split(', ')) out.push({ method, path });
  }
  return out;
}

/** The matrix entry of a live route: `ANY` entries cover every method; HEAD is its GET. */
function entryKey(method: string, path: string): string | undefined {
  for (const key of [`${method} ${path}`, `ANY ${path}`, ...(method === 'HEAD' ? [`GET ${path}`] : [])]) {
    if (key in MATRIX || key in PUBLIC_ROUTES || key in SIGNED_ROUTES || key in SESSION_ROUTES) return key;
  }
  return undefined;
}

/** A concrete URL for a route path: parameters filled with well-formed ids that exist nowhere. */
function concreteUrl(path: string): string {
  return path.replace(/:(\w+)/g, (_m, name: string) => {
    if (/token/i.test(name) || path.startsWith('/v1/tokens')) return newId('token');
    if (/provider/i.test(name) || path.startsWith('/v1/providers')) return newId('provider');
    if (path.startsWith('/v1/api-keys')) return newId('apiKey');
    if (path.startsWith('/v1/owners')) return newId('owner');
    if (path.startsWith('/v1/workloads')) return newId('workload');
    if (path.startsWith('/v1/findings')) return newId('finding');
    if (path.startsWith('/v1/exceptions')) return newId('exception');
    return newId('tenant');
  }).replace(/\*$/, 'x');
}

const errorCode = (r: LightMyRequestResponse): string | undefined => {
  try {
    return (r.json() as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
};

const apiKeyIdOf = (key: string) => `key_${key.split('_')[1]}`;

describeEachDatabase('cross-tenant matrix', (kind) => {
  let w: World;
  let routes: { method: string; path: string }[];
  const has = (key: string) => {
    const [method, path] = key.split(' ') as [string, string];
    return routes.some((r) => r.path === path && (method === 'ANY' || r.method === method));
  };

  beforeAll(async () => {
    const h = await startHarness(kind);
    const A = (await h.custody.tenants.create(h.admin, { name: `acme-${rnd()}` })).id;
    const B = (await h.custody.tenants.create(h.admin, { name: `globex-${rnd()}` })).id;
    const providerId = (
      await h.custody.providers.create(h.admin, {
        name: `provider-${rnd()}`,
        tokenEndpoint: 'https://issuer.example.com/token',
        revocationEndpoint: 'https://issuer.example.com/revoke',
        authorizationEndpoint: 'https://issuer.example.com/authorize',
        clientId: 'custody-client',
        apiBaseUrls: ['https://api.example.com/v1'],
      })
    ).id;
    const keys = {
      admin: await keyFor(h, 'admin'),
      security: await keyFor(h, 'security'),
      auditor: await keyFor(h, 'auditor'),
      tenant_admin: await keyFor(h, 'tenant_admin', A),
      workload: await keyFor(h, 'workload', A, 'billing-sync'),
    } satisfies Record<Role, string>;
    w = {
      h,
      A,
      B,
      providerId,
      keys,
      async token(tenant, state = 'active') {
        const record = await h.custody.tokens.register(h.admin, {
          tenantId: tenant === 'A' ? A : B,
          providerId,
          owner: tenant === 'A' ? 'team-a' : 'team-b',
          approver: { subject: 'alice' },
          purpose: 'sync invoices',
          workloads: ['billing-sync'],
          scopes: ['invoices.read'],
          accessToken: new Secret(`at-${rnd()}`),
        });
        if (state === 'suspended') await h.custody.tokens.transition(h.admin, record.id, 'suspend', 'fixture');
        return record.id;
      },
      call(role, req) {
        const key = role in keys ? keys[role as Role] : role;
        return h.app.inject({ method: req.method, url: req.url, headers: bearer(key), ...(req.payload ? { payload: req.payload } : {}) });
      },
    };
    routes = liveRoutes(h.app);
  });
  afterAll(() => w.h.close());

  it('reads the route list from the running app, including every route of the OpenAPI document', () => {
    const doc = w.h.app.swagger() as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{\*\}/g, '*').replace(/\{(\w+)\}/g, ':$1')}`));
    const live = routes.map((r) => `${r.method} ${r.path}`);
    expect(documented.length).toBeGreaterThan(10);
    expect(live).toEqual(expect.arrayContaining(documented));
    expect(live).toContain('GET /healthz');
  });

  it('has a matrix entry or a public allow-list entry for every route the app serves', () => {
    const unknown = routes.filter((r) => !entryKey(r.method, r.path)).map((r) => `${r.method} ${r.path}`);
    expect(
      unknown,
      `Routes with no entry in test/cross-tenant.test.ts: add each to MATRIX (which roles may call it, what a tenant_admin of ` +
        `another tenant gets) or, if it must answer without a key, to PUBLIC_ROUTES:\n  ${unknown.join('\n  ')}`,
    ).toEqual([]);
    const stale = Object.entries(MATRIX).filter(([key, e]) => !e.planned && !has(key)).map(([key]) => key);
    expect(stale, 'MATRIX entries for routes the app no longer serves').toEqual([]);
  });

  it('keeps every /v1 and /gw route off the public allow-list', () => {
    expect(Object.keys(PUBLIC_ROUTES).filter((k) => / \/(v1|gw)\//.test(k))).toEqual([]);
  });

  it('answers public routes without a key', async () => {
    for (const [key, accepts] of Object.entries(PUBLIC_ROUTES)) {
      if (!has(key)) continue;
      const [method, path] = key.split(' ') as [HTTPMethods, string];
      const r = await w.h.app.inject({ method, url: path });
      expect(accepts(r.statusCode), `${key} without a key → ${r.statusCode}`).toBe(true);
    }
  });

  it('answers every non-public route, for every method, 401 unauthenticated without a key', async () => {
    const checked: string[] = [];
    for (const r of routes) {
      const key = entryKey(r.method, r.path);
      if (key && (key in PUBLIC_ROUTES || key in SIGNED_ROUTES || key in SESSION_ROUTES)) continue;
      const res = await w.h.app.inject({ method: r.method as HTTPMethods, url: concreteUrl(r.path), payload: r.method === 'GET' || r.method === 'HEAD' ? undefined : {} });
      expect(res.statusCode, `${r.method} ${r.path} without a key`).toBe(401);
      if (r.method !== 'HEAD') expect(res.json().error.code).toBe('unauthenticated');
      checked.push(`${r.method} ${r.path}`);
    }
    expect(checked.length).toBeGreaterThanOrEqual(Object.keys(MATRIX).filter((k) => !MATRIX[k]!.planned).length);
  });

  it('answers the console sign-in routes as a signed-out browser, with or without an API key as a bearer', async () => {
    for (const [key, accepts] of Object.entries(SESSION_ROUTES)) {
      if (!has(key)) continue;
      const [method, path] = key.split(' ') as [HTTPMethods, string];
      for (const headers of [{}, bearer(w.keys.admin), bearer(w.keys.workload)]) {
        const r = await w.h.app.inject({ method, url: path, headers, ...(method === 'POST' ? { payload: {} } : {}) });
        expect(accepts(r.statusCode), `${key} → ${r.statusCode} ${r.body.slice(0, 200)}`).toBe(true);
      }
    }
  });

  it('answers an unsigned request to a signature-authenticated route with its own refusal, with or without an API key', async () => {
    for (const [key, refuses] of Object.entries(SIGNED_ROUTES)) {
      if (!has(key)) continue;
      const [method, path] = key.split(' ') as [HTTPMethods, string];
      for (const headers of [{}, bearer(w.keys.admin), bearer(w.keys.workload)]) {
        const r = await w.h.app.inject({ method, url: path, headers, payload: [] });
        expect(refuses(r.statusCode, errorCode(r)), `${key} unsigned → ${r.statusCode} ${r.body.slice(0, 200)}`).toBe(true);
      }
    }
  });

  it('answers 401 unauthenticated for a malformed, unknown, tampered or revoked key', async () => {
    const revoked = await keyFor(w.h, 'admin');
    await w.h.custody.apiKeys.revoke(w.h.admin, apiKeyIdOf(revoked));
    const good = w.keys.admin;
    const tampered = good.slice(0, -1) + (good.endsWith('A') ? 'B' : 'A');
    const unknown = `cus_${newId('apiKey').slice(4)}_${'a'.repeat(43)}`;
    for (const authorization of ['', 'Bearer', `Basic ${good}`, `Bearer ${good} extra`, 'Bearer cus_nothing', `Bearer ${tampered}`, `Bearer ${unknown}`, `Bearer ${revoked}`]) {
      for (const route of ['/v1/tokens', '/v1/ledger', '/v1/api-keys']) {
        const r = await w.h.app.inject({ method: 'GET', url: route, headers: { authorization } });
        expect(r.statusCode, `GET ${route} with "${authorization.slice(0, 20)}…"`).toBe(401);
        expect(r.json().error.code).toBe('unauthenticated');
      }
    }
    expect((await w.call('admin', { method: 'GET', url: '/v1/tokens' })).statusCode).toBe(200);
  });

  it('refuses a workload key on every /v1 route with 403 forbidden', async () => {
    const v1 = routes.filter((r) => r.path.startsWith('/v1/') && !(`${r.method} ${r.path}` in SIGNED_ROUTES) && !(entryKey(r.method, r.path)! in SESSION_ROUTES));
    expect(v1.length).toBeGreaterThan(10);
    for (const r of v1) {
      const res = await w.h.app.inject({ method: r.method as HTTPMethods, url: concreteUrl(r.path), headers: bearer(w.keys.workload), payload: r.method === 'GET' || r.method === 'HEAD' ? undefined : {} });
      expect(res.statusCode, `workload ${r.method} ${r.path}`).toBe(403);
      if (r.method !== 'HEAD') expect(res.json().error.code).toBe('forbidden');
    }
  });

  for (const [key, entry] of Object.entries(MATRIX)) {
    const denied = ROLES.filter((r) => !entry.allowed.includes(r));
    const okText = typeof entry.ok === 'number' ? String(entry.ok) : entry.ok.describe;
    it(`${key}: ${entry.allowed.join(', ')} may call it (${okText}); ${denied.join(', ') || 'no role'} get 403 forbidden`, async (ctx) => {
      if (entry.planned && !has(key)) ctx.skip();
      for (const role of ROLES) {
        const req = await entry.request(w, 'own');
        const r = await w.call(role, req);
        const label = `${role} ${req.method} ${req.url} → ${r.statusCode} ${r.body.slice(0, 200)}`;
        if (entry.allowed.includes(role)) {
          if (typeof entry.ok === 'number') expect(r.statusCode, label).toBe(entry.ok);
          else expect(entry.ok.accepts(r.statusCode, errorCode(r)), label).toBe(true);
        } else {
          expect(r.statusCode, label).toBe(403);
          expect(r.json().error.code).toBe('forbidden');
        }
      }
    });

    const tenantBound = entry.allowed.filter((r) => !GLOBAL_ROLES.has(r));
    if (typeof entry.foreign === 'function' && tenantBound.length > 0) {
      const check = entry.foreign;
      it(`${key}: ${tenantBound.join(', ')} of tenant A never reaches or sees tenant B's objects`, async (ctx) => {
        if (entry.planned && !has(key)) ctx.skip();
        for (const role of tenantBound) await check(w, role);
      });
    } else if (typeof entry.foreign === 'function') {
      it(`${key}: the foreign-object check has a tenant-bound role to run as`, () => {
        expect.fail(`${key} has a foreign-object check but no tenant-bound role may call it; declare { global: why } instead`);
      });
    }
  }

  it('lets the global roles read another tenant\'s objects that a tenant_admin cannot', async () => {
    const tokenB = await w.token('B');
    for (const role of ['admin', 'security', 'auditor'] as const) {
      const r = await w.call(role, { method: 'GET', url: `/v1/tokens/${tokenB}` });
      expect(r.statusCode).toBe(200);
      expect(r.json().tenantId).toBe(w.B);
    }
    expect((await w.call('tenant_admin', { method: 'GET', url: `/v1/tokens/${tokenB}` })).statusCode).toBe(404);
  });

  it('lets an auditor read tokens and verify the ledger but refuses it suspend, revoke and bulk revoke with 403', async () => {
    const id = await w.token('A');
    expect((await w.call('auditor', { method: 'GET', url: `/v1/tokens/${id}` })).statusCode).toBe(200);
    expect((await w.call('auditor', { method: 'GET', url: '/v1/ledger/verify' })).json().ok).toBe(true);
    for (const req of [
      { method: 'POST', url: `/v1/tokens/${id}/revoke`, payload: { reason: 'x' } },
      { method: 'POST', url: `/v1/tokens/${id}/suspend`, payload: { reason: 'x' } },
      { method: 'POST', url: '/v1/tokens/revoke', payload: { ids: [id], reason: 'x' } },
    ] satisfies Req[]) {
      const r = await w.call('auditor', req);
      expect(r.statusCode).toBe(403);
      expect(r.json().error.code).toBe('forbidden');
    }
    expect((await w.h.custody.tokens.get(w.h.admin, id)).state).toBe('active');
  });

  it('lets a tenant_admin suspend its own token but not resume it (403); security resumes it', async () => {
    const id = await w.token('A');
    expect((await w.call('tenant_admin', { method: 'POST', url: `/v1/tokens/${id}/suspend`, payload: { reason: 'x' } })).statusCode).toBe(200);
    const refused = await w.call('tenant_admin', { method: 'POST', url: `/v1/tokens/${id}/resume`, payload: { reason: 'x' } });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.code).toBe('forbidden');
    expect((await w.h.custody.tokens.get(w.h.admin, id)).state).toBe('suspended');
    expect((await w.call('security', { method: 'POST', url: `/v1/tokens/${id}/resume`, payload: { reason: 'x' } })).json().state).toBe('active');
  });

  it('confines a tenant_admin\'s bulk revoke to its own tenant, whatever the filter', async () => {
    const h = w.h;
    const A2 = (await h.custody.tenants.create(h.admin, { name: `a2-${rnd()}` })).id;
    const B2 = (await h.custody.tenants.create(h.admin, { name: `b2-${rnd()}` })).id;
    const key = await keyFor(h, 'tenant_admin', A2);
    const mk = async (tenantId: string) =>
      (await h.custody.tokens.register(h.admin, { tenantId, providerId: w.providerId, owner: 'o', scopes: ['s'], accessToken: new Secret(`at-${rnd()}`) })).id;
    const [a1, a2, b1] = [await mk(A2), await mk(A2), await mk(B2)];
    const bulk = (payload: object, k = key) => h.app.inject({ method: 'POST', url: '/v1/tokens/revoke', headers: bearer(k), payload });
    const stateOf = async (id: string) => (await h.custody.tokens.get(h.admin, id)).state;

    const byTenant = await bulk({ tenantId: B2, reason: 'x' });
    expect(byTenant.statusCode).toBe(404);
    expect(byTenant.json().error.code).toBe('tenant_not_found');
    const byIds = await bulk({ ids: [b1], reason: 'x' });
    expect(byIds.statusCode).toBe(200);
    expect(byIds.json()).toMatchObject({ revoked: 0 });
    expect(await stateOf(b1)).toBe('active');

    const byProvider = await bulk({ providerId: w.providerId, reason: 'x' });
    expect(byProvider.json()).toMatchObject({ revoked: 2 });
    expect([await stateOf(a1), await stateOf(a2), await stateOf(b1)]).toEqual(['revoked', 'revoked', 'active']);
    // The same filter from a global role does reach tenant B: the confinement above is the tenant binding, not the filter.
    expect((await bulk({ ids: [b1], reason: 'x' }, w.keys.security)).json()).toMatchObject({ revoked: 1 });
  });

  it('does not let a tenant_admin mint keys, tenants or providers to escape its tenant', async () => {
    for (const req of [
      { method: 'POST', url: '/v1/api-keys', payload: { role: 'tenant_admin', tenantId: w.B, name: 'escape' } },
      { method: 'POST', url: '/v1/api-keys', payload: { role: 'admin', name: 'escape' } },
      { method: 'POST', url: '/v1/tenants', payload: { name: `escape-${rnd()}` } },
    ] satisfies Req[]) {
      const r = await w.call('tenant_admin', req);
      expect(r.statusCode).toBe(403);
      expect(r.json().error.code).toBe('forbidden');
    }
  });
});
