import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { CustodyError } from '../shared/errors.ts';
import { installErrorHandling } from './error-handler.ts';

/** How errors thrown by handlers are answered: the codes that end by themselves say when to retry. */
describe('the error handler', () => {
  const appThrowing = async (err: unknown) => {
    const app = Fastify({ logger: false });
    installErrorHandling(app);
    app.get('/x', async () => {
      throw err;
    });
    await app.ready();
    return app;
  };

  it('answers a connection the database ended as 503 database_unavailable with Retry-After, not a 500', async () => {
    for (const err of [Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }), new Error('Connection terminated unexpectedly'), new Error('Client has encountered a connection error and is not queryable')]) {
      const app = await appThrowing(err);
      const r = await app.inject({ url: '/x' });
      expect(r.statusCode, err.message).toBe(503);
      expect(r.json().error.code).toBe('database_unavailable');
      expect(r.headers['retry-after']).toBe('1');
      expect(r.body).not.toContain('administrator');
      await app.close();
    }
    // Anything else stays a generic 500 that leaks nothing.
    const other = await appThrowing(Object.assign(new Error('duplicate key value'), { code: '23505' }));
    const r = await other.inject({ url: '/x' });
    expect([r.statusCode, r.json().error.code]).toEqual([500, 'internal_error']);
    await other.close();
  });

  it('tells a caller refused for being busy when to retry', async () => {
    const app = await appThrowing(new CustodyError('report_busy'));
    const r = await app.inject({ url: '/x' });
    expect([r.statusCode, r.headers['retry-after'], r.json().error.code]).toEqual([503, '2', 'report_busy']);
    await app.close();
  });
});
