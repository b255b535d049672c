import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';
import { Secret } from './secret.ts';

function capture() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { lines, logger: createLogger('info', sink) };
}

describe('logging', () => {
  it('logs requests by path only, never their query string', () => {
    const { lines, logger } = capture();
    logger.info({ req: { method: 'GET', url: '/gw/tok_1/search?email=alice%40acme.example&api_key=k-123', ip: '10.0.0.1' } }, 'incoming request');
    expect(lines[0]).toContain('"path":"/gw/tok_1/search"');
    expect(lines[0]).not.toContain('alice');
    expect(lines[0]).not.toContain('k-123');
  });

  it('redacts authorization headers and credential-named fields', () => {
    const { lines, logger } = capture();
    logger.info({ headers: { authorization: 'Bearer cus_x' }, accessToken: 'at-1', nested: { refreshToken: 'rt-1', clientSecret: 'cs-1' } }, 'x');
    expect(lines[0]).not.toMatch(/cus_x|at-1|rt-1|cs-1/);
  });

  it('prints a Secret as redacted', () => {
    const { lines, logger } = capture();
    logger.info({ token: new Secret('s3cr3t') }, `value ${new Secret('s3cr3t')}`);
    expect(lines[0]).not.toContain('s3cr3t');
  });
});
