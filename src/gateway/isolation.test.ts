import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayFixture, type GatewayFixture } from '../../test/support/gateway-fixture.ts';
import { eventually } from '../../test/support/wait.ts';

/**
 * One tenant's stalled or slow callers must not hold the gateway for another (DESIGN §7). The
 * pool has 8 connections per provider origin; a tenant may hold 4 of them. Tenant A's callers send
 * their headers and then stall their bodies, or stop reading a large response; tenant B calls the
 * same provider meanwhile. Only the gateway's own behaviour is involved (no storage), so SQLite.
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

describe('gateway isolation between tenants', () => {
  let f: GatewayFixture;
  let origin: string;
  const open: net.Socket[] = [];

  beforeAll(async () => {
    f = await startGatewayFixture('sqlite', {
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

  it('records the cut calls in usage as failed, with their codes', async () => {
    await f.h.custody.gateway.flushUsage();
    const rows = await f.h.custody.storage.db
      .selectFrom('gateway_usage_events as e')
      .innerJoin('gateway_call_shapes as s', 's.id', 'e.shape_id')
      .select(['s.outcome', 's.error_code', 'e.status'])
      .where('e.token_id', '=', f.tokenA)
      .execute();
    const codes = rows.map((r) => `${r.outcome}:${r.error_code}:${r.status}`);
    expect(codes).toContain('failed:request_timeout:408');
    expect(codes).toContain('denied:concurrency_limited:429');
    expect(codes).toContain('failed:upstream_timeout:504');
    expect(codes).toContain('failed:request_timeout:200');
  });
});
