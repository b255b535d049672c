import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface EchoRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  bodyBytes: number;
  bodySha256: string;
}

export interface EchoUpstream {
  port: number;
  /** http://127.0.0.1:{port} */
  origin: string;
  /** Every request received, in order. */
  received: EchoRequest[];
  /** URLs of requests whose response was cut off before it was all sent (the gateway went away). */
  cutOff: string[];
  close(): Promise<void>;
}

/**
 * A loopback HTTP server that answers every request with what it received (method, path, headers,
 * body size and hash), so a test can see exactly what the gateway forwarded. A few paths behave
 * differently: /redirect?to=URL answers 302, /slow waits before answering, /bytes?n=N streams N bytes.
 */
export async function startEchoUpstream(): Promise<EchoUpstream> {
  const received: EchoRequest[] = [];
  const cutOff: string[] = [];
  const server = http.createServer((req, res) => {
    res.on('close', () => {
      if (!res.writableFinished) cutOff.push(req.url ?? '');
    });
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    req.on('end', () => {
      const record = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, bodyBytes: bytes, bodySha256: hash.digest('hex') };
      received.push(record);
      const url = new URL(req.url ?? '/', 'http://upstream');
      if (url.pathname.endsWith('/redirect')) {
        res.writeHead(302, { location: url.searchParams.get('to') ?? 'http://169.254.169.254/latest/meta-data/' }).end();
        return;
      }
      if (url.pathname.endsWith('/slow')) {
        setTimeout(() => res.writeHead(200).end('late'), Number(url.searchParams.get('ms') ?? 2000)).unref();
        return;
      }
      if (url.pathname.endsWith('/bytes')) {
        const n = Number(url.searchParams.get('n') ?? 0);
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const chunk = Buffer.alloc(64 * 1024, 7);
        let left = n;
        const pump = () => {
          while (left > 0) {
            const piece = chunk.subarray(0, Math.min(left, chunk.length));
            left -= piece.length;
            if (!res.write(piece)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
        return;
      }
      res.writeHead(200, {
        'content-type': 'application/json',
        'set-cookie': 'upstream_session=abc; Path=/',
        'x-upstream': 'echo',
        connection: 'keep-alive, x-hop-response',
        'x-hop-response': 'must-not-cross',
      });
      res.end(JSON.stringify(record));
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    received,
    cutOff,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Sends one HTTP/1.1 request over a raw socket, byte for byte: clients normalise paths ("..",
 * "%2e%2e", backslashes) before sending, which would hide exactly what an attacker can send.
 */
export function rawRequest(port: number, requestLine: string, headers: Record<string, string>): Promise<{ status: number; body: string; raw: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (data += d));
    socket.on('error', reject);
    socket.on('end', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
      const head = data.slice(0, data.indexOf('\r\n\r\n'));
      let body = data.slice(head.length + 4);
      if (/^transfer-encoding:\s*chunked/im.test(head)) body = dechunk(body);
      resolve({ status, body, raw: data });
    });
    const own = Object.keys(headers).map((k) => k.toLowerCase());
    const defaults = [own.includes('host') ? null : 'Host: 127.0.0.1', own.includes('connection') ? null : 'Connection: close'].filter((l) => l !== null);
    const lines = [requestLine, ...defaults, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''];
    socket.write(lines.join('\r\n'));
  });
}

function dechunk(text: string): string {
  let out = '';
  let rest = text;
  for (;;) {
    const eol = rest.indexOf('\r\n');
    const size = parseInt(rest.slice(0, eol), 16);
    if (!(size > 0)) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
}
