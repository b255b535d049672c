import { createHash, createHmac, createPrivateKey, createPublicKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { inspect } from 'node:util';
import type { Db } from '../storage/database.ts';
import { Secret } from '../shared/secret.ts';
import { open, seal } from './aead.ts';
import type { Kms } from './kms.ts';

/** Records that belong to no tenant (providers, system keys) bind this in place of a tenant id. */
export const GLOBAL_SCOPE = '-';

const FINGERPRINT_KEY = 'sys:fingerprint';
const LEDGER_SIGNING_KEY = 'sys:ledger-signing';

/** An unwrapped per-record data key. Never logged: its inspect and JSON forms are redacted. */
export class DataKey {
  constructor(
    readonly tenantId: string,
    readonly ownerId: string,
    readonly key: Buffer,
  ) {}
  toJSON(): string {
    return '[data key]';
  }
  [inspect.custom](): string {
    return `DataKey(${this.ownerId})`;
  }
}

export function dataKeyAad(tenantId: string, ownerId: string): Buffer {
  return Buffer.from(`custody:dek:v1:${tenantId}:${ownerId}`);
}

function secretAad(key: DataKey, field: string): Buffer {
  return Buffer.from(`custody:secret:v1:${key.tenantId}:${key.ownerId}:${field}`);
}

export interface LedgerSigner {
  readonly keyId: string;
  readonly publicKey: KeyObject;
  sign(message: Buffer): string;
}

export interface Vault {
  readonly kms: Kms;
  /** Makes a new data key for a record and stores it (wrapped) in the same transaction. */
  createDataKey(trx: Db, tenantId: string, ownerId: string, now: Date): Promise<DataKey>;
  /** Many records' new data keys at once (an import batch): stored (wrapped) in a few multi-row inserts of `trx`. */
  createDataKeys(trx: Db, owners: readonly { tenantId: string; ownerId: string }[], now: Date): Promise<DataKey[]>;
  loadDataKey(db: Db, tenantId: string, ownerId: string): Promise<DataKey>;
  /** The record's data key, made now if it has none yet (a provider given its first client secret, or a new one after removal). */
  ensureDataKey(trx: Db, tenantId: string, ownerId: string, now: Date): Promise<DataKey>;
  encrypt(key: DataKey, field: string, secret: Secret): string;
  decrypt(key: DataKey, field: string, ciphertext: string): Secret;
  /** Keyed fingerprint (HMAC-SHA256) of a secret, for tracing a leaked string to its record. */
  fingerprint(secret: Secret | string): string;
  readonly ledgerSigner: LedgerSigner;
}

/**
 * Envelope encryption: each record has a random 256-bit data key (AES-256-GCM, random 96-bit IV),
 * wrapped by the KMS's current key-encryption key. The tenant and record id are associated data
 * both of the wrapped key and of every ciphertext, so a ciphertext or a wrapped key copied to
 * another row does not decrypt. The fingerprint key and the ledger signing key are system data
 * keys in the same table, so key rotation re-wraps them like any other.
 */
export async function createVault(deps: { kms: Kms; db: Db; now?: () => Date }): Promise<Vault> {
  const { kms, db } = deps;
  const now = deps.now ?? (() => new Date());

  async function insertDataKey(trx: Db, tenantId: string, ownerId: string, key: Buffer, at: Date): Promise<void> {
    const { version, wrapped } = await kms.wrap(key, dataKeyAad(tenantId, ownerId));
    await trx
      .insertInto('data_keys')
      .values({ owner_id: ownerId, tenant_id: tenantId, kek_version: version, wrapped, created_at: at.toISOString(), rewrapped_at: null })
      .execute();
  }

  async function loadDataKey(from: Db, tenantId: string, ownerId: string): Promise<DataKey> {
    const row = await from.selectFrom('data_keys').select(['wrapped', 'kek_version', 'tenant_id']).where('owner_id', '=', ownerId).executeTakeFirst();
    if (!row) throw new Error(`no data key for ${ownerId}`);
    const key = await kms.unwrap(row.wrapped, row.kek_version, dataKeyAad(tenantId, ownerId));
    return new DataKey(tenantId, ownerId, key);
  }

  async function systemKey(name: string): Promise<Buffer> {
    const existing = await db.selectFrom('data_keys').select('owner_id').where('owner_id', '=', name).executeTakeFirst();
    if (!existing) {
      try {
        await insertDataKey(db, GLOBAL_SCOPE, name, randomBytes(32), now());
      } catch {
        // Another process created it first; read theirs below.
      }
    }
    return (await loadDataKey(db, GLOBAL_SCOPE, name)).key;
  }

  const fingerprintKey = await systemKey(FINGERPRINT_KEY);
  const ledgerSigner = ed25519Signer(await systemKey(LEDGER_SIGNING_KEY));

  async function createDataKey(trx: Db, tenantId: string, ownerId: string, at: Date): Promise<DataKey> {
    const key = randomBytes(32);
    await insertDataKey(trx, tenantId, ownerId, key, at);
    return new DataKey(tenantId, ownerId, key);
  }

  async function createDataKeys(trx: Db, owners: readonly { tenantId: string; ownerId: string }[], at: Date): Promise<DataKey[]> {
    // One call to the random source for the whole batch, 32 bytes a key.
    const material = randomBytes(32 * owners.length);
    const keys = owners.map((o, i) => new DataKey(o.tenantId, o.ownerId, material.subarray(32 * i, 32 * (i + 1))));
    const rows = [];
    for (const k of keys) {
      const { version, wrapped } = await kms.wrap(k.key, dataKeyAad(k.tenantId, k.ownerId));
      rows.push({ owner_id: k.ownerId, tenant_id: k.tenantId, kek_version: version, wrapped, created_at: at.toISOString(), rewrapped_at: null });
    }
    // 6 columns a row: 1,000 rows a statement stays under both databases' bounds on parameters.
    for (let i = 0; i < rows.length; i += 1_000) await trx.insertInto('data_keys').values(rows.slice(i, i + 1_000)).execute();
    return keys;
  }

  return {
    kms,
    ledgerSigner,
    createDataKey,
    createDataKeys,
    loadDataKey,
    async ensureDataKey(trx, tenantId, ownerId, at) {
      const exists = await trx.selectFrom('data_keys').select('owner_id').where('owner_id', '=', ownerId).executeTakeFirst();
      return exists ? loadDataKey(trx, tenantId, ownerId) : createDataKey(trx, tenantId, ownerId, at);
    },
    encrypt(key, field, secret) {
      return seal(key.key, Buffer.from(secret.reveal(), 'utf8'), secretAad(key, field));
    },
    decrypt(key, field, ciphertext) {
      return new Secret(open(key.key, ciphertext, secretAad(key, field)).toString('utf8'));
    },
    fingerprint(secret) {
      const value = typeof secret === 'string' ? secret : secret.reveal();
      return createHmac('sha256', fingerprintKey).update(value, 'utf8').digest('hex');
    },
  };
}

const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export function ed25519Signer(seed: Buffer): LedgerSigner {
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(privateKey);
  const raw = publicKey.export({ format: 'der', type: 'spki' });
  const keyId = `ed25519:${createHash('sha256').update(raw).digest('hex').slice(0, 16)}`;
  return {
    keyId,
    publicKey,
    // Ed25519 takes no separate digest algorithm, hence sign(null, …).
    sign: (message) => sign(null, message, privateKey).toString('base64'),
  };
}
