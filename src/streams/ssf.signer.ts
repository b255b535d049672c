import { createECDH, createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, SignJWT, type JWK } from 'jose';
import type { Clock } from '../shared/clock.ts';
import type { Db } from '../storage/database.ts';
import { GLOBAL_SCOPE, type Vault } from '../vault/vault.service.ts';

/** The vault's system record whose 32 random bytes are the transmitter's ES256 private key. */
const SIGNING_KEY_OWNER = 'sys:ssf-signing';

export const SET_ALG = 'ES256';

export interface SsfSigner {
  /** The public key as published in the JWKS, with its kid (the RFC 7638 thumbprint). */
  readonly publicJwk: JWK & { kid: string };
  sign(claims: Record<string, unknown>): Promise<string>;
}

const b64u = (b: Buffer) => b.toString('base64url');

/**
 * A P-256 key from 32 bytes. The bytes are the private scalar; the one in about 2^32 byte strings
 * that is not a valid scalar is hashed once more, deterministically, so every instance derives
 * the same key from the same stored bytes.
 */
export function p256FromSeed(seed: Buffer): { privateKey: KeyObject; publicKey: KeyObject } {
  for (let i = 0; i < 8; i++) {
    const d = i === 0 ? seed : createHash('sha256').update(seed).update(`custody:ssf:${i}`).digest();
    try {
      const ecdh = createECDH('prime256v1');
      ecdh.setPrivateKey(d);
      const pub = ecdh.getPublicKey();
      const jwk = { kty: 'EC', crv: 'P-256', x: b64u(pub.subarray(1, 33)), y: b64u(pub.subarray(33, 65)), d: b64u(d) };
      const privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
      return { privateKey, publicKey: createPublicKey(privateKey) };
    } catch {
      // Not a valid scalar: derive the next candidate.
    }
  }
  throw new Error('could not derive a P-256 key from the stored seed');
}

async function signerFrom(seed: Buffer): Promise<SsfSigner> {
  const { privateKey, publicKey } = p256FromSeed(seed);
  const exported = publicKey.export({ format: 'jwk' }) as JWK;
  const base: JWK = { kty: 'EC', crv: 'P-256', x: exported.x!, y: exported.y! };
  const kid = await calculateJwkThumbprint(base, 'sha256');
  const publicJwk = { ...base, kid, use: 'sig', alg: SET_ALG };
  return {
    publicJwk,
    sign: (claims) => new SignJWT(claims).setProtectedHeader({ alg: SET_ALG, kid, typ: 'secevent+jwt' }).sign(privateKey),
  };
}

/**
 * The transmitter's signing key, kept by the vault like the ledger's: a system data key (random,
 * wrapped by the keyring, re-wrapped by key rotation), made the first time a stream is created —
 * never by a public request — and read once per process after that. `current()` answers null
 * while no stream was ever created (the JWKS is then empty; no SET has been signed).
 */
export function createSsfKeys(deps: { vault: Vault; db: Db; clock: Clock }) {
  const { vault, db, clock } = deps;
  let signer: Promise<SsfSigner> | null = null;

  async function load(): Promise<SsfSigner | null> {
    let seed: Buffer;
    try {
      seed = (await vault.loadDataKey(db, GLOBAL_SCOPE, SIGNING_KEY_OWNER)).key;
    } catch (err) {
      // The vault's answer for a record without a key; anything else (a keyring that cannot unwrap) is a real failure.
      if ((err as Error).message.startsWith('no data key')) return null;
      throw err;
    }
    return signerFrom(seed);
  }

  return {
    /** The signer, if the key exists (public routes: reads only). Once found, kept. */
    async current(): Promise<SsfSigner | null> {
      if (signer) return signer;
      const found = await load();
      if (found) signer = Promise.resolve(found);
      return found;
    },
    /** The signer, making the key first if there is none (stream creation, delivery). */
    async ensure(): Promise<SsfSigner> {
      signer ??= (async () => {
        const found = await load();
        if (found) return found;
        try {
          await db.transaction().execute((trx) => vault.ensureDataKey(trx, GLOBAL_SCOPE, SIGNING_KEY_OWNER, clock.now()));
        } catch {
          // Another instance made it at the same moment: read theirs.
        }
        const made = await load();
        if (!made) throw new Error('the SSF signing key could not be created');
        return made;
      })().catch((err: unknown) => {
        signer = null;
        throw err;
      });
      return signer;
    },
  };
}

export type SsfKeys = ReturnType<typeof createSsfKeys>;
