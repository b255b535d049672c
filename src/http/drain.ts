import type { IncomingMessage } from 'node:http';

/** The most of a refused request's body read (and thrown away) so its client can read the answer. */
export const DRAIN_MAX_BYTES = 4 * 1024 * 1024;
export const DRAIN_MAX_MS = 5_000;

/**
 * A request refused while its client is still sending (a body over the limit, a failed check
 * before the body was read): the answer is sent at once, and the rest of the body is read and
 * thrown away, up to a bound, before the connection may close. Closing a socket with unread data
 * makes the kernel reset the connection, and a client still writing then sees EPIPE or
 * ECONNRESET instead of the answer. Past the bound (a body that does not end) the connection is
 * destroyed: draining is a courtesy with a limit, not a way to hold a connection open.
 */
export function drainRefusedBody(req: IncomingMessage, limits: { maxBytes?: number; maxMs?: number } = {}): void {
  if (req.complete || req.destroyed) return;
  const maxBytes = limits.maxBytes ?? DRAIN_MAX_BYTES;
  let read = 0;
  const stop = () => {
    clearTimeout(timer);
    req.removeListener('data', onData);
    req.socket?.destroy();
  };
  const onData = (chunk: Buffer) => {
    read += chunk.length;
    if (read > maxBytes) stop();
  };
  const timer = setTimeout(() => {
    if (!req.complete) stop();
  }, limits.maxMs ?? DRAIN_MAX_MS);
  timer.unref();
  req.on('data', onData);
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
}
