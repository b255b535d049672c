import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { Secret } from '../../src/shared/secret.ts';
import type { Kms } from '../../src/vault/kms.ts';
import { writeKeyFile } from '../../src/vault/local-keyring.ts';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from './databases.ts';
import { seed, startHarness, type Harness, type Seeded } from './harness.ts';

/** Helpers shared by the key-rotation tests (service and CLI). */

/** Teardown steps of the current test; each test file drains it in afterEach. */
export const cleanup: (() => Promise<unknown> | unknown)[] = [];

export async function drainCleanup(): Promise<void> {
  for (const fn of cleanup.splice(0).reverse()) await fn();
}

export const key = () => randomBytes(32).toString('base64');


export async function harness(kind: DatabaseKind, keyring: { inline: string } | { file: string }, database?: TestDatabase): Promise<Harness> {
  const env: Record<string, string> = 'file' in keyring ? { CUSTODY_KEYRING: '', CUSTODY_KEYRING_FILE: keyring.file } : {};
  const h = await startHarness(kind, { ...('inline' in keyring ? { keyring: keyring.inline } : {}), env, ...(database ? { database } : {}) });
  cleanup.push(() => h.close());
  return h;
}

export async function freshDatabase(kind: DatabaseKind): Promise<TestDatabase> {
  const db = await createTestDatabase(kind);
  cleanup.unshift(() => db.drop());
  return db;
}

export function databaseUrl(db: TestDatabase): string {
  return db.config.kind === 'sqlite' ? db.config.file : db.config.url;
}

export async function versions(h: Harness): Promise<Record<number, number>> {
  const rows = await h.custody.storage.db.selectFrom('data_keys').select('kek_version').execute();
  const out: Record<number, number> = {};
  for (const r of rows) out[r.kek_version] = (out[r.kek_version] ?? 0) + 1;
  return out;
}

/** Decrypts every token's credential and the provider's client secret, and uses both system keys. */
export async function expectReadable(h: Harness, s: Seeded, secrets: Map<string, string>): Promise<void> {
  const rows = await h.custody.storage.db.selectFrom('tokens').select(['id', 'tenant_id', 'access_token_enc']).execute();
  expect(rows.length).toBe(secrets.size);
  for (const r of rows) {
    const dk = await h.custody.vault.loadDataKey(h.custody.storage.db, r.tenant_id, r.id);
    expect(h.custody.vault.decrypt(dk, 'access_token', r.access_token_enc).reveal()).toBe(secrets.get(r.id));
  }
  expect((await h.custody.providers.clientSecret(s.providerId))?.reveal()).toBe('provider-client-secret');
  // The fingerprint key (leak lookup) and the ledger signing key (checkpoints) are data keys too.
  const [id, secret] = [...secrets][0]!;
  expect((await h.custody.tokens.findByCredential(h.admin, secret))?.id).toBe(id);
  const verified = await h.custody.ledger.verify();
  expect(verified.problems).toEqual([]);
}

/** Two tenants, a provider with a client secret, and a few more tokens; returns each token's secret. */
export async function seedWithSecrets(h: Harness): Promise<{ s: Seeded; secrets: Map<string, string> }> {
  const s = await seed(h);
  const secrets = new Map<string, string>();
  for (const r of await h.custody.storage.db.selectFrom('tokens').select(['id', 'tenant_id', 'access_token_enc']).execute()) {
    const dk = await h.custody.vault.loadDataKey(h.custody.storage.db, r.tenant_id, r.id);
    secrets.set(r.id, h.custody.vault.decrypt(dk, 'access_token', r.access_token_enc).reveal());
  }
  for (let i = 0; i < 8; i++) {
    const value = `at-rotation-${i}-${randomBytes(6).toString('hex')}`;
    const t = await h.custody.tokens.register(h.admin, {
      tenantId: i % 2 ? s.tenantA : s.tenantB,
      providerId: s.providerId,
      owner: 'team-keys',
      scopes: ['read'],
      accessToken: new Secret(value),
    });
    secrets.set(t.id, value);
  }
  return { s, secrets };
}

/** A KMS that fails every wrap after the first `allowed`, as a KMS outage part-way through would. */
export function failingAfter(kms: Kms, allowed: number): Kms {
  let wraps = 0;
  return {
    name: `${kms.name} (failing after ${allowed} wraps)`,
    currentVersion: () => kms.currentVersion(),
    versions: () => kms.versions(),
    unwrap: (w, v, aad) => kms.unwrap(w, v, aad),
    async wrap(dataKey, aad) {
      if (++wraps > allowed) throw new Error('KMS unavailable');
      return kms.wrap(dataKey, aad);
    },
  };
}

export { spawnCli as runCli } from './cli.ts';

export function tempKeyFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'custody-keys-'));
  cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'keyring.json');
  writeKeyFile(file, { keys: [{ version: 1, key: key(), createdAt: new Date().toISOString() }] });
  return file;
}

export async function ledgerActions(h: Harness, prefix: string): Promise<string[]> {
  const items = await h.custody.ledger.list({ order: 'asc', limit: 1000 });
  return items.map((e) => e.action).filter((a) => a.startsWith(prefix));
}

