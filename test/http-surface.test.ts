import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Secret } from '../src/shared/secret.ts';
import { describeEachDatabase } from './support/databases.ts';
import { bearer, keyFor, seed, startHarness, type Harness, type Seeded } from './support/harness.ts';
import { eventually } from './support/wait.ts';

/** The surface around the routes: readiness, the API reference, the document's roles and codes, and messages people can act on. */
describeEachDatabase('the HTTP surface', (kind) => {
  let h: Harness;
  let s: Seeded;
  let admin: string;

  beforeAll(async () => {
    h = await startHarness(kind);
    s = await seed(h);
    admin = await keyFor(h, 'admin');
  });
  afterAll(() => h?.close());

  it('answers /readyz 200 when the database answers and its migrations are current, 503 naming the pending ones otherwise', async () => {
    const r = await h.app.inject({ url: '/readyz' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ ready: true, database: 'ok', migrations: 'current' });
    // A schema behind the code (a migration row missing): not ready, and it says which.
    await h.custody.storage.db.deleteFrom('kysely_migration' as never).where('name' as never, '=', '007-connect-links' as never).execute();
    try {
      // A readiness answer is reused for a second (a flood of probes costs one query a second).
      const behind = await eventually(async () => {
        const r = await h.app.inject({ url: '/readyz' });
        return r.statusCode === 503 && r;
      }, { what: 'readiness to notice the pending migration' });
      expect(behind.json()).toEqual({ ready: false, database: 'ok', migrations: 'pending', pending: ['007-connect-links'] });
    } finally {
      await h.custody.storage.db
        .insertInto('kysely_migration' as never)
        .values({ name: '007-connect-links', timestamp: new Date().toISOString() } as never)
        .execute();
    }
  });

  it('serves the API reference (Swagger UI) from the package: no script or style from another origin', async () => {
    const page = await h.app.inject({ url: '/docs' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('swagger-ui');
    expect(page.body).not.toMatch(/(src|href)="(https?:)?\/\//);
    const bundle = await h.app.inject({ url: '/docs/static/swagger-ui-bundle.js' });
    expect(bundle.statusCode).toBe(200);
    // And the browser is told to load nothing from another origin.
    const csp = String(bundle.headers['content-security-policy']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).not.toMatch(/https:|validator\.swagger\.io/);
  });

  it('documents, for every operation, the roles that may call it and the error codes it answers with', async () => {
    const doc = (await h.app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, Record<string, { 'x-custody-roles'?: string[]; description?: string; responses: Record<string, { description: string }> }>> };
    const get = doc.paths['/v1/tokens/{id}']!.get!;
    expect(get['x-custody-roles']).toEqual(['admin', 'security', 'auditor', 'tenant_admin']);
    expect(get.description).toContain('Roles: admin, security, auditor, tenant_admin');
    expect(get.responses['404']!.description).toContain('`token_not_found`');
    expect(get.responses['401']!.description).toContain('`unauthenticated`');
    const resume = doc.paths['/v1/tokens/{id}/resume']!.post!;
    expect(resume['x-custody-roles']).toEqual(['admin', 'security']);
    expect(resume.responses['409']!.description).toContain('`illegal_transition`');
    const patchProvider = doc.paths['/v1/providers/{id}']!.patch!;
    expect(patchProvider['x-custody-roles']).toEqual(['admin']);
    // Every operation of the contract says who may call it.
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (path.startsWith('/gw/')) continue;
        expect(op['x-custody-roles'], `${method.toUpperCase()} ${path}`).toBeDefined();
      }
    }
  });

  it('names the allowed values in validation messages, not the validator’s wording', async () => {
    const state = await h.app.inject({ url: '/v1/tokens?state=gone', headers: bearer(admin) });
    expect(state.statusCode).toBe(400);
    expect(state.json().error.message).toBe('The request is not valid: querystring/state must be one of active, suspended, expired, revoked');
    const tenant = await h.app.inject({ url: '/v1/tokens?tenantId=acme', headers: bearer(admin) });
    expect(tenant.json().error.message).toContain('must be an id like ten_01J…');
    const when = await h.app.inject({ method: 'PATCH', url: `/v1/tokens/${s.tokenA}`, headers: bearer(admin), payload: { reviewDueAt: 'next tuesday' } });
    expect(when.json().error.details).toEqual([{ path: 'body/reviewDueAt', message: 'must be an ISO 8601 time such as 2026-11-28T09:00:00Z (or null to clear it)' }]);
    const empty = await h.app.inject({ method: 'POST', url: `/v1/tokens/${s.tokenA}/suspend`, headers: bearer(admin), payload: { reason: '' } });
    expect(empty.json().error.details).toEqual([{ path: 'body/reason', message: 'must not be empty' }]);
  });

  it('answers a body of 120,000 wrong items briefly, without looking at them, and 4,000 with the first twenty problems', async () => {
    const huge = `{"ids":[${'1,'.repeat(119_999)}1],"reason":"x"}`;
    expect(huge.length).toBeLessThan(262_144);
    const r = await h.app.inject({ method: 'POST', url: '/v1/tokens/revoke', headers: { ...bearer(admin), 'content-type': 'application/json' }, payload: huge });
    expect(r.statusCode).toBe(400);
    expect(r.body.length).toBeLessThan(2_000);
    expect(r.json().error.details).toEqual([{ path: 'body/ids', message: 'must have at most 5000 items (got 120000)' }]);
    const many = await h.app.inject({ method: 'POST', url: '/v1/tokens/revoke', headers: bearer(admin), payload: { ids: Array.from({ length: 4_000 }, (_, i) => `x${i}`), reason: 'x' } });
    expect(many.statusCode).toBe(400);
    expect(many.json().error.details).toHaveLength(20);
    expect(many.json().error.message).toMatch(/\(and \d+ more problems\)$/);
    expect(many.body.length).toBeLessThan(10_000);
  });

  it('keeps /metrics gauges current from this instance’s own changes, without querying per scrape', async () => {
    const gauge = async (state: string) => Number(new RegExp(`custody_tokens\\{state="${state}"\\} (-?\\d+)`).exec((await h.app.inject({ url: '/metrics' })).body)?.[1] ?? 0);
    const metrics = async () => (await h.app.inject({ url: '/metrics' })).body;
    // Every state has a series, 0 included.
    for (const state of ['active', 'suspended', 'expired', 'revoked']) expect(await metrics()).toMatch(new RegExp(`custody_tokens\\{state="${state}"\\} \\d+`));
    const start = await gauge('active');
    // A new record counts at once (it used to wait for the next read, and a change of it made the gauge go below zero).
    const t = await h.custody.tokens.register(h.admin, { tenantId: s.tenantA, providerId: s.providerId, owner: 'o', scopes: [], accessToken: new Secret(`at-${Math.random()}`) });
    expect(await gauge('active')).toBe(start + 1);
    const before = { active: await gauge('active'), suspended: await gauge('suspended'), revoked: await gauge('revoked') };
    await h.custody.tokens.transition(h.admin, t.id, 'suspend', 'x');
    expect({ active: await gauge('active'), suspended: await gauge('suspended') }).toEqual({ active: before.active - 1, suspended: before.suspended + 1 });
    await h.custody.tokens.transition(h.admin, t.id, 'revoke', 'x');
    expect({ suspended: await gauge('suspended'), revoked: await gauge('revoked') }).toEqual({ suspended: before.suspended, revoked: before.revoked + 1 });
    // What the inventory says, exactly.
    const counts = await h.custody.tokens.countByState();
    for (const c of counts) expect(await gauge(c.state)).toBe(c.count);
  });

  it('refuses unknown query fields on /v1/ledger/verify, and on routes that take no query at all', async () => {
    const r = await h.app.inject({ url: '/v1/ledger/verify?fast=true', headers: bearer(admin) });
    expect(r.statusCode).toBe(400);
    expect(r.json().error).toMatchObject({ code: 'validation_failed', message: expect.stringContaining('unknown field "fast"') });
    const patch = await h.app.inject({ method: 'PATCH', url: `/v1/tokens/${s.tokenA}?owner=mallory`, headers: bearer(admin), payload: { purpose: 'x' } });
    expect(patch.json().error.message).toContain('unknown field "owner"');
  });

  it('keeps a consent link’s code out of the log, whatever is appended to its path', async () => {
    const code = 'Zq9'.repeat(14) + 'Z';
    for (const url of [`/connect/${code}`, `/connect/${code}/x`, `/connect/${code}?a=1`]) await h.app.inject({ url });
    await h.app.inject({ method: 'DELETE', url: `/connect/${code}` });
    expect(h.logs.join('')).not.toContain(code);
    expect(h.logs.join('')).toContain('/connect/[redacted]');
  });

  it('answers a body over the limit with 413 that a client still sending can read (the rest is drained, up to a bound)', async () => {
    await h.app.listen({ host: '127.0.0.1', port: 0 }).catch(() => undefined);
    const { port } = h.app.server.address() as AddressInfo;
    const answer = await new Promise<string>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/v1/tenants', method: 'POST', headers: { ...bearer(admin), 'content-type': 'application/json', 'content-length': String(3 * 1024 * 1024) } }, (res) => {
        let b = '';
        res.on('data', (d) => (b += d));
        res.on('end', () => resolve(`${res.statusCode} ${JSON.parse(b).error.code}`));
      });
      req.on('error', (err) => resolve(`error ${(err as NodeJS.ErrnoException).code}`));
      const chunk = Buffer.alloc(64 * 1024, 32);
      let sent = 0;
      const pump = () => {
        while (sent < 3 * 1024 * 1024) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    expect(answer).toBe('413 body_too_large');
  });

  it('answers oversize headers in the coded error shape, and closes the connection', async () => {
    await h.app.listen({ host: '127.0.0.1', port: 0 }).catch(() => undefined);
    const { port } = h.app.server.address() as AddressInfo;
    const r = await fetch(`http://127.0.0.1:${port}/v1/tenants`, { headers: { 'x-filler': 'a'.repeat(40_000) } });
    expect(r.status).toBe(431);
    expect(await r.json()).toMatchObject({ error: { code: 'headers_too_large', message: expect.any(String) } });
  });

  it('shows a revoked token as holding no privilege, and leaves it out of both managed filters', async () => {
    await h.custody.tokens.transition(h.admin, s.tokenB, 'revoke', 'test');
    const t = (await h.app.inject({ url: `/v1/tokens/${s.tokenB}`, headers: bearer(admin) })).json();
    expect(t).toMatchObject({ state: 'revoked', managed: null, managedReasons: [] });
    for (const managed of ['true', 'false']) {
      const ids = (await h.app.inject({ url: `/v1/tokens?tenantId=${s.tenantB}&managed=${managed}`, headers: bearer(admin) })).json().items.map((i: { id: string }) => i.id);
      expect(ids).not.toContain(s.tokenB);
    }
  });
});
