import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';
import { checkpointMessage } from '../ledger/ledger.chain.ts';
import type { ComplianceReport, SignedReport } from './report.contract.ts';

/**
 * Signing and verifying a compliance report, as plain functions: the server signs with the
 * ledger's key, `custody report verify` and the tests check with its public key.
 *
 * What is signed: the RFC 8785 (JCS) serialisation of `report`, as UTF-8 bytes, with Ed25519. JCS
 * fixes key order, whitespace and number form, so the JSON may be re-indented or re-ordered in
 * transit and still verify, while any change to a name or value does not. The same key signs
 * ledger checkpoints (`custody-ledger-checkpoint:v1:…`); a JCS text always starts with `{`, so
 * no report can be mistaken for a checkpoint or the other way round.
 */

export interface ReportSigner {
  readonly keyId: string;
  sign(message: Buffer): string;
}

export function canonicalBytes(report: unknown): Buffer {
  const text = canonicalize(report);
  if (text === undefined) throw new Error('the report cannot be serialised (RFC 8785)');
  return Buffer.from(text, 'utf8');
}

export function signReport(report: ComplianceReport, signer: ReportSigner): SignedReport {
  return { report, signature: { alg: 'EdDSA', keyId: signer.keyId, canonicalization: 'RFC8785', value: signer.sign(canonicalBytes(report)) } };
}

/** A key's id as Custody names it: `ed25519:` and the first 16 hex digits of the SHA-256 of its SPKI DER (vault.service.ts). */
export function keyIdOf(publicKey: KeyObject): string {
  return `ed25519:${createHash('sha256').update(publicKey.export({ format: 'der', type: 'spki' })).digest('hex').slice(0, 16)}`;
}

/**
 * An Ed25519 public key from text: PEM (SPKI), a JWK (`{"kty":"OKP","crv":"Ed25519","x":…}`), or
 * what GET /v1/ledger/key answers (`{keyId, jwk, pem}`). Throws with a reason on anything else.
 */
export function publicKeyFrom(text: string): KeyObject {
  const trimmed = text.trim();
  let key: KeyObject;
  if (trimmed.startsWith('-----BEGIN')) {
    key = createPublicKey({ key: trimmed, format: 'pem' });
  } else {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new Error('the key is neither PEM nor JSON (a JWK, or the answer of GET /v1/ledger/key)');
    }
    const jwk = (parsed as { jwk?: unknown }).jwk ?? parsed;
    if (typeof jwk !== 'object' || jwk === null || (jwk as { kty?: unknown }).kty !== 'OKP' || (jwk as { crv?: unknown }).crv !== 'Ed25519') {
      throw new Error('the key is not an Ed25519 JWK ({"kty":"OKP","crv":"Ed25519","x":…})');
    }
    const { kty, crv, x } = jwk as { kty: string; crv: string; x: string };
    key = createPublicKey({ key: { kty, crv, x }, format: 'jwk' });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`the key is ${key.asymmetricKeyType ?? 'not an asymmetric key'}, not Ed25519`);
  return key;
}

export interface ReportVerification {
  /** The report's signature and its embedded checkpoint's both verify with the key. */
  ok: boolean;
  /** Each reason it does not, in words. */
  problems: string[];
  /** The id of the key it was checked with. */
  keyId: string;
  signature: { keyId: string | null; valid: boolean };
  /** The ledger head the report is tied to; null when it embeds none. */
  checkpoint: { seq: number; hash: string; at: string; keyId: string; valid: boolean } | null;
  period: { from: string; to: string } | null;
  generatedAt: string | null;
  scope: { tenantId: string | null; tenantName: string | null } | null;
}

function safeVerify(message: Buffer, signature: unknown, key: KeyObject): boolean {
  if (typeof signature !== 'string') return false;
  const bytes = Buffer.from(signature, 'base64');
  // Only the one canonical base64 text of the bytes: a change in a final character's unused bits is a change too.
  if (bytes.toString('base64') !== signature) return false;
  try {
    return verify(null, message, key, bytes);
  } catch {
    return false;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks a signed report (parsed JSON) against the ledger's public key: the signature over the
 * report's JCS bytes, and the signature of the ledger checkpoint it embeds (over
 * `custody-ledger-checkpoint:v1:{seq}:{hash}`, as the ledger signs them). Both must verify with
 * the key; a report that embeds no checkpoint is refused too, since it ties to no ledger head.
 */
export function verifyReport(doc: unknown, publicKey: KeyObject): ReportVerification {
  const keyId = keyIdOf(publicKey);
  const problems: string[] = [];
  const out: ReportVerification = { ok: false, problems, keyId, signature: { keyId: null, valid: false }, checkpoint: null, period: null, generatedAt: null, scope: null };
  if (!isObject(doc) || !isObject(doc.report) || !isObject(doc.signature)) {
    problems.push('this is not a signed Custody compliance report ({report, signature})');
    return out;
  }
  const { report, signature } = doc;
  out.signature.keyId = typeof signature.keyId === 'string' ? signature.keyId : null;
  if (signature.alg !== 'EdDSA') problems.push(`the signature's algorithm is ${JSON.stringify(signature.alg)}, not EdDSA`);
  if (signature.canonicalization !== 'RFC8785') problems.push(`the signature names canonicalization ${JSON.stringify(signature.canonicalization)}, not RFC8785`);
  if (out.signature.keyId !== keyId) problems.push(`the report names signing key ${out.signature.keyId ?? '(none)'}, but the key given is ${keyId}`);
  let bytes: Buffer | null = null;
  try {
    bytes = canonicalBytes(report);
  } catch {
    problems.push('the report cannot be serialised (RFC 8785)');
  }
  out.signature.valid = bytes !== null && safeVerify(bytes, signature.value, publicKey);
  if (!out.signature.valid) problems.push('the signature does not match the report: it was changed after signing, or signed with another key');

  const period = report.period;
  if (isObject(period) && typeof period.from === 'string' && typeof period.to === 'string') out.period = { from: period.from, to: period.to };
  if (typeof report.generatedAt === 'string') out.generatedAt = report.generatedAt;
  const scope = report.scope;
  if (isObject(scope)) out.scope = { tenantId: typeof scope.tenantId === 'string' ? scope.tenantId : null, tenantName: typeof scope.tenantName === 'string' ? scope.tenantName : null };

  const cp = isObject(report.ledger) ? report.ledger.checkpoint : undefined;
  if (isObject(cp) && Number.isSafeInteger(cp.seq) && typeof cp.hash === 'string' && typeof cp.keyId === 'string' && typeof cp.at === 'string') {
    const seq = cp.seq as number;
    const valid = cp.keyId === keyId && /^[0-9a-f]{64}$/.test(cp.hash) && safeVerify(checkpointMessage(seq, cp.hash), cp.signature, publicKey);
    out.checkpoint = { seq, hash: cp.hash, at: cp.at, keyId: cp.keyId, valid };
    if (!valid) problems.push(`the embedded ledger checkpoint (seq ${seq}) is not signed by ${keyId}`);
  } else {
    problems.push('the report embeds no signed ledger checkpoint, so it ties to no ledger head');
  }
  out.ok = problems.length === 0;
  return out;
}

/**
 * The keys a JSON text names twice in one object. JSON.parse keeps the last of them, so a report
 * with a forged figure ahead of the signed one would verify while a reader (or a parser keeping the
 * first) saw the forgery: `custody report verify` refuses any repeat. `text` must already parse.
 */
export function duplicateKeys(text: string): string[] {
  const found: string[] = [];
  const stack: { keys: Set<string> | null; expectKey: boolean }[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) found.push(key);
        else top.keys.add(key);
        top.expectKey = false;
      }
      i = j;
    } else if (c === '{') stack.push({ keys: new Set(), expectKey: true });
    else if (c === '[') stack.push({ keys: null, expectKey: false });
    else if (c === '}' || c === ']') stack.pop();
    else if (c === ',') {
      const top = stack[stack.length - 1];
      if (top?.keys) top.expectKey = true;
    }
  }
  return found;
}
