import { createHash, type KeyObject } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import sjson from 'secure-json-parse';
import { duplicateKeyRefusal, notUtf8Refusal } from '../http/json-body.ts';
import { mount } from '../http/mount.ts';
import { CustodyError } from '../shared/errors.ts';
import { LEAK_BODY_LIMIT_BYTES, LEAK_KEY_ID_HEADER, LEAK_SIGNATURE_HEADER, leakEndpoints as e } from './leak.contract.ts';
import type { LeakService, VerifiedReporter } from './leak.service.ts';

interface PendingReport {
  reporter: VerifiedReporter;
  key: KeyObject;
  signature: string;
  verified: boolean;
  /** Hex SHA-256 of the raw body whose signature verified (a replay of it is answered, not acted on). */
  digest: string | null;
}

const header = (request: FastifyRequest, name: string): string | undefined => {
  const v = request.headers[name];
  return typeof v === 'string' ? v : undefined;
};

/**
 * The leak routes. A report (POST /v1/leaks) is public — its signature is its authentication —
 * and is mounted in a scope of its own whose JSON parser keeps the raw bytes: the key id is
 * checked before the body is read (an unknown key's body is never parsed), the signature over the
 * exact bytes before they are parsed, and only then does the body become JSON and meet its schema.
 */
export function leakRoutes(leaks: LeakService) {
  return async (app: FastifyInstance) => {
    mount(app, e.check, async ({ principal, body }) => leaks.check(principal, body.strings));
    mount(app, e.listReporters, async () => ({ items: await leaks.listReporters() }));
    mount(app, e.addReporter, async ({ principal, body }) => leaks.addReporter(principal, body));
    mount(app, e.disableReporter, async ({ principal, params, body }) => leaks.disableReporter(principal, params.id, body.reason));

    await app.register(async (scope) => {
      const pending = new WeakMap<FastifyRequest, PendingReport>();
      // Refused here, the body is never read (as for a missing API key on the other routes).
      scope.addHook('onRequest', async (request) => {
        const signature = header(request, LEAK_SIGNATURE_HEADER);
        const { reporter, key } = await leaks.reporterForKeyId(header(request, LEAK_KEY_ID_HEADER), signature);
        pending.set(request, { reporter, key, signature: signature!, verified: false, digest: null });
      });
      scope.removeContentTypeParser('application/json');
      scope.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: LEAK_BODY_LIMIT_BYTES }, (request, raw, done) => {
        const report = pending.get(request);
        try {
          if (!report) throw new CustodyError('leak_signature_missing');
          leaks.verify(report.key, raw as Buffer, report.signature);
          report.verified = true;
          report.digest = createHash('sha256').update(raw as Buffer).digest('hex');
        } catch (err) {
          done(err as Error, undefined);
          return;
        }
        try {
          const notUtf8 = notUtf8Refusal(raw as Buffer);
          if (notUtf8) return done(notUtf8, undefined);
          const text = (raw as Buffer).toString('utf8');
          const parsed: unknown = sjson.parse(text, { protoAction: 'error', constructorAction: 'error' });
          // As every JSON body of the API: a key named twice is refused, not read with a value dropped.
          const dup = duplicateKeyRefusal(text);
          done(dup, dup ? undefined : parsed);
        } catch {
          done(new CustodyError('malformed_json'), undefined);
        }
      });
      // A verified report refused afterwards (not JSON, not the schema, too large) is counted too; nothing of it is stored.
      scope.addHook('onResponse', async (request, reply) => {
        const report = pending.get(request);
        if (report && reply.statusCode >= 400 && reply.statusCode < 500 && (report.verified || reply.statusCode === 413 || reply.statusCode === 415)) leaks.refused('malformed_body');
      });
      mount(scope, e.report, async ({ request, body }) => {
        const report = pending.get(request);
        if (!report?.verified || report.digest === null) throw new CustodyError('leak_signature_missing');
        return leaks.report(report.reporter, body, report.digest);
      });
    });
  };
}
