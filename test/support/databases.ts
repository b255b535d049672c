import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe } from 'vitest';
import type { DatabaseConfig } from '../../src/config/config.ts';

export type DatabaseKind = 'sqlite' | 'postgres';

/** Every storage test runs once per database: SQLite always, PostgreSQL when CUSTODY_TEST_POSTGRES_URL is set (always in CI). */
export const DATABASES: DatabaseKind[] = process.env.CUSTODY_TEST_POSTGRES_URL ? ['sqlite', 'postgres'] : ['sqlite'];

/** `describe(name (kind), …)` once per database of DATABASES: the one way storage tests run on both. */
export function describeEachDatabase(name: string, body: (kind: DatabaseKind) => void): void {
  for (const kind of DATABASES) describe(`${name} (${kind})`, () => body(kind));
}

/** The same, for tests that only mean something with several instances on one database (PostgreSQL). */
export function describePostgres(name: string, body: (kind: DatabaseKind) => void): void {
  for (const kind of DATABASES.filter((k) => k === 'postgres')) describe(`${name} (${kind})`, () => body(kind));
}

export interface TestDatabase {
  kind: DatabaseKind;
  config: DatabaseConfig;
  /** The SQLite file, for tests that inspect the bytes on disk. */
  file?: string;
  /** The connection URL, for PostgreSQL. */
  url?: string;
  drop(): Promise<void>;
}

/** A fresh, empty database of its own, so parallel test files never see each other's rows. */
export async function createTestDatabase(kind: DatabaseKind): Promise<TestDatabase> {
  const name = `custody_t_${randomBytes(6).toString('hex')}`;
  if (kind === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'custody-test-'));
    const file = path.join(dir, `${name}.db`);
    return { kind, file, config: { kind: 'sqlite', file }, drop: async () => fs.rmSync(dir, { recursive: true, force: true }) };
  }
  const adminUrl = process.env.CUSTODY_TEST_POSTGRES_URL!;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    kind,
    url: url.toString(),
    config: { kind: 'postgres', url: url.toString() },
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
