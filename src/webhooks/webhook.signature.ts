import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Secret } from '../shared/secret.ts';

/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com, "Signature scheme"): the
 * secret is `whsec_` + base64 of 24–64 random bytes; a message is signed with HMAC-SHA256 under
 * those bytes over `${webhook-id}.${webhook-timestamp}.${body}` and sent as
 * `webhook-signature: v1,<base64>` (several space-separated during a secret's rotation). Pure:
 * no I/O, so the receiver in the tests and any customer can check it the same way.
 */
export const SECRET_PREFIX = 'whsec_';
/** How far a receiver should accept the timestamp from its own clock (the spec's suggestion: 5 minutes). */
export const TIMESTAMP_TOLERANCE_SECONDS = 300;

/** A new signing secret (32 random bytes), in a Secret so it cannot reach a log line by accident. */
export function newWebhookSecret(): Secret {
  return new Secret(`${SECRET_PREFIX}${randomBytes(32).toString('base64')}`);
}

function keyOf(secret: Secret): Buffer {
  const text = secret.reveal();
  return Buffer.from(text.startsWith(SECRET_PREFIX) ? text.slice(SECRET_PREFIX.length) : text, 'base64');
}

/** The `webhook-signature` header value for one message. */
export function signMessage(secret: Secret, messageId: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', keyOf(secret)).update(`${messageId}.${timestampSeconds}.${body}`, 'utf8').digest('base64');
  return `v1,${mac}`;
}

/**
 * A receiver's check: a `v1` signature among those sent matches (compared in constant time), and
 * the timestamp is within the tolerance of `nowSeconds` (a replayed old message is refused).
 */
export function verifyMessage(secret: Secret, headers: { id: string; timestamp: string; signature: string }, body: string, nowSeconds: number): boolean {
  if (!/^\d{1,12}$/.test(headers.timestamp)) return false;
  const ts = Number(headers.timestamp);
  if (Math.abs(nowSeconds - ts) > TIMESTAMP_TOLERANCE_SECONDS) return false;
  const expected = Buffer.from(signMessage(secret, headers.id, ts, body).slice(3), 'base64');
  for (const part of headers.signature.split(' ')) {
    const [version, sig] = part.split(',', 2);
    if (version !== 'v1' || !sig) continue;
    const given = Buffer.from(sig, 'base64');
    if (given.length === expected.length && timingSafeEqual(given, expected)) return true;
  }
  return false;
}
