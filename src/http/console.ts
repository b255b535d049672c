import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * The console (issue 17): the single-page app that `npm run build` puts in dist/web, served at `/`.
 * Its files come from this server only (no CDN), under a content security policy that allows
 * nothing from elsewhere. A browser asking for a page of the console (a GET that accepts HTML, on
 * a path that is not the API's) is answered with index.html, so a page's URL can be bookmarked
 * and reloaded; everything else that matches no route keeps its coded 404.
 */
export const CONSOLE_CSP =
  "default-src 'self'; base-uri 'none'; connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; " +
  "img-src 'self' data:; object-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'";

/** Paths that belong to the API and other machine routes: never answered with the console. */
const NOT_CONSOLE = /^\/(v1|oauth|gateway|docs|openapi\.json|metrics|healthz|readyz|\.well-known|ssf|assets)(\/|$|\?)/;

/** Where the built console is: dist/web beside dist/ (the compiled server) or under the repository (tests run src/). */
export function consoleDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.resolve(here, '..', '..', 'dist', 'web');
}

const securityHeaders = (reply: FastifyReply) => {
  reply.header('content-security-policy', CONSOLE_CSP);
  reply.header('x-content-type-options', 'nosniff');
  reply.header('referrer-policy', 'no-referrer');
  reply.header('x-frame-options', 'DENY');
};

/**
 * Serves the console. Answers whether the request was the console's (for the not-found handler):
 * call `fallback` from there.
 */
export async function installConsole(app: FastifyInstance, dir: string = consoleDir()): Promise<{ fallback: (request: FastifyRequest, reply: FastifyReply) => boolean }> {
  const indexFile = path.join(dir, 'index.html');
  const built = existsSync(indexFile);
  // Read once: index.html is small and changes only with a new build (and so a restart).
  const index = built ? readFileSync(indexFile) : null;
  const sendIndex = (reply: FastifyReply) => {
    securityHeaders(reply);
    reply.header('cache-control', 'no-cache');
    if (!index) {
      return reply
        .status(503)
        .type('text/plain; charset=utf-8')
        .send('The console is not built: run `npm run build` (npm install runs it), then restart Custody. The API works without it.');
    }
    return reply.type('text/html; charset=utf-8').send(index);
  };
  if (built) {
    // The hashed bundles: immutable, cached for a year.
    await app.register(fastifyStatic, {
      root: path.join(dir, 'assets'),
      prefix: '/assets/',
      index: false,
      wildcard: true,
      immutable: true,
      maxAge: '365d',
      setHeaders: (res) => {
        res.setHeader('x-content-type-options', 'nosniff');
      },
    });
  }
  app.get('/', { schema: { hide: true } }, async (_request, reply) => sendIndex(reply));
  return {
    fallback(request, reply) {
      if (request.method !== 'GET' && request.method !== 'HEAD') return false;
      const url = request.url;
      if (NOT_CONSOLE.test(url)) return false;
      if (!(request.headers.accept ?? '').includes('text/html')) return false;
      void sendIndex(reply);
      return true;
    },
  };
}
