import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { startGatewayFixture, type GatewayFixture } from '../../test/support/gateway-fixture.ts';
import { keyFor } from '../../test/support/harness.ts';
import { eventually } from '../../test/support/wait.ts';

/**
 * One tenant's stalled or slow callers must not hold the gateway for another (DESIGN §7). The
 * pool has 8 connections per provider origin; a tenant may hold 4 of them. Tenant A's callers send
 * their headers and then stall their bodies, or stop reading a large response; tenant B calls the
 * same provider meanwhile. On both databases: a token read from PostgreSQL takes the caller's
 * leaving past an await (the share-leak test).
 */
const IDLE_MS = 1_500;
const DEADLINE_MS = 3_000;

/** A raw HTTP exchange on its own socket, so a test can stall at any byte. */
interface RawCall {
  socket: net.Socket;
  /** Everything received so far. */
  received(): string;
  /** The status of the answer, once its status line has arrived. */
  status(): number | null;
  closed(): boolean;
}

function rawCall(port: number, head: string, bodyPart = ''): Promise<RawCall> {
  return new Promise((resolve, reject) => {
    let data = '';
    let closed = false;
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(head + bodyPart);
      resolve({
        socket,
        received: () => data,
        status: () => {
          const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
          return m ? Number(m[1]) : null;
        },
        closed: () => closed,
      });
    });
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('close', () => (closed = true));
    socket.on('error', () => {});
    socket.once('error', reject);
  });
}

describeEachDatabase('gateway isolation between tenants', (kind) => {
  let f: GatewayFixture;
  let origin: string;
  const open: net.Socket[] = [];

  beforeAll(async () => {
    f = await startGatewayFixture(kind, {
      env: {
        CUSTODY_GATEWAY_CONNECTIONS_PER_ORIGIN: '8',
        CUSTODY_GATEWAY_MAX_CALLS_PER_TENANT: '4',
        CUSTODY_GATEWAY_MAX_CALLS_PER_WORKLOAD: '4',
        CUSTODY_GATEWAY_IDLE_TIMEOUT_MS: String(IDLE_MS),
        CUSTODY_GATEWAY_CALL_DEADLINE_MS: String(DEADLINE_MS),
        CUSTODY_GATEWAY_TIMEOUT_MS: '30000',
      },
    });
    origin = f.upstream.origin;
  });
  afterAll(async () => {
    for (const s of open) s.destroy();
    await f?.close();
  });

  const stalledUpload = async (): Promise<RawCall> => {
    const head = `POST /gw/${f.tokenA}/uploads HTTP/1.1\r\nHost: custody\r\nAuthorization: Bearer ${f.keyA}\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n`;
    const c = await rawCall(f.port, head, 'x'.repeat(100));
    open.push(c.socket);
    return c;
  };

  it("more stalled callers of tenant A than the pool has connections: A gets 429 past its share, B's calls are answered at once", async () => {
    const stalled = await Promise.all(Array.from({ length: 10 }, stalledUpload));
    // Four reach the provider and stall there; the other six are refused for the tenant's share.
    await eventually(() => stalled.filter((c) => c.status() === 429).length === 6, { what: 'six 429 answers' });
    expect(f.h.custody.gateway.inFlight(origin)).toBe(4);
    const refused = stalled.find((c) => c.status() === 429)!;
    expect(refused.received()).toMatch(/retry-after: 1/i);
    expect(refused.received()).toContain('"code":"concurrency_limited"');

    // Tenant B, same provider, same moment: answered while A's four still hold their connections.
    for (let i = 0; i < 5; i++) {
      const r = await f.call(f.tokenB, `/invoices/${i}`, { key: f.keyB });
      expect(r.status).toBe(200);
    }
    const holding = stalled.filter((c) => c.status() === null);
    expect(holding).toHaveLength(4);

    // The stalled bodies are cut after the idle timeout: 408, and the connections come back.
    await eventually(() => holding.every((c) => c.status() === 408), { what: 'the stalled bodies to be cut', timeoutMs: IDLE_MS * 3 });
    expect(holding[0]!.received()).toContain('"code":"request_timeout"');
    expect(holding[0]!.received()).toMatch(/connection: close/i);
    await eventually(() => f.h.custody.gateway.inFlight(origin) === 0, { what: 'every share to be given back' });
    // A's share is free again.
    expect((await f.call(f.tokenA, '/invoices/1')).status).toBe(200);
  });

  it('a caller that stops reading a large response is cut after the idle timeout; its connection is given back', async () => {
    const head = `GET /gw/${f.tokenA}/bytes?n=${512 * 1024 * 1024} HTTP/1.1\r\nHost: custody\r\nAuthorization: Bearer ${f.keyA}\r\n\r\n`;
    const c = await rawCall(f.port, head);
    open.push(c.socket);
    await eventually(() => c.status() === 200, { what: 'the response to begin' });
    c.socket.pause(); // stops reading: the socket's buffers fill, and the gateway pauses the provider
    // Meanwhile, tenant B is served.
    expect((await f.call(f.tokenB, '/invoices/1', { key: f.keyB })).status).toBe(200);
    await eventually(() => f.upstream.cutOff.some((u) => u.startsWith('/api/bytes')), { what: 'the provider response to be cut', timeoutMs: IDLE_MS * 4 });
    await eventually(() => f.h.custody.gateway.inFlight(origin) === 0, { what: 'the share to be given back' });
    c.socket.resume();
    await eventually(() => c.closed(), { what: 'the caller connection to be closed' });
  });

  it("no call outlives the deadline, even one whose provider is still working on it", async () => {
    const r = await f.call(f.tokenA, `/slow?ms=${DEADLINE_MS * 3}`);
    expect(r.status).toBe(504);
    expect(r.json().error.code).toBe('upstream_timeout');
    expect(r.json().error.message).toContain(`deadline of ${DEADLINE_MS} ms`);
    await eventually(() => f.h.custody.gateway.inFlight(origin) === 0, { what: 'the share to be given back' });
  });

  it('cuts a body that trickles in just often enough never to idle (the minimum rate), long before the deadline', async () => {
    const head = `POST /gw/${f.tokenA}/uploads HTTP/1.1\r\nHost: custody\r\nAuthorization: Bearer ${f.keyA}\r\nContent-Length: 100000\r\n\r\n`;
    const c = await rawCall(f.port, head, 'x');
    open.push(c.socket);
    const drip = setInterval(() => c.socket.write('x'), IDLE_MS / 5);
    try {
      await eventually(() => c.status() === 408, { what: 'the trickle to be cut', timeoutMs: DEADLINE_MS });
    } finally {
      clearInterval(drip);
    }
    expect(c.received()).toContain('slower than 1024 bytes a second');
    await eventually(() => f.h.custody.gateway.inFlight(origin) === 0, { what: 'the share to be given back' });
  });

  it("answers 503 at once when other tenants hold every connection of the provider's host, instead of queueing the call", async () => {
    const tenantC = (await f.h.custody.tenants.create(f.h.admin, { name: `third-${Date.now()}` })).id;
    const tokenC = await f.createToken(f.providerId, { tenantId: tenantC });
    const keyC = await keyFor(f.h, 'workload', tenantC, 'billing-sync');
    const stalledAs = async (token: string, key: string) => {
      const c = await rawCall(f.port, `POST /gw/${token}/uploads HTTP/1.1\r\nHost: custody\r\nAuthorization: Bearer ${key}\r\nContent-Length: 100000\r\n\r\n`, 'x'.repeat(100));
      open.push(c.socket);
      return c;
    };
    const held = [...(await Promise.all([0, 1, 2, 3].map(() => stalledAs(f.tokenA, f.keyA)))), ...(await Promise.all([0, 1, 2, 3].map(() => stalledAs(f.tokenB, f.keyB))))];
    await eventually(() => f.h.custody.gateway.inFlight(origin) === 8, { what: 'the pool to fill' });
    const r = await f.call(tokenC, '/invoices/1', { key: keyC });
    expect(r.status).toBe(503);
    expect(r.json().error.code).toBe('gateway_overloaded');
    expect(r.headers['retry-after']).toBe('1');
    for (const c of held) c.socket.destroy();
    await eventually(() => f.h.custody.gateway.inFlight(origin) === 0, { what: 'the pool to empty' });
    expect((await f.call(tokenC, '/invoices/1', { key: keyC })).status).toBe(200);
  });

  it('gives a share back when the caller leaves while its call is still being decided', async () => {
    for (let i = 0; i < 10; i++) {
      f.h.custody.gateway.invalidate(f.tokenA); // the next call reads the token from the database
      const c = await rawCall(f.port, `GET /gw/${f.tokenA}/invoices/1 HTTP/1.1\r\nHost: custody\r\nAuthorization: Bearer ${f.keyA}\r\n\r\n`);
      c.socket.destroy();
    }
    await eventually(() => f.h.custody.gateway.inFlight(origin) === 0, { what: 'every share to be given back' });
    expect((await f.call(f.tokenA, '/invoices/1')).status).toBe(200);
  });

  it('gives back the share of pipelined calls whose connection closes while their answers wait in line (found by an attack: each such connection kept a share for good)', async () => {
    for (let i = 0; i < 4; i++) {
      const one = `GET /gw/${f.tokenA}/slow?ms=300 HTTP/1.1\r\nHost: custody\r\nAuthorization: Bearer ${f.keyA}\r\n\r\n`;
      const c = await rawCall(f.port, one + one + one);
      await new Promise((r) => setTimeout(r, 100));
      c.socket.destroy();
    }
    await eventually(() => f.h.custody.gateway.inFlight(origin) === 0, { what: 'every share to be given back', timeoutMs: DEADLINE_MS * 2 });
    // The tenant still has its whole share: as many calls at once as its cap.
    const at = await Promise.all([0, 1, 2, 3].map(() => f.call(f.tokenA, '/slow?ms=200')));
    expect(at.map((r) => r.status)).toEqual([200, 200, 200, 200]);
  });

  it('cuts a pipelined call still waiting in line at the deadline, and gives its share back with the connection still open', async () => {
    const first = `GET /gw/${f.tokenA}/slow?ms=${DEADLINE_MS * 3} HTTP/1.1\r\nHost: custody\r\nAuthorization: Bearer ${f.keyA}\r\n\r\n`;
    const second = `GET /gw/${f.tokenA}/slow?ms=${DEADLINE_MS * 3} HTTP/1.1\r\nHost: custody\r\nAuthorization: Bearer ${f.keyA}\r\n\r\n`;
    const c = await rawCall(f.port, first + second);
    open.push(c.socket);
    await eventually(() => f.h.custody.gateway.inFlight(origin) === 2, { what: 'both calls to be forwarded' });
    await eventually(() => f.h.custody.gateway.inFlight(origin) === 0, { what: 'both shares to be given back at the deadline', timeoutMs: DEADLINE_MS * 3 });
    await eventually(() => c.status() === 504, { what: 'the first call to be answered 504' });
  });

  it('records the cut calls in usage as failed, with their codes', async () => {
    // A call cut mid-response is recorded when its connection has closed, which on a loaded
    // machine can come after the tests above have returned: read until it is there.
    const read = async () => {
      await f.h.custody.gateway.flushUsage();
      const rows = await f.h.custody.storage.db
        .selectFrom('gateway_usage_events as e')
        .innerJoin('gateway_call_shapes as s', 's.id', 'e.shape_id')
        .select(['s.outcome', 's.error_code', 'e.status'])
        .where('e.token_id', '=', f.tokenA)
        .execute();
      return rows.map((r) => `${r.outcome}:${r.error_code}:${r.status}`);
    };
    let codes = await read();
    await eventually(async () => (codes = await read()).includes('failed:request_timeout:200'), { what: 'the call cut mid-response in usage', timeoutMs: 10_000, intervalMs: 100 }).catch(() => {});
    expect(codes).toContain('failed:request_timeout:408');
    expect(codes).toContain('denied:concurrency_limited:429');
    expect(codes).toContain('failed:upstream_timeout:504');
    expect(codes).toContain('failed:request_timeout:200');
  });
});
