import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, describeDatabase, loadConfig, parseDatabaseUrl } from './config.ts';

const CWD = path.resolve('/srv/custody');

function problemsOf(input: Record<string, string>): string[] {
  try {
    loadConfig(input, CWD);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected loadConfig to refuse the input');
}

describe('configuration', () => {
  it('defaults to a SQLite file at ./data/custody.db, 127.0.0.1:7420 and a generated development keyring beside it', () => {
    const c = loadConfig({}, CWD);
    expect(c.database).toEqual({ kind: 'sqlite', file: path.join(CWD, 'data', 'custody.db') });
    expect(c.host).toBe('127.0.0.1');
    expect(c.port).toBe(7420);
    expect(c.publicUrl).toBe('http://127.0.0.1:7420');
    expect(c.env).toBe('development');
    expect(c.logLevel).toBe('info');
    expect(c.bodyLimitBytes).toBe(256 * 1024);
    expect(c.keyring).toEqual({ kind: 'file', file: path.join(CWD, 'data', 'keyring.json'), createIfMissing: true });
  });

  it('returns a frozen object, so nothing downstream can change a setting', () => {
    const c = loadConfig({}, CWD);
    expect(Object.isFrozen(c)).toBe(true);
    expect(() => {
      (c as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it('treats empty and whitespace-only variables as unset', () => {
    const c = loadConfig({ CUSTODY_HOST: '  ', CUSTODY_PORT: '', CUSTODY_DATABASE_URL: ' ' }, CWD);
    expect(c.host).toBe('127.0.0.1');
    expect(c.port).toBe(7420);
    expect(c.database).toEqual({ kind: 'sqlite', file: path.join(CWD, 'data', 'custody.db') });
  });

  it('reports every problem at once, each naming its variable', () => {
    const problems = problemsOf({
      CUSTODY_ENV: 'staging',
      CUSTODY_DATABASE_URL: 'mysql://db/custody',
      CUSTODY_PORT: 'seventy',
      CUSTODY_PUBLIC_URL: 'ftp://custody.example.com',
      CUSTODY_LOG_LEVEL: 'loud',
      CUSTODY_KEYRING: '1:abc',
      CUSTODY_KEYRING_FILE: './keys.json',
      CUSTODY_BODY_LIMIT_BYTES: '10',
      CUSTODY_LEDGER_CHECKPOINT_EVERY: '0',
      CUSTODY_DORMANT_AFTER_DAYS: '-5',
    });
    const names = ['CUSTODY_ENV', 'CUSTODY_DATABASE_URL', 'CUSTODY_PORT', 'CUSTODY_PUBLIC_URL', 'CUSTODY_LOG_LEVEL', 'CUSTODY_KEYRING and CUSTODY_KEYRING_FILE', 'CUSTODY_BODY_LIMIT_BYTES', 'CUSTODY_LEDGER_CHECKPOINT_EVERY', 'CUSTODY_DORMANT_AFTER_DAYS'];
    expect(problems).toHaveLength(names.length);
    for (const name of names) expect(problems.some((p) => p.startsWith(`${name}:`)), name).toBe(true);
    let message = '';
    try {
      loadConfig({ CUSTODY_PORT: '99999', CUSTODY_LOG_LEVEL: 'loud' }, CWD);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('CUSTODY_PORT: must be between 0 and 65535 (got 99999)');
    expect(message).toContain('CUSTODY_LOG_LEVEL: must be one of');
  });

  it('accepts postgres:// and postgresql:// URLs as PostgreSQL, and refuses a malformed one', () => {
    const url = 'postgres://custody:pw@db.example.com:5432/custody?sslmode=require';
    expect(loadConfig({ CUSTODY_DATABASE_URL: url }, CWD).database).toEqual({ kind: 'postgres', url });
    expect(parseDatabaseUrl('postgresql://db/custody')).toEqual({ kind: 'postgres', url: 'postgresql://db/custody' });
    expect(problemsOf({ CUSTODY_DATABASE_URL: 'postgres://db:notaport/custody' })).toEqual([expect.stringMatching(/^CUSTODY_DATABASE_URL: /)]);
  });

  it('takes a SQLite path relative to the working directory, with or without a sqlite: prefix', () => {
    expect(loadConfig({ CUSTODY_DATABASE_URL: 'var/c.db' }, CWD).database).toEqual({ kind: 'sqlite', file: path.join(CWD, 'var', 'c.db') });
    expect(loadConfig({ CUSTODY_DATABASE_URL: 'sqlite:var/c.db' }, CWD).database).toEqual({ kind: 'sqlite', file: path.join(CWD, 'var', 'c.db') });
    expect(loadConfig({ CUSTODY_DATABASE_URL: '/abs/c.db' }, CWD).database).toEqual({ kind: 'sqlite', file: '/abs/c.db' });
    expect(loadConfig({ CUSTODY_DATABASE_URL: ':memory:' }, CWD).database).toEqual({ kind: 'sqlite', file: ':memory:' });
    // The key file lives beside the database file unless named.
    expect(loadConfig({ CUSTODY_DATABASE_URL: 'var/c.db' }, CWD).keyring).toMatchObject({ file: path.join(CWD, 'var', 'keyring.json') });
  });

  it('builds the public URL from host and port (bracketing IPv6), or takes CUSTODY_PUBLIC_URL without its trailing slash', () => {
    expect(loadConfig({ CUSTODY_HOST: '0.0.0.0', CUSTODY_PORT: '8080' }, CWD).publicUrl).toBe('http://0.0.0.0:8080');
    expect(loadConfig({ CUSTODY_HOST: '::1' }, CWD).publicUrl).toBe('http://[::1]:7420');
    expect(loadConfig({ CUSTODY_PUBLIC_URL: 'https://custody.example.com/' }, CWD).publicUrl).toBe('https://custody.example.com');
  });

  it('never generates a key file in production, and uses CUSTODY_KEYRING when given', () => {
    expect(loadConfig({ CUSTODY_ENV: 'production' }, CWD).keyring).toMatchObject({ kind: 'file', createIfMissing: false });
    expect(loadConfig({ NODE_ENV: 'production' }, CWD).keyring).toMatchObject({ kind: 'file', createIfMissing: false });
    expect(loadConfig({ CUSTODY_KEYRING: '1:abc' }, CWD).keyring).toEqual({ kind: 'inline', value: '1:abc' });
    expect(loadConfig({ CUSTODY_KEYRING_FILE: 'secrets/k.json' }, CWD).keyring).toEqual({ kind: 'file', file: path.join(CWD, 'secrets', 'k.json'), createIfMissing: true });
  });

  it('describes a PostgreSQL database without printing its password, in the userinfo or the query string', () => {
    const described = describeDatabase({ kind: 'postgres', url: 'postgres://custody:s3cr3t-pw@db.example.com:5432/custody' });
    expect(described).toContain('db.example.com:5432/custody');
    expect(described).toContain('custody:***@');
    expect(described).not.toContain('s3cr3t-pw');
    const inQuery = describeDatabase({ kind: 'postgres', url: 'postgres://db.example.com/custody?user=custody&password=hunter2&sslmode=require' });
    expect(inQuery).not.toContain('hunter2');
    expect(inQuery).toContain('sslmode=require');
    expect(describeDatabase({ kind: 'sqlite', file: '/data/custody.db' })).toBe('SQLite /data/custody.db');
  });

  it('believes X-Forwarded-For only from the proxies named in CUSTODY_TRUST_PROXY, and names a bad entry', () => {
    expect(loadConfig({}, CWD).trustProxy).toEqual([]);
    expect(loadConfig({ CUSTODY_TRUST_PROXY: '10.0.0.0/8, 192.168.1.5,fd00::/8' }, CWD).trustProxy).toEqual(['10.0.0.0/8', '192.168.1.5', 'fd00::/8']);
    for (const bad of ['10.0.0.0/33', 'proxy.example.com', '10.0.0.1/8/1', 'fd00::/129']) {
      expect(() => loadConfig({ CUSTODY_TRUST_PROXY: bad }, CWD), bad).toThrow(/CUSTODY_TRUST_PROXY/);
    }
  });
});
