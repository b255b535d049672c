import { createHash, createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { seed, startHarness, testKeyring, type Harness, type Seeded } from '../../test/support/harness.ts';
import { createCustody } from '../app/custody.ts';
import { loadConfig } from '../config/config.ts';
import { createLogger } from '../shared/logger.ts';
import { Secret } from '../shared/secret.ts';
import { openStorage } from '../storage/database.ts';
import { KmsError } from './kms.ts';
import { openLocalKeyring } from './local-keyring.ts';
import { createVault, GLOBAL_SCOPE } from './vault.service.ts';

/** Flips one bit of a base64 sealed box (iv | tag | ciphertext) at byte `at`. */
function flipByte(sealed: string, at: number): string {
  const buf = Buffer.from(sealed, 'base64');
  buf[at]! ^= 0x01;
  return buf.toString('base64');
}

describeEachDatabase('vault: envelope encryption', (kind) => {
  let h: Harness;
  let s: Seeded;

  beforeAll(async () => {
    h = await startHarness(kind);
    s = await seed(h);
  });
  afterAll(() => h.close());

  const db = () => h.custody.storage.db;
  const vault = () => h.custody.vault;
  const tokenRow = (id: string) => db().selectFrom('tokens').select(['id', 'tenant_id', 'access_token_enc']).where('id', '=', id).executeTakeFirstOrThrow();
  const dataKeyRow = (owner: string) => db().selectFrom('data_keys').selectAll().where('owner_id', '=', owner).executeTakeFirstOrThrow();

  /** A fresh record with its own data key and one encrypted secret, as the token service makes them. */
  async function record(tenantId: string, plaintext: string) {
    const ownerId = `tok_test${randomBytes(8).toString('hex')}`;
    const key = await db().transaction().execute((trx) => vault().createDataKey(trx, tenantId, ownerId, new Date()));
    return { ownerId, tenantId, sealed: vault().encrypt(key, 'access_token', new Secret(plaintext)) };
  }

  it('round-trips a secret through a stored, wrapped data key', async () => {
    const plaintext = `at-${randomBytes(16).toString('hex')}`;
    const r = await record(s.tenantA, plaintext);
    const key = await vault().loadDataKey(db(), r.tenantId, r.ownerId);
    const secret = vault().decrypt(key, 'access_token', r.sealed);
    expect(secret).toBeInstanceOf(Secret);
    expect(secret.reveal()).toBe(plaintext);
    expect(r.sealed).not.toContain(plaintext);
    expect(r.sealed).not.toContain(Buffer.from(plaintext).toString('base64').slice(0, 20));
  });

  it('seals the same secret differently each time (random IV) and stores only a wrapped data key', async () => {
    const key = await vault().loadDataKey(db(), s.tenantA, s.tokenA);
    const a = vault().encrypt(key, 'access_token', new Secret('same'));
    const b = vault().encrypt(key, 'access_token', new Secret('same'));
    expect(a).not.toBe(b);
    expect(Buffer.from(a, 'base64').subarray(0, 12).equals(Buffer.from(b, 'base64').subarray(0, 12))).toBe(false);
    const row = await dataKeyRow(s.tokenA);
    expect(row.kek_version).toBe(1);
    expect(Buffer.from(row.wrapped, 'base64').includes(key.key)).toBe(false);
    expect(JSON.stringify(key)).not.toContain(key.key.toString('base64'));
  });

  it('refuses to decrypt a ciphertext copied to another token row, of the same or another tenant', async () => {
    const [a, b] = [await tokenRow(s.tokenA), await tokenRow(s.tokenB)];
    const sameTenant = await record(s.tenantA, 'other-secret');
    const sameTenantKey = await vault().loadDataKey(db(), s.tenantA, sameTenant.ownerId);
    expect(() => vault().decrypt(sameTenantKey, 'access_token', a.access_token_enc)).toThrow();
    const keyB = await vault().loadDataKey(db(), b.tenant_id, b.id);
    expect(() => vault().decrypt(keyB, 'access_token', a.access_token_enc)).toThrow();
    // The row's own key still opens it: the refusal above is the binding, not a broken ciphertext.
    const keyA = await vault().loadDataKey(db(), a.tenant_id, a.id);
    expect(vault().decrypt(keyA, 'access_token', a.access_token_enc).reveal()).toMatch(/^at-/);
  });

  it('refuses a ciphertext moved to another field of the same row (access token read as refresh token)', async () => {
    const a = await tokenRow(s.tokenA);
    const keyA = await vault().loadDataKey(db(), a.tenant_id, a.id);
    expect(() => vault().decrypt(keyA, 'refresh_token', a.access_token_enc)).toThrow();
  });

  it('refuses a wrapped data key copied to another row, or read as another tenant\'s', async () => {
    const victim = await record(s.tenantA, 'victim-secret');
    const source = await dataKeyRow(s.tokenA);
    await db().updateTable('data_keys').set({ wrapped: source.wrapped, kek_version: source.kek_version }).where('owner_id', '=', victim.ownerId).execute();
    await expect(vault().loadDataKey(db(), victim.tenantId, victim.ownerId)).rejects.toThrow(KmsError);
    // The same wrapped key, unwrapped as the row it belongs to but under tenant B, is refused too.
    await expect(vault().loadDataKey(db(), s.tenantB, s.tokenA)).rejects.toThrow(KmsError);
    await expect(vault().loadDataKey(db(), s.tenantA, s.tokenA)).resolves.toBeDefined();
  });

  it('refuses a ciphertext with any byte changed (IV, tag or body), or truncated', async () => {
    const r = await record(s.tenantA, 'tamper-me-please');
    const key = await vault().loadDataKey(db(), r.tenantId, r.ownerId);
    const length = Buffer.from(r.sealed, 'base64').length;
    for (const at of [0, 11, 12, 27, 28, length - 1]) {
      expect(() => vault().decrypt(key, 'access_token', flipByte(r.sealed, at)), `byte ${at}`).toThrow();
    }
    const truncated = Buffer.from(r.sealed, 'base64').subarray(0, length - 1).toString('base64');
    expect(() => vault().decrypt(key, 'access_token', truncated)).toThrow();
    expect(() => vault().decrypt(key, 'access_token', '')).toThrow();
    expect(vault().decrypt(key, 'access_token', r.sealed).reveal()).toBe('tamper-me-please');
  });

  it('refuses a wrapped data key with any byte changed', async () => {
    const r = await record(s.tenantA, 'x');
    const row = await dataKeyRow(r.ownerId);
    await db().updateTable('data_keys').set({ wrapped: flipByte(row.wrapped, 30) }).where('owner_id', '=', r.ownerId).execute();
    await expect(vault().loadDataKey(db(), r.tenantId, r.ownerId)).rejects.toThrow(KmsError);
  });

  it('fingerprints a secret stably (across vault instances on the same database) and with a key, not a bare hash', async () => {
    const value = `leaked-${randomBytes(8).toString('hex')}`;
    const fp = vault().fingerprint(value);
    expect(fp).toMatch(/^[0-9a-f]{64}$/);
    expect(vault().fingerprint(new Secret(value))).toBe(fp);
    expect(vault().fingerprint(`${value}x`)).not.toBe(fp);
    const again = await createVault({ kms: h.custody.keyring, db: db() });
    expect(again.fingerprint(value)).toBe(fp);
    expect(fp).not.toBe(createHash('sha256').update(value).digest('hex'));
    expect(fp).not.toBe(createHmac('sha256', '').update(value).digest('hex'));
    // The fingerprint key is itself a wrapped system data key, not a constant.
    expect((await dataKeyRow('sys:fingerprint')).tenant_id).toBe(GLOBAL_SCOPE);
    // The stored fingerprint is what traces a leaked string to its record.
    const record = await h.custody.tokens.register(h.admin, { tenantId: s.tenantA, providerId: s.providerId, owner: 'o', scopes: [], accessToken: new Secret(value) });
    expect((await h.custody.tokens.findByCredential(h.admin, value))?.id).toBe(record.id);
  });

  it('fingerprints the same secret differently in another deployment (another fingerprint key)', async () => {
    const other = await startHarness(kind);
    try {
      expect(other.custody.vault.fingerprint('same-secret')).not.toBe(vault().fingerprint('same-secret'));
    } finally {
      await other.close();
    }
  });

  it('cannot unwrap anything with another keyring: opening the database with the wrong key fails loudly', async () => {
    const storage = openStorage(h.config.database);
    try {
      const { keyring } = openLocalKeyring({ kind: 'inline', value: testKeyring() });
      await expect(createVault({ kms: keyring, db: storage.db })).rejects.toThrow(KmsError);
    } finally {
      await storage.close();
    }
  });
});

describe('vault: the local key file', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'custody-keyring-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    vi.restoreAllMocks();
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it('generates a key file with mode 0600 on first run in development, and reuses it afterwards', async () => {
    const dir = tempDir();
    const config = loadConfig({ CUSTODY_DATABASE_URL: path.join(dir, 'data', 'custody.db') }, dir);
    expect(config.env).toBe('development');
    const file = path.join(dir, 'data', 'keyring.json');
    expect(config.keyring).toEqual({ kind: 'file', file, createIfMissing: true });

    const first = openLocalKeyring(config.keyring);
    expect(first.createdFile).toBe(file);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const content = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(content.keys).toHaveLength(1);
    expect(Buffer.from(content.keys[0].key, 'base64')).toHaveLength(32);

    const second = openLocalKeyring(config.keyring);
    expect(second.createdFile).toBeUndefined();
    const aad = Buffer.from('aad');
    const wrapped = await first.keyring.wrap(Buffer.alloc(32, 7), aad);
    expect(await second.keyring.unwrap(wrapped.wrapped, wrapped.version, aad)).toEqual(Buffer.alloc(32, 7));
  });

  it('says so loudly when serve generates a development key file', async () => {
    const dir = tempDir();
    const config = loadConfig({ CUSTODY_DATABASE_URL: path.join(dir, 'custody.db') }, dir);
    const lines: string[] = [];
    const logger = createLogger('info', new Writable({ write: (chunk, _e, cb) => (lines.push(String(chunk)), cb()) }));
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const custody = await createCustody(config, { logger, migrate: true, generateKeyring: true });
    await custody.close();
    const file = path.join(dir, 'keyring.json');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const banner = warn.mock.calls.map((c) => c.join(' ')).join('\n');
    expect(banner).toContain(file);
    expect(banner).toContain('0600');
    expect(lines.join('')).toContain('generated a new development keyring');
  });

  it('refuses to start in production without a keyring, and creates no key file', () => {
    const dir = tempDir();
    const config = loadConfig({ CUSTODY_ENV: 'production', CUSTODY_DATABASE_URL: path.join(dir, 'custody.db') }, dir);
    expect(config.keyring).toMatchObject({ kind: 'file', createIfMissing: false });
    expect(() => openLocalKeyring(config.keyring)).toThrow(KmsError);
    expect(() => openLocalKeyring(config.keyring)).toThrow(/CUSTODY_KEYRING/);
    expect(fs.existsSync(path.join(dir, 'keyring.json'))).toBe(false);
  });

  it('refuses to start in production without a keyring before it creates or migrates a database', async () => {
    const dir = tempDir();
    const dbFile = path.join(dir, 'custody.db');
    const config = loadConfig({ CUSTODY_ENV: 'production', CUSTODY_DATABASE_URL: dbFile }, dir);
    await expect(createCustody(config, { logger: createLogger('silent'), migrate: true, generateKeyring: true })).rejects.toThrow(/CUSTODY_KEYRING/);
    expect(fs.existsSync(dbFile)).toBe(false);
  });

  it('generates no key file for a command that only reads an existing database, and names the keyring it needs', async () => {
    const dir = tempDir();
    const config = loadConfig({ CUSTODY_DATABASE_URL: path.join(dir, 'copy.db') }, dir);
    await expect(createCustody(config, { logger: createLogger('silent') })).rejects.toThrow(/CUSTODY_KEYRING_FILE|CUSTODY_KEYRING/);
    expect(fs.existsSync(path.join(dir, 'keyring.json'))).toBe(false);
  });

  it('refuses an inline keyring whose keys are malformed or not 32 bytes', () => {
    for (const value of ['nonsense', '1:', `1:${Buffer.alloc(16).toString('base64')}`, 'x:abc']) {
      expect(() => openLocalKeyring({ kind: 'inline', value }), value).toThrow(KmsError);
    }
    expect(() => openLocalKeyring({ kind: 'inline', value: testKeyring(2) })).not.toThrow();
  });
});
