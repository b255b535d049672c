import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { CustodyError } from '../shared/errors.ts';

/**
 * The reporter's signature, as the secret-scanning partner programs define it: ECDSA P-256 with
 * SHA-256 over the exact bytes of the body, DER-encoded and then base64. Pure functions over
 * node:crypto; no state, no I/O.
 */

/** A DER ECDSA P-256 signature is at most 72 bytes: base64 of it at most 96 characters (some slack for padding variants). */
const MAX_SIGNATURE_CHARS = 128;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The key of a PEM, or leak_public_key_invalid unless it is an ECDSA P-256 public key (SPKI). */
export function parseReporterKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    if (!pem.includes('-----BEGIN PUBLIC KEY-----')) throw new Error('not SPKI');
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    throw new CustodyError('leak_public_key_invalid');
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new CustodyError('leak_public_key_invalid', `The public key must be ECDSA P-256 (got ${key.asymmetricKeyType === 'ec' ? `curve ${key.asymmetricKeyDetails?.namedCurve ?? 'unknown'}` : `a ${key.asymmetricKeyType ?? 'unknown'} key`}).`);
  }
  return key;
}

/** The key in the canonical PEM form (what is stored), and a short fingerprint of it for the ledger. */
export function canonicalKey(key: KeyObject): { pem: string; thumbprint: string } {
  const der = key.export({ format: 'der', type: 'spki' });
  return { pem: key.export({ format: 'pem', type: 'spki' }).toString(), thumbprint: `sha256:${createHash('sha256').update(der).digest('hex').slice(0, 32)}` };
}

/** Whether `signature` (base64 DER) is the key's ECDSA P-256 SHA-256 signature of `body`. Never throws. */
export function verifyReportSignature(key: KeyObject, body: Buffer, signature: string): boolean {
  const text = signature.trim();
  if (text.length === 0 || text.length > MAX_SIGNATURE_CHARS || !BASE64.test(text)) return false;
  try {
    return verify('sha256', body, { key, dsaEncoding: 'der' }, Buffer.from(text, 'base64'));
  } catch {
    return false;
  }
}
