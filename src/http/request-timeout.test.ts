import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, keyFor, startHarness, type Harness } from '../../test/support/harness.ts';

/**
 * A caller that opens a connection and then stalls (its headers, or its body) holds a socket:
 * unauthenticated, that is a way to run the server out of descriptors. API requests get a deadline
 * (CUSTODY_REQUEST_TIMEOUT_MS) and are answered 408 request_timeout, the connection closed. Storage
 * plays no part here: SQLite only.
 */
describe('request deadlines on the API', () => {
  let h: Harness;
  let port: number;

  beforeAll(async () => {
    h = await startHarness('sqlite', { env: { CUSTODY_REQUEST_TIMEOUT_MS: '600' } });
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    port = (h.app.server.address() as AddressInfo).port;
  });
  afterAll(() => h?.close());

  /** Sends `text` and waits for the server to close the connection; answers what it sent and how long that took. */
  const stall = (text: string) =>
    new Promise<{ answer: string; ms: number }>((resolve, reject) => {
      const started = performance.now();
      const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
      let answer = '';
      socket.on('data', (d) => (answer += String(d)));
      socket.on('error', reject);
      socket.on('close', () => resolve({ answer, ms: performance.now() - started }));
      setTimeout(() => {
        socket.destroy();
        reject(new Error(`the connection was still open after 10 s (received: ${answer})`));
      }, 10_000).unref();
    });

  it('answers 408 request_timeout to a body that stops arriving, and closes the connection, before anyone is authenticated', async () => {
    const { answer, ms } = await stall('POST /v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"key":"');
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toContain('"code":"request_timeout"');
    expect(ms).toBeLessThan(5_000);
  });

  it('answers 408 request_timeout to headers that stop arriving', async () => {
    const { answer, ms } = await stall('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toContain('"code":"request_timeout"');
    expect(ms).toBeLessThan(5_000);
  });

  it('lets a request whose body arrives in time through, and keeps its connection for the next', async () => {
    const key = await keyFor(h, 'admin');
    for (const name of ['first', 'second']) {
      const r = await fetch(`http://127.0.0.1:${port}/v1/tenants`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(key) }, body: JSON.stringify({ name: `${name}-${Date.now()}` }) });
      expect(r.status).toBe(201);
      await r.arrayBuffer();
    }
    // A connection kept alive past the deadline (no request in flight) is not cut by it: two
    // requests on one socket, a second apart.
    const answers = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
      let text = '';
      let sent = false;
      socket.on('data', (d) => {
        text += String(d);
        if (!sent && text.includes('\r\n\r\n')) {
          sent = true;
          setTimeout(() => socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), 1_000);
        }
      });
      socket.on('error', reject);
      socket.on('close', () => resolve(text));
    });
    expect(answers.match(/HTTP\/1\.1 200 /g)).toHaveLength(2);
  });
});
