import { randomBytes } from 'node:crypto';

/**
 * Ids are a prefix plus a 26-character, time-ordered, Crockford base32 body (ULID layout: 48 bits
 * of milliseconds, 80 random bits). Time order makes `ORDER BY id` a stable, index-friendly
 * creation order for cursor paging.
 */
export const ID_PREFIXES = {
  tenant: 'ten',
  provider: 'prv',
  token: 'tok',
  apiKey: 'key',
  oauthFlow: 'flw',
  outboxJob: 'job',
  alert: 'alr',
  connectLink: 'lnk',
  owner: 'own',
  workload: 'wkl',
  finding: 'fnd',
  exception: 'exc',
  notice: 'ntc',
  webhook: 'whk',
  webhookDelivery: 'whd',
  leakReporter: 'lrp',
  transmitter: 'ssf',
  ssfStream: 'sfs',
  reviewCampaign: 'rvw',
  reviewItem: 'rvi',
  consoleSession: 'ses',
} as const;

export type IdKind = keyof typeof ID_PREFIXES;

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const BODY = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/**
 * Random bytes are taken from a pool refilled 4 KiB at a time: one `randomBytes(16)` call per id
 * cost ~10 µs (a bulk revocation makes two ids a token), one 4 KiB call a few. Each byte is
 * used once; the pool is never exposed.
 */
const POOL_SIZE = 4096;
let pool = randomBytes(POOL_SIZE);
let poolAt = 0;

export function newId(kind: IdKind, now: number = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  if (poolAt + 16 > POOL_SIZE) {
    pool = randomBytes(POOL_SIZE);
    poolAt = 0;
  }
  let rand = '';
  for (let i = 0; i < 16; i++) rand += ALPHABET[pool[poolAt + i]! % 32];
  poolAt += 16;
  return `${ID_PREFIXES[kind]}_${time}${rand}`;
}

export function isId(kind: IdKind, value: string): boolean {
  const prefix = `${ID_PREFIXES[kind]}_`;
  return value.startsWith(prefix) && BODY.test(value.slice(prefix.length));
}

/** A pattern for JSON schemas, so a malformed id is a 400 before it reaches a service. */
export function idPattern(kind: IdKind): string {
  return `^${ID_PREFIXES[kind]}_[0-9A-HJKMNP-TV-Z]{26}$`;
}
