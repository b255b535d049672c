let counter = 0;

/**
 * Request ids for error bodies and log lines, one sequence for the Fastify routes and the
 * gateway's direct path (`req-1`, `req-2`, … in base 36, as Fastify would number them).
 */
export function nextRequestId(): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return `req-${counter.toString(36)}`;
}
