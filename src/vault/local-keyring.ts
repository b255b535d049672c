import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { KeyringSource } from '../config/config.ts';
import { open, seal } from './aead.ts';
import { KmsError, type Kms } from './kms.ts';

/**
 * The local keyring: versioned 256-bit key-encryption keys, from CUSTODY_KEYRING
 * ("1:<base64>,2:<base64>") or from a JSON key file (mode 0600). The highest version is current.
 * A file keyring is re-read when asked for a version it does not know, so a running server keeps
 * working while `custody keys rotate` adds a version.
 */
export interface KeyFile {
  keys: { version: number; key: string; createdAt: string }[];
}

export interface LocalKeyring extends Kms {
  readonly source: KeyringSource;
  /** Re-reads a file keyring if it changed on disk. */
  reload(): boolean;
}

export function parseInlineKeyring(value: string): Map<number, Buffer> {
  const keys = new Map<number, Buffer>();
  for (const part of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\d+):([A-Za-z0-9+/=_-]+)$/.exec(part);
    if (!m) throw new KmsError('CUSTODY_KEYRING: each entry must be VERSION:BASE64KEY, e.g. 1:q3N…= (generate one with `custody keys generate`)');
    const key = Buffer.from(m[2]!, 'base64');
    if (key.length !== 32) throw new KmsError(`CUSTODY_KEYRING: key version ${m[1]} must be 32 bytes (base64 of 32 random bytes), got ${key.length}`);
    keys.set(Number(m[1]), key);
  }
  if (keys.size === 0) throw new KmsError('CUSTODY_KEYRING: no keys found');
  return keys;
}

function parseKeyFile(file: string): Map<number, Buffer> {
  let parsed: KeyFile;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as KeyFile;
  } catch (err) {
    throw new KmsError(`key file ${file} cannot be read: ${(err as Error).message}`);
  }
  const keys = new Map<number, Buffer>();
  for (const k of parsed.keys ?? []) {
    const key = Buffer.from(k.key, 'base64');
    if (!Number.isInteger(k.version) || k.version < 1 || key.length !== 32) throw new KmsError(`key file ${file}: version ${k.version} is malformed`);
    keys.set(k.version, key);
  }
  if (keys.size === 0) throw new KmsError(`key file ${file} holds no keys`);
  return keys;
}

export function generateKeyMaterial(): string {
  return randomBytes(32).toString('base64');
}

/** Writes the file atomically with mode 0600: a crash leaves the old file or the new one, never half. */
export function writeKeyFile(file: string, content: KeyFile): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(content, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
}

export function readKeyFile(file: string): KeyFile {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as KeyFile;
}

/** Adds a new version to a file keyring and returns it. */
export function addKeyVersion(file: string, now: Date): number {
  const content = readKeyFile(file);
  const version = Math.max(0, ...content.keys.map((k) => k.version)) + 1;
  content.keys.push({ version, key: generateKeyMaterial(), createdAt: now.toISOString() });
  writeKeyFile(file, content);
  return version;
}

export interface OpenKeyringResult {
  keyring: LocalKeyring;
  /** Set when a development key file was generated just now. */
  createdFile?: string;
  /** Set when the key file can be read by other users than its owner. */
  looseFileMode?: string;
}

export function openLocalKeyring(source: KeyringSource, now: Date = new Date()): OpenKeyringResult {
  let createdFile: string | undefined;
  if (source.kind === 'file' && !fs.existsSync(source.file)) {
    if (!source.createIfMissing) {
      throw new KmsError(
        `no keyring: ${source.file} does not exist. Set CUSTODY_KEYRING_FILE to the key file this database's credentials are encrypted under ` +
          `(or CUSTODY_KEYRING to its keys). Custody generates a key file only when \`custody serve\` starts a new development database, never in production.`,
      );
    }
    writeKeyFile(source.file, { keys: [{ version: 1, key: generateKeyMaterial(), createdAt: now.toISOString() }] });
    createdFile = source.file;
  }
  let keys = source.kind === 'inline' ? parseInlineKeyring(source.value) : parseKeyFile(source.file);
  let mtime = source.kind === 'file' ? fs.statSync(source.file).mtimeMs : 0;

  const reload = (): boolean => {
    if (source.kind !== 'file') return false;
    const m = fs.statSync(source.file).mtimeMs;
    if (m === mtime) return false;
    keys = parseKeyFile(source.file);
    mtime = m;
    return true;
  };
  const current = () => Math.max(...keys.keys());
  const keyFor = (version: number): Buffer => {
    let key = keys.get(version);
    if (!key && reload()) key = keys.get(version);
    if (!key) throw new KmsError(`key-encryption key version ${version} is not in the keyring`);
    return key;
  };

  const keyring: LocalKeyring = {
    name: source.kind === 'inline' ? 'local keyring (CUSTODY_KEYRING)' : `local keyring (${source.file})`,
    source,
    reload,
    currentVersion: async () => current(),
    versions: async () => [...keys.keys()].sort((a, b) => a - b),
    wrap: async (dataKey, aad) => {
      const version = current();
      return { version, wrapped: seal(keyFor(version), dataKey, aad) };
    },
    unwrap: async (wrapped, version, aad) => {
      try {
        return open(keyFor(version), wrapped, aad);
      } catch (err) {
        if (err instanceof KmsError) throw err;
        throw new KmsError('a data key failed to unwrap: wrong key, or the record was altered or moved');
      }
    },
  };
  const mode = source.kind === 'file' ? fs.statSync(source.file).mode & 0o777 : 0;
  const looseFileMode = (mode & 0o077) !== 0 ? mode.toString(8).padStart(4, '0') : undefined;
  return { keyring, ...(createdFile ? { createdFile } : {}), ...(looseFileMode ? { looseFileMode } : {}) };
}
