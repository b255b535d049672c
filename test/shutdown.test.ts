import net from 'node:net';
import { expect, it } from 'vitest';
import { describeEachDatabase } from './support/databases.ts';
import { startGatewayFixture } from './support/gateway-fixture.ts';
import { eventually } from './support/wait.ts';

/**
 * A shutdown does not wait on callers that never finish: a gateway upload that trickles, and an
 * API request whose headers never end (Node stops enforcing its header timeout once the server is
 * closing). After the grace period they are cut, and the shutdown completes, writing what it must.
 */
describeEachDatabase('shutdown with callers that never finish', (kind) => {
  it('cuts them after the grace period and completes', async () => {
    const f = await startGatewayFixture(kind, { timers: { shutdownGraceMs: 300 }, env: { CUSTODY_GATEWAY_IDLE_TIMEOUT_MS: '60000', CUSTODY_GATEWAY_MIN_BYTES_PER_SECOND: '0' } });
    const sockets: net.Socket[] = [];
    const open = (text: string) =>
      new Promise<net.Socket>((resolve) => {
        const s = net.connect(f.port, '127.0.0.1', () => {
          s.write(text);
          resolve(s);
        });
        s.on('error', () => {});
        sockets.push(s);
      });
    try {
      const upload = await open(`POST /gw/${f.tokenA}/uploads HTTP/1.1\r\nHost: custody\r\nAuthorization: Bearer ${f.keyA}\r\nContent-Length: 100000\r\n\r\nxx`);
      await open('GET /v1/tenants HTTP/1.1\r\nHost: custody\r\n'); // headers never end
      await eventually(() => f.h.custody.gateway.inFlight(f.upstream.origin) === 1, { what: 'the upload to be in flight' });
      const closed = f.close().then(() => 'closed');
      const outcome = await Promise.race([closed, new Promise((resolve) => setTimeout(() => resolve('still waiting'), 15_000))]);
      expect(outcome).toBe('closed');
      expect(upload.destroyed || upload.readableEnded).toBe(true);
    } finally {
      for (const s of sockets) s.destroy();
    }
  }, 30_000);
});
