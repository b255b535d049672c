import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import { Client, request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { keyFor } from '../../test/support/harness.ts';
import { createConnectionAuthenticator } from '../http/auth.ts';
import { rawRequest } from '../../test/support/echo-upstream.ts';
import { createGatewayHttp } from './gateway.http.ts';
import { createUsageRepo } from './usage.repo.ts';
import { startGatewayFixture, type GatewayFixture } from '../../test/support/gateway-fixture.ts';
import { eventually } from '../../test/support/wait.ts';

describeEachDatabase('gateway forwarding over HTTP', (kind) => {
  let f: GatewayFixture;

  beforeAll(async () => {
    f = await startGatewayFixture(kind, { env: { CUSTODY_GATEWAY_TIMEOUT_MS: '300', CUSTODY_GATEWAY_BODY_LIMIT_BYTES: '65536' } });
  });
  afterAll(() => f.close());

  /** A query marker of one test's calls, to find exactly those among everything the upstream received. */
  const probe = () => `probe=${randomBytes(4).toString('hex')}`;
  const receivedWith = (marker: string) => f.upstream.received.filter((r) => r.url.includes(marker));

  it('attaches the stored access token, not the caller key, and keeps the path and query', async () => {
    const r = await f.call(f.tokenA, '/invoices/2024/INV-7?status=open&sort=-date', { headers: { cookie: 'custody_session=1', 'x-request-id': 'abc' } });
    expect(r.status).toBe(200);
    const seen = r.json();
    expect(seen.method).toBe('GET');
    expect(seen.url).toBe('/api/invoices/2024/INV-7?status=open&sort=-date');
    expect(seen.headers.authorization).toBe(`Bearer ${f.accessTokenA}`);
    expect(JSON.stringify(seen.headers)).not.toContain(f.keyA);
    expect(seen.headers.cookie).toBeUndefined();
    expect(seen.headers['x-request-id']).toBe('abc');
    expect(seen.headers.host).toBe(`127.0.0.1:${f.upstream.port}`);
    // The query goes upstream byte for byte, not re-encoded.
    const raw = await rawRequest(f.port, `GET /gw/${f.tokenA}/invoices/1?name=O'Brien&tag=%E2%9C%93&empty= HTTP/1.1`, { authorization: `Bearer ${f.keyA}` });
    expect(raw.status).toBe(200);
    expect(JSON.parse(raw.body).url).toBe("/api/invoices/1?name=O'Brien&tag=%E2%9C%93&empty=");
  });

  it('strips upstream Set-Cookie and hop-by-hop headers, passes the others', async () => {
    const r = await f.call(f.tokenA, '/invoices');
    expect(r.status).toBe(200);
    expect(r.headers['set-cookie']).toBeUndefined();
    expect(r.headers['x-hop-response']).toBeUndefined();
    expect(r.headers['x-upstream']).toBe('echo');
    // A client library would drop or rewrite some of these: send them byte for byte.
    const raw = await rawRequest(f.port, `GET /gw/${f.tokenA}/invoices HTTP/1.1`, {
      authorization: `Bearer ${f.keyA}`,
      Connection: 'close, x-hop-request',
      'x-hop-request': 'no',
      te: 'trailers',
      'keep-alive': 'timeout=5',
      'proxy-authorization': 'Basic eA==',
      'x-forwarded-for': '10.0.0.1',
    });
    expect(raw.status).toBe(200);
    const seen = JSON.parse(raw.body) as { headers: Record<string, string | undefined> };
    for (const name of ['x-hop-request', 'proxy-authorization', 'te', 'keep-alive', 'x-forwarded-for']) expect(seen.headers[name]).toBeUndefined();
    expect(raw.raw).not.toMatch(/set-cookie/i);
  });

  it('streams a request body of any content type unparsed, and a large response body back', async () => {
    const payload = randomBytes(60_000);
    const r = await f.call(f.tokenA, '/uploads', { method: 'POST', body: payload, headers: { 'content-type': 'application/x-custom-binary' } });
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({ method: 'POST', bodyBytes: payload.length, bodySha256: createHash('sha256').update(payload).digest('hex') });
    expect(r.json().headers['content-type']).toBe('application/x-custom-binary');

    const chunked = await request(`${f.base}/gw/${f.tokenA}/uploads`, {
      method: 'POST',
      headers: { authorization: `Bearer ${f.keyA}`, 'content-type': 'text/csv' },
      body: Readable.from([Buffer.from('a,b\n'), Buffer.from('1,2\n')]),
    });
    expect(chunked.statusCode).toBe(200);
    expect(((await chunked.body.json()) as { bodyBytes: number }).bodyBytes).toBe(8);

    const big = await request(`${f.base}/gw/${f.tokenA}/bytes?n=${3 * 1024 * 1024}`, { headers: { authorization: `Bearer ${f.keyA}` } });
    expect(big.statusCode).toBe(200);
    expect((await big.body.arrayBuffer()).byteLength).toBe(3 * 1024 * 1024);
  });

  it('refuses a body over the gateway limit with 413 body_too_large, declared or streamed', async () => {
    const declared = await f.call(f.tokenA, '/uploads', { method: 'POST', body: Buffer.alloc(70_000) });
    expect(declared.status).toBe(413);
    expect(declared.json().error.code).toBe('body_too_large');
    const marker = probe();
    const streamed = await request(`${f.base}/gw/${f.tokenA}/uploads?${marker}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${f.keyA}` },
      body: Readable.from(Array.from({ length: 20 }, () => Buffer.alloc(8192))),
    });
    expect(streamed.statusCode).toBe(413);
    expect(((await streamed.body.json()) as { error: { code: string } }).error.code).toBe('body_too_large');
    expect(receivedWith(marker).length).toBeLessThanOrEqual(1);
  });

  it('allows a call whose scope is granted and refuses one whose scope is not with 403 scope_not_granted', async () => {
    const marker = probe();
    expect((await f.call(f.tokenA, `/invoices/1?${marker}`)).status).toBe(200);
    expect(receivedWith(marker)).toHaveLength(1);
    const r = await f.call(f.tokenA, `/invoices?${marker}`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(403);
    expect(r.json().error.code).toBe('scope_not_granted');
    expect(r.json().error.message).toContain('invoices.write');
    const customers = await f.call(f.tokenA, `/customers/42?${marker}`, { method: 'DELETE' });
    expect(customers.status).toBe(403);
    expect(customers.json().error.code).toBe('scope_not_granted');
    expect(receivedWith(marker)).toHaveLength(1);
  });

  it('refuses unmapped calls for a deny provider, and forwards them (recorded as unmapped) for an allow provider', async () => {
    const denied = await f.call(f.tokenA, '/reports/daily');
    expect(denied.status).toBe(403);
    expect(denied.json().error.code).toBe('unmapped_call_refused');

    const lenient = await f.createProvider({ unmappedCalls: 'allow' });
    const token = await f.createToken(lenient);
    const allowed = await f.call(token, '/reports/daily/2024-01-02');
    expect(allowed.status).toBe(200);
    await f.h.custody.gateway.flushUsage();
    const events = await createUsageRepo().listForToken(f.h.custody.storage.db, token);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ outcome: 'forwarded', unmapped: true, scope: null, pathTemplate: '/*/*/*', status: 200 });
  });

  it("refuses another tenant's token with 404 token_not_found, exactly like a missing one", async () => {
    const other = await f.call(f.tokenB, '/invoices');
    const missing = await f.call('tok_01ARZ3NDEKTSV4RRFFQ69G5FAV', '/invoices');
    const malformed = await f.call('not-a-token', '/invoices');
    for (const r of [other, missing, malformed]) {
      expect(r.status).toBe(404);
      expect(r.json().error.code).toBe('token_not_found');
    }
    expect(other.json().error.message).toBe(missing.json().error.message);
  });

  it('refuses a workload the token does not list with 403 workload_not_allowed', async () => {
    const r = await f.call(f.tokenA, '/invoices', { key: f.keyOtherWorkload });
    expect(r.status).toBe(403);
    expect(r.json().error.code).toBe('workload_not_allowed');
  });

  it('refuses callers without a workload key: 401 unauthenticated, 403 forbidden for an admin key', async () => {
    const none = await request(`${f.base}/gw/${f.tokenA}/invoices`);
    expect(none.statusCode).toBe(401);
    expect(((await none.body.json()) as { error: { code: string } }).error.code).toBe('unauthenticated');
    const admin = await f.call(f.tokenA, '/invoices', { key: f.adminKey });
    expect(admin.status).toBe(403);
    expect(admin.json().error.code).toBe('forbidden');
  });

  it('on one keep-alive connection: a revoked key is refused at the next call, and every other key is checked in full', async () => {
    const key = await keyFor(f.h, 'workload', f.tenantA, 'billing-sync');
    const keyId = `key_${key.split('_')[1]}`;
    // One connection for every call below: what the gateway remembers of it is what is tested.
    const client = new Client(f.base, { pipelining: 1 });
    const call = async (authorization: string) => {
      const r = await client.request({ path: `/gw/${f.tokenA}/invoices`, method: 'GET', headers: { authorization } });
      const body = (await r.body.json()) as { error?: { code: string } };
      return { status: r.statusCode, code: body.error?.code };
    };
    try {
      expect(await call(`Bearer ${key}`)).toEqual({ status: 200, code: undefined });
      expect(await call(`Bearer ${key}`)).toEqual({ status: 200, code: undefined });
      // The same key with one character of its secret changed, and the same length: refused.
      const last = key.at(-1) === 'A' ? 'B' : 'A';
      expect(await call(`Bearer ${key.slice(0, -1)}${last}`)).toEqual({ status: 401, code: 'unauthenticated' });
      expect(await call(`Bearer ${key}x`)).toEqual({ status: 401, code: 'unauthenticated' });
      // Another right key, then the first again, on the same connection.
      expect(await call(`Bearer ${f.keyA}`)).toEqual({ status: 200, code: undefined });
      expect(await call(`Bearer ${f.adminKey}`)).toEqual({ status: 403, code: 'forbidden' });
      expect(await call(`Bearer ${key}`)).toEqual({ status: 200, code: undefined });
      const revoked = await f.h.app.inject({ method: 'DELETE', url: `/v1/api-keys/${keyId}`, headers: { authorization: `Bearer ${f.adminKey}` } });
      expect(revoked.statusCode).toBe(200);
      expect(await call(`Bearer ${key}`)).toEqual({ status: 401, code: 'unauthenticated' });
      expect(await call(`Bearer ${f.keyA}`)).toEqual({ status: 200, code: undefined });
    } finally {
      await client.close();
    }
  });

  it('denies the very next call after a revoke, and after a suspend until resumed', async () => {
    const token = await f.createToken(f.providerId);
    expect((await f.call(token, '/invoices')).status).toBe(200);
    const suspend = await f.h.app.inject({ method: 'POST', url: `/v1/tokens/${token}/suspend`, headers: { authorization: `Bearer ${f.adminKey}` }, payload: { reason: 'investigation' } });
    expect(suspend.statusCode).toBe(200);
    const suspended = await f.call(token, '/invoices');
    expect(suspended.status).toBe(403);
    expect(suspended.json().error.code).toBe('token_suspended');
    await f.h.app.inject({ method: 'POST', url: `/v1/tokens/${token}/resume`, headers: { authorization: `Bearer ${f.adminKey}` }, payload: { reason: 'cleared' } });
    expect((await f.call(token, '/invoices')).status).toBe(200);

    const revoke = await f.h.app.inject({ method: 'POST', url: `/v1/tokens/${token}/revoke`, headers: { authorization: `Bearer ${f.adminKey}` }, payload: { reason: 'offboarded' } });
    expect(revoke.statusCode).toBe(200);
    const after = await f.call(token, '/invoices');
    expect(after.status).toBe(403);
    expect(after.json().error.code).toBe('token_revoked');
  });

  it('denies a workload at once when PATCH removes it from the token (no wait for the re-check)', async () => {
    const token = await f.createToken(f.providerId);
    expect((await f.call(token, '/invoices')).status).toBe(200);
    const patch = await f.h.app.inject({ method: 'PATCH', url: `/v1/tokens/${token}`, headers: { authorization: `Bearer ${f.adminKey}` }, payload: { workloads: ['someone-else'] } });
    expect(patch.statusCode).toBe(200);
    const after = await f.call(token, '/invoices');
    expect(after.status).toBe(403);
    expect(after.json().error.code).toBe('workload_not_allowed');
  });

  it('denies calls racing a revoke once the revoke has returned', async () => {
    const token = await f.createToken(f.providerId);
    const inflight = Array.from({ length: 20 }, () => f.call(token, '/invoices'));
    await f.h.custody.tokens.transition(f.h.admin, token, 'revoke', 'race');
    const after = await Promise.all(Array.from({ length: 5 }, () => f.call(token, '/invoices')));
    await Promise.all(inflight);
    for (const r of after) expect(r.json().error.code).toBe('token_revoked');
  });

  it('answers 504 upstream_timeout when the provider is too slow', async () => {
    const r = await f.call(f.tokenA, '/slow?ms=2000');
    expect(r.status).toBe(504);
    expect(r.json().error.code).toBe('upstream_timeout');
  });

  it('stops the provider call when the caller leaves while waiting, and records the call as failed', async () => {
    const token = await f.createToken(f.providerId);
    const gone = new AbortController();
    const slow = `/slow?ms=250&probe=${randomBytes(4).toString('hex')}`;
    const pending = request(`${f.base}/gw/${token}${slow}`, { headers: { authorization: `Bearer ${f.keyA}` }, signal: gone.signal });
    // Leave once the call is waiting on the provider: it has reached the provider, which answers only after 250 ms.
    await eventually(() => f.upstream.received.some((r) => r.url === `/api${slow}`), { what: 'the slow call to reach the provider', timeoutMs: 3_000, intervalMs: 10 });
    gone.abort();
    await expect(pending).rejects.toThrow();
    await eventually(() => f.upstream.cutOff.includes(`/api${slow}`), { what: 'the provider call to be cut off', timeoutMs: 3_000, intervalMs: 10 });
    await f.h.custody.gateway.flushUsage();
    const events = await createUsageRepo().listForToken(f.h.custody.storage.db, token);
    expect(events.map((e) => [e.outcome, e.errorCode])).toEqual([['failed', 'upstream_unavailable']]);
  });

  it('holds the provider back while the caller reads slowly, and stops it when the caller leaves mid-body', async () => {
    const token = await f.createToken(f.providerId);
    const size = 64 * 1024 * 1024;
    // A connection of its own, destroyed at the end: nothing of it is left to the next test or to
    // the server's shutdown (left to the shared pool, it could hold the shutdown when run last).
    const client = new Client(f.base);
    try {
      const r = await client.request({ path: `/gw/${token}/bytes?n=${size}`, method: 'GET', headers: { authorization: `Bearer ${f.keyA}` } });
      expect(r.statusCode).toBe(200);
      // Read one chunk, then stall: were the gateway buffering instead of pausing the provider, the
      // provider would finish sending all 64 MiB into it.
      const reader = r.body[Symbol.asyncIterator]();
      await reader.next();
      // Not a wait: the caller staying stalled for a while is the behaviour under test.
      await new Promise((resolve) => setTimeout(resolve, 800));
      expect(f.upstream.cutOff).not.toContain(`/api/bytes?n=${size}`);
      r.body.destroy();
      await eventually(() => f.upstream.cutOff.includes(`/api/bytes?n=${size}`), { what: 'the provider response to be cut off', timeoutMs: 3_000, intervalMs: 10 });
      await f.h.custody.gateway.flushUsage();
      const events = await createUsageRepo().listForToken(f.h.custody.storage.db, token);
      expect(events.map((e) => [e.outcome, e.status, e.errorCode])).toEqual([['failed', 200, 'upstream_unavailable']]);
    } finally {
      await client.destroy();
    }
  });

  it('records usage events in batches and moves lastUsedAt, lastUsedBy and per-scope last use', async () => {
    const token = await f.createToken(f.providerId, { scopes: ['invoices.read', 'customers.read'] });
    const before = Date.now();
    expect((await f.call(token, '/invoices/9?x=1')).status).toBe(200);
    expect((await f.call(token, '/invoices', { method: 'POST', body: '{}' })).status).toBe(403);
    expect((await f.call(token, '/customers/c-77')).status).toBe(200);
    await f.h.custody.gateway.flushUsage();

    const events = await createUsageRepo().listForToken(f.h.custody.storage.db, token);
    expect(events.map((e) => [e.method, e.pathTemplate, e.scope, e.outcome, e.status, e.errorCode])).toEqual([
      ['GET', '/invoices/**', 'invoices.read', 'forwarded', 200, null],
      ['POST', '/invoices', 'invoices.write', 'denied', 403, 'scope_not_granted'],
      ['GET', '/customers/{id}', 'customers.read', 'forwarded', 200, null],
    ]);
    for (const e of events) {
      expect(e).toMatchObject({ tenantId: f.tenantA, workload: 'billing-sync', host: `127.0.0.1:${f.upstream.port}`, sourceAddress: '127.0.0.1' });
      expect(e.latencyMs).toBeGreaterThan(0);
    }
    const record = await f.h.custody.tokens.get(f.h.admin, token);
    expect(record.lastUsedBy).toBe('billing-sync');
    expect(Date.parse(record.lastUsedAt!)).toBeGreaterThanOrEqual(before - 1000);
    const usage = Object.fromEntries(record.scopeUsage.map((u) => [u.scope, u.lastUsedAt]));
    expect(usage['invoices.read']).not.toBeNull();
    expect(usage['customers.read']).toBe(record.lastUsedAt);

    // First use of the day is in the ledger once, however many calls and batches follow.
    expect((await f.call(token, '/invoices/10')).status).toBe(200);
    await f.h.custody.gateway.flushUsage();
    const ledger = await f.h.custody.ledger.list({ subjectId: token, action: 'token.used', order: 'asc', limit: 10 });
    expect(ledger).toHaveLength(1);
    expect(ledger[0]!.data).toMatchObject({ workload: 'billing-sync', day: new Date().toISOString().slice(0, 10) });
    expect(JSON.stringify(ledger)).not.toMatch(/at-[0-9a-f]{16}/);
  });

  it('records denials, including those for tokens of other tenants (against the caller tenant only)', async () => {
    const foreign = await f.createToken(f.providerId, { tenantId: f.tenantB });
    expect((await f.call(foreign, '/invoices')).status).toBe(404);
    await f.h.custody.gateway.flushUsage();
    const events = await createUsageRepo().listForToken(f.h.custody.storage.db, foreign);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ outcome: 'denied', errorCode: 'token_not_found', status: 404, tenantId: f.tenantA });
  });

  it('answers the same over the direct path and through the Fastify route (inject), and counts both in /metrics', async () => {
    const notFoundCount = async () => {
      const metrics = await f.h.app.inject({ method: 'GET', url: '/metrics' });
      return Number(/custody_http_requests_total\{method="GET",route="\/gw\/:tokenId\/\*",status="404"\} (\d+)/.exec(metrics.body)?.[1] ?? 0);
    };
    const countedBefore = await notFoundCount();
    const missing = `tok_${'0'.repeat(26)}`;
    const direct = await f.call(missing, '/invoices', { headers: { 'x-request-id': 'r' } });
    const injected = await f.h.app.inject({ method: 'GET', url: `/gw/${missing}/invoices`, headers: { authorization: `Bearer ${f.keyA}` } });
    expect(direct.status).toBe(404);
    expect(injected.statusCode).toBe(404);
    const strip = (body: { error: { requestId: string } }) => ({ ...body.error, requestId: body.error.requestId.replace(/\d|[a-z]/g, '') });
    expect(strip(direct.json())).toEqual(strip(injected.json()));
    expect(direct.headers['content-type']).toBe('application/json; charset=utf-8');
    // Without a key: the same 401 either way.
    const anonymous = await request(`${f.base}/gw/${f.tokenA}/invoices`);
    expect(anonymous.statusCode).toBe(401);
    expect(((await anonymous.body.json()) as { error: { code: string } }).error.code).toBe('unauthenticated');

    expect(await notFoundCount()).toBe(countedBefore + 2);
  });

  it('counts every call on the direct path exactly once in /metrics: forwarded, refused by the gateway, refused before it, left by its caller', async () => {
    const observed: { method: string; route: string; status: number }[] = [];
    const gatewayHttp = createGatewayHttp({
      gateway: f.h.custody.gateway,
      authenticate: createConnectionAuthenticator(f.h.custody.apiKeys, 'gateway.use'),
      observe: (method, route, status) => observed.push({ method, route, status }),
      logger: f.h.custody.logger,
    });
    const server = http.createServer((req, res) => gatewayHttp.handle(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      const statuses: number[] = [];
      for (const [path, key] of [
        ['/invoices', f.keyA],
        ['/invoices', f.keyOtherWorkload],
        ['/invoices', undefined],
        ['/admin/delete-everything', f.keyA],
      ] as const) {
        const r = await request(`${base}/gw/${f.tokenA}${path}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
        await r.body.dump();
        statuses.push(r.statusCode);
      }
      expect(statuses).toEqual([200, 403, 401, 403]);
      await eventually(() => observed.length >= 4, { what: 'four counted calls', timeoutMs: 3_000, intervalMs: 10 });
      // A caller that leaves before the provider answers: its response closes before the gateway
      // refuses the call, and it is counted all the same.
      const gone = new AbortController();
      const slow = `/slow?ms=250&probe=${randomBytes(4).toString('hex')}`;
      const slowToken = await f.createToken(f.providerId);
      const pending = request(`${base}/gw/${slowToken}${slow}`, { headers: { authorization: `Bearer ${f.keyA}` }, signal: gone.signal });
      await eventually(() => f.upstream.received.some((r) => r.url === `/api${slow}`), { what: 'the slow call to reach the provider', timeoutMs: 3_000, intervalMs: 10 });
      gone.abort();
      await pending.catch(() => {});
      await eventually(() => observed.length >= 5, { what: 'the abandoned call to be counted', timeoutMs: 3_000, intervalMs: 10 });
      // The gateway is done with the abandoned call once it has recorded it (it records, then
      // counts): a second count would have come by then.
      await eventually(
        async () => {
          await f.h.custody.gateway.flushUsage();
          return (await createUsageRepo().listForToken(f.h.custody.storage.db, slowToken)).length > 0;
        },
        { what: 'the abandoned call to be recorded', timeoutMs: 3_000 },
      );
      expect(observed.slice(0, 4)).toEqual(statuses.map((status) => ({ method: 'GET', route: '/gw/:tokenId/*', status })));
      expect(observed).toHaveLength(5);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('answers 503 shutting_down to calls that arrive while the server drains', async () => {
    const gatewayHttp = createGatewayHttp({
      gateway: f.h.custody.gateway,
      authenticate: async () => {
        throw new Error('not reached: draining answers first');
      },
      observe: () => {},
      logger: f.h.custody.logger,
    });
    gatewayHttp.close();
    const server = http.createServer((req, res) => gatewayHttp.handle(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as { port: number }).port;
      const r = await request(`http://127.0.0.1:${port}/gw/${f.tokenA}/invoices`, { headers: { authorization: `Bearer ${f.keyA}` } });
      expect(r.statusCode).toBe(503);
      expect(r.headers.connection).toBe('close');
      expect(((await r.body.json()) as { error: { code: string } }).error.code).toBe('shutting_down');
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('never writes the access token or the caller key into logs', async () => {
    // Calls of its own (forwarded, refused, timed out, with a tampered key, failed upstream), so
    // the logs hold what they wrote whatever ran before.
    expect((await f.call(f.tokenA, '/invoices/1')).status).toBe(200);
    expect((await f.call(f.tokenA, '/invoices', { method: 'POST', body: '{}' })).status).toBe(403);
    expect((await f.call(f.tokenA, '/slow?ms=2000')).status).toBe(504);
    expect((await f.call(f.tokenA, '/invoices', { key: `${f.keyA}x` })).status).toBe(401);
    const unreachableAccessToken = `at-unreachable-${randomBytes(8).toString('hex')}`;
    const unreachable = await f.createToken(await f.createProvider({ apiBaseUrls: ['http://127.0.0.1:9/api'] }), { accessToken: unreachableAccessToken });
    expect((await f.call(unreachable, '/invoices/1')).status).toBe(502);
    const logs = f.h.logs.join('\n');
    // The failed call is logged (with its token id): the searches below look at real lines.
    expect(logs).toContain(unreachable);
    expect(logs).not.toContain(f.accessTokenA);
    expect(logs).not.toContain(unreachableAccessToken);
    // The key's secret part may itself contain '_': take everything after the id.
    expect(logs).not.toContain(/^cus_[0-9A-Z]{26}_(.+)$/.exec(f.keyA)![1]!);
  });
});
