import { SIGNAL_EVENT_NAMES, type SignalAction, type SignalEventName } from '../governance/policy.rules.ts';

/**
 * What a Security Event Token (RFC 8417) says, read as plain data once its signature and claims
 * have been verified (signal.verify.ts): which events, about which subjects. Pure functions; the
 * receiver acts on what they answer.
 *
 * Invariants:
 * - A SET is read whole or refused whole: one event Custody does not know, or one subject it
 *   cannot match, refuses the SET (RFC 8935 `invalid_request`) and nothing of it is applied.
 * - Subjects (OpenID SSF 1.0 §3, RFC 9493): `iss_sub`, `email`, `opaque`, `account` (acct: URI,
 *   read as an email), `complex` (its `user` member) and `aliases` (each of its identifiers). The
 *   subject is the event's own `subject` member (CAEP/RISC drafts) or the SET's `sub_id` (SSF 1.0).
 * - The SSF stream verification event is understood and changes nothing.
 */

const RISC = 'https://schemas.openid.net/secevent/risc/event-type/';
const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
export const SSF_VERIFICATION_EVENT = 'https://schemas.openid.net/secevent/ssf/event-type/verification';

/** The event type URIs Custody acts on, by the short name the policy (signalActions) uses. */
export const SIGNAL_EVENT_URIS: Record<SignalEventName, string> = {
  'account-disabled': `${RISC}account-disabled`,
  'account-purged': `${RISC}account-purged`,
  'credential-compromise': `${RISC}credential-compromise`,
  'sessions-revoked': `${RISC}sessions-revoked`,
  'tokens-revoked': `${RISC}tokens-revoked`,
  'session-revoked': `${CAEP}session-revoked`,
  'credential-change': `${CAEP}credential-change`,
  'token-claims-change': `${CAEP}token-claims-change`,
};
const NAME_BY_URI = new Map<string, SignalEventName>(SIGNAL_EVENT_NAMES.map((n) => [SIGNAL_EVENT_URIS[n], n]));

/** Events that mean the account left the customer: its approvals lose their approver (offboarding). */
export const OFFBOARDING_EVENTS: ReadonlySet<SignalEventName> = new Set(['account-disabled', 'account-purged']);

export type SignalSubject = { format: 'iss_sub'; iss: string; sub: string } | { format: 'email'; email: string } | { format: 'opaque'; id: string };

export interface SignalEvent {
  name: SignalEventName;
  uri: string;
  /** One subject, or several for an `aliases` subject (all name the same principal). */
  subjects: SignalSubject[];
}

export type ReadSet = { ok: true; events: SignalEvent[]; verification: boolean } | { ok: false; description: string };

const MAX_EVENTS = 10;
const MAX_ALIASES = 10;
const MAX_FIELD = 1_000;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_FIELD;

/** One subject identifier as Custody can match it, or why it cannot. */
export function readSubject(raw: unknown, depth = 0): SignalSubject[] | string {
  if (!isObject(raw)) return 'the subject must be a JSON object with a "format"';
  // Early drafts said subject_type with dashes (iss-sub); SSF 1.0 says format (iss_sub).
  const format = typeof raw.format === 'string' ? raw.format : typeof raw.subject_type === 'string' ? raw.subject_type.replace(/-/g, '_') : undefined;
  switch (format) {
    case 'iss_sub':
      return text(raw.iss) && text(raw.sub) ? [{ format: 'iss_sub', iss: raw.iss, sub: raw.sub }] : 'an iss_sub subject needs "iss" and "sub" strings';
    case 'email':
      return text(raw.email) && raw.email.includes('@') ? [{ format: 'email', email: raw.email }] : 'an email subject needs an "email" address';
    case 'account': {
      const uri = raw.uri;
      return text(uri) && /^acct:[^@\s]+@[^@\s]+$/.test(uri) ? [{ format: 'email', email: uri.slice(5) }] : 'an account subject needs an "acct:" uri';
    }
    case 'opaque':
      return text(raw.id) ? [{ format: 'opaque', id: raw.id }] : 'an opaque subject needs an "id" string';
    case 'complex':
      if (depth > 0) return 'a complex subject cannot nest another';
      // Custody holds accounts' tokens: the complex subject's user is what names them.
      return raw.user === undefined ? 'a complex subject must name a "user" (Custody acts on accounts)' : readSubject(raw.user, depth + 1);
    case 'aliases': {
      if (depth > 0) return 'an aliases subject cannot nest another';
      const ids = raw.identifiers;
      if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_ALIASES) return `an aliases subject needs 1 to ${MAX_ALIASES} "identifiers"`;
      const out: SignalSubject[] = [];
      for (const id of ids) {
        const one = readSubject(id, depth + 1);
        if (typeof one === 'string') return `an alias: ${one}`;
        out.push(...one);
      }
      return out;
    }
    case undefined:
      return 'the subject has no "format"';
    default:
      return `subject format "${format.slice(0, 50)}" is not one Custody can match (iss_sub, email, account, opaque, complex, aliases)`;
  }
}

/** The events of a verified SET's payload, whole, or why it is refused. */
export function readSetEvents(payload: Record<string, unknown>): ReadSet {
  const events = payload.events;
  if (!isObject(events)) return { ok: false, description: 'The SET has no "events" object (RFC 8417 §2.2).' };
  const uris = Object.keys(events);
  if (uris.length === 0) return { ok: false, description: 'The SET\'s "events" object is empty; it must name at least one event type.' };
  if (uris.length > MAX_EVENTS) return { ok: false, description: `The SET names ${uris.length} events; at most ${MAX_EVENTS} are accepted in one SET.` };
  const out: SignalEvent[] = [];
  let verification = false;
  for (const uri of uris) {
    const body = events[uri];
    if (!isObject(body)) return { ok: false, description: `The payload of event ${uri.slice(0, 200)} must be a JSON object.` };
    if (uri === SSF_VERIFICATION_EVENT) {
      verification = true;
      continue;
    }
    const name = NAME_BY_URI.get(uri);
    if (!name) {
      return { ok: false, description: `Event type ${uri.slice(0, 200)} is not one this receiver acts on; nothing of this SET was applied. Accepted: ${Object.values(SIGNAL_EVENT_URIS).join(', ')}, and the SSF verification event.` };
    }
    const rawSubject = body.subject ?? payload.sub_id;
    if (rawSubject === undefined) return { ok: false, description: `Event ${name} names no subject (neither the event's "subject" nor the SET's "sub_id").` };
    const subjects = readSubject(rawSubject);
    if (typeof subjects === 'string') return { ok: false, description: `Event ${name}: ${subjects}.` };
    out.push({ name, uri, subjects });
  }
  return { ok: true, events: out, verification };
}

const STRENGTH: Record<SignalAction, number> = { flag: 0, suspend: 1, revoke: 2 };

/** The stronger of two actions (several events of one SET may name one token). */
export function strongerAction(a: SignalAction | undefined, b: SignalAction): SignalAction {
  return a === undefined || STRENGTH[b] > STRENGTH[a] ? b : a;
}

/** The alert severity of a flagged token, by what the event says happened. */
export function severityOf(name: SignalEventName): 'medium' | 'high' | 'critical' {
  if (name === 'credential-compromise' || name === 'account-purged') return 'critical';
  if (name === 'account-disabled' || name === 'tokens-revoked' || name === 'sessions-revoked') return 'high';
  return 'medium';
}

/** How a subject is written in the ledger and alerts (no more than the transmitter sent). */
export function describeSubject(s: SignalSubject): string {
  if (s.format === 'iss_sub') return `${s.sub} at ${s.iss}`;
  if (s.format === 'email') return s.email;
  return `opaque:${s.id}`;
}
