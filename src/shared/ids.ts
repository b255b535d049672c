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

export function newId(kind: IdKind, now: number = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const bytes = randomBytes(16);
  let rand = '';
  for (let i = 0; i < 16; i++) rand += ALPHABET[bytes[i]! % 32];
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
