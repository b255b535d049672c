/**
 * The Security Event Tokens Custody transmits (RFC 8417, profiled by OpenID SSF 1.0 and CAEP 1.0),
 * as plain data: which event types exist, which a stream delivers, and the claims of one SET.
 * Pure: no keys, no database, no HTTP. Signing happens at delivery time (ssf.push.ts).
 */

export const PUSH_DELIVERY = 'urn:ietf:rfc:8935';

export const EVENT = {
  sessionRevoked: 'https://schemas.openid.net/secevent/caep/event-type/session-revoked',
  credentialChange: 'https://schemas.openid.net/secevent/caep/event-type/credential-change',
  verification: 'https://schemas.openid.net/secevent/ssf/event-type/verification',
} as const;

/** What a receiver may ask for (events_supported); verification events go to every stream. */
export const EVENTS_SUPPORTED: readonly string[] = [EVENT.sessionRevoked, EVENT.credentialChange];

/** The kinds of event an outbox job carries (its payload names one). */
export type EmittedEvent = 'session-revoked' | 'credential-change' | 'verification';

export const EVENT_URI: Record<EmittedEvent, string> = {
  'session-revoked': EVENT.sessionRevoked,
  'credential-change': EVENT.credentialChange,
  verification: EVENT.verification,
};

/** events_delivered: the requested events Custody supports, in the order asked (SSF 1.0 §8.1.1). */
export function eventsDelivered(requested: readonly string[]): string[] {
  return [...new Set(requested.filter((e) => EVENTS_SUPPORTED.includes(e)))];
}

/** The event a token's change of state is told as, or null when it is not told at all. */
export function eventForTransition(to: string): EmittedEvent | null {
  if (to === 'revoked') return 'session-revoked';
  if (to === 'suspended') return 'credential-change';
  return null;
}

/** Who started the change, in CAEP's words (initiating_entity). */
export function initiatingEntity(actor: string): 'admin' | 'policy' | 'system' {
  // A person acts through an API key (or a console login); governance enforcement and detection's
  // automatic suspension act under a policy; the issuer (invalid_grant), incoming signals
  // (ssf:…), leak reports (leak:…) and Custody's own workers (system:…) are systems.
  if (actor.startsWith('apikey:') || actor.startsWith('user:')) return 'admin';
  if (actor === 'policy' || actor === 'detection') return 'policy';
  return 'system';
}

/** What an outbox job of kind ssf_push carries: facts of the change, never credentials. */
export interface PushPayload {
  /** The worker's peer key (outbox.worker.ts): a receiver that pushes back holds back its own stream's jobs only. */
  providerId: string;
  streamId: string;
  event: EmittedEvent;
  /** The SET's id, fixed when the event is queued: a redelivery repeats it, so receivers can drop the copy. */
  jti: string;
  /** The token change (or verification request) the SET tells of. */
  txn: string;
  at: string;
  tokenId?: string;
  reason?: string;
  initiatingEntity?: 'admin' | 'policy' | 'system';
  /** Verification events: the receiver's state value, echoed. */
  state?: string;
}

/** What is known of the token when the SET is made (read at delivery time). */
export interface TokenSubject {
  tokenId: string;
  tenantId: string;
  /** The provider's issuer and the account's subject there, when both are known. */
  issuer: string | null;
  subject: string | null;
}

/**
 * The subject of a token event: a complex subject (SSF 1.0 §3) whose `session` is Custody's token
 * id (opaque: the grant the platform holds), whose `user` is the account at the provider that
 * granted it (iss_sub, when Custody knows both), and whose `tenant` is the customer's tenant id.
 */
export function tokenSubject(t: TokenSubject): Record<string, unknown> {
  return {
    format: 'complex',
    session: { format: 'opaque', id: t.tokenId },
    ...(t.issuer && t.subject ? { user: { format: 'iss_sub', iss: t.issuer, sub: t.subject } } : {}),
    tenant: { format: 'opaque', id: t.tenantId },
  };
}

/** The claims of one SET, unsigned. `iat` is the signing time (seconds). */
export function setClaims(input: { issuer: string; audience: string; streamId: string; iat: number; job: PushPayload; token: TokenSubject | null }): Record<string, unknown> {
  const { job } = input;
  const base = { iss: input.issuer, aud: input.audience, iat: input.iat, jti: job.jti, txn: job.txn };
  if (job.event === 'verification') {
    // SSF 1.0 §8.1.4.1: the stream itself is the subject; the state is echoed when given.
    const subject = { format: 'opaque', id: input.streamId };
    return { ...base, sub_id: subject, events: { [EVENT.verification]: job.state === undefined ? {} : { state: job.state } } };
  }
  if (!input.token) throw new Error('a token event needs its token');
  const subject = tokenSubject(input.token);
  const common = {
    subject,
    event_timestamp: Math.floor(Date.parse(job.at) / 1000),
    initiating_entity: job.initiatingEntity ?? 'admin',
    ...(job.reason ? { reason_admin: { en: job.reason } } : {}),
  };
  const event =
    job.event === 'session-revoked'
      ? common
      : // A suspension keeps the grant and can be lifted: the credential was updated (made unusable), not revoked.
        { ...common, credential_type: 'app', change_type: 'update', friendly_name: `OAuth grant ${input.token.tokenId}${input.token.issuer ? ` at ${input.token.issuer}` : ''}` };
  // SSF 1.0 places the subject at the top (sub_id); CAEP 1.0 events carry it in the event too. Both say the same.
  return { ...base, sub_id: subject, events: { [EVENT_URI[job.event]]: event } };
}
