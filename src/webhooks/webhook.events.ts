import type { LedgerEntry } from '../ledger/ledger.types.ts';

/**
 * What a subscription is sent, as plain rules: which ledger entries become webhook events, which
 * subscriptions take them, and the body (Standard Webhooks' recommended `{type, timestamp, data}`).
 *
 * Invariants:
 * - The ledger is the one source: an event exists exactly when its change committed.
 * - A tenant's subscription takes only entries of its tenant; a platform one takes every entry.
 * - A subscription is sent only entries after its own creation (`fromSeq`).
 * - `notice.*` entries are not sent from the ledger: notices reach subscriptions through the
 *   notifier (webhook.notifier.ts), with their recipients and message, once. `webhook.*` entries
 *   (the webhooks' own bookkeeping) are never sent, so a failing endpoint cannot feed itself.
 * - Ledger data holds no credential material (ledger.types.ts); the body carries it as is.
 */
export const MAX_FILTERS = 20;
const FILTER = /^(?:\*|[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*(?:\.\*)?)$/;

/**
 * The families of events (a type's part before its first dot) Custody sends: a filter naming
 * another family is a typo that would never fire, and is refused saying which exist.
 */
export const EVENT_FAMILIES = [
  'alert',
  'apikey',
  'approver',
  'exception',
  'finding',
  'governance',
  'keyring',
  'leak_reporter',
  'leaks',
  'notice',
  'oauth',
  'owner',
  'policy',
  'provider',
  'signal',
  'ssf',
  'tenant',
  'token',
  'usage',
  'workload',
] as const;
const FAMILIES: ReadonlySet<string> = new Set(EVENT_FAMILIES);

export function validFilter(f: string): boolean {
  return f.length <= 100 && FILTER.test(f) && (f === '*' || FAMILIES.has(f.split('.')[0]!));
}

/** Whether an event type is taken by a filter list: an exact type, a `prefix.*`, or `*`. */
export function filterTakes(filters: readonly string[], type: string): boolean {
  for (const f of filters) {
    if (f === '*' || f === type) return true;
    if (f.endsWith('.*') && type.startsWith(f.slice(0, -1))) return true;
  }
  return false;
}

/** Whether a ledger entry is sent to subscriptions at all (see the invariants above). */
export function isWebhookEvent(action: string): boolean {
  return !action.startsWith('notice.') && !action.startsWith('webhook.');
}

export interface SubscriptionView {
  id: string;
  tenantId: string | null;
  events: readonly string[];
  fromSeq: number;
}

/** Subscriptions by tenant ('' for the platform's), so routing an entry reads its tenant's and the platform's only. */
export type SubscriptionIndex<S extends SubscriptionView = SubscriptionView> = Map<string, S[]>;

export function indexSubscriptions<S extends SubscriptionView>(subs: readonly S[]): SubscriptionIndex<S> {
  const out: SubscriptionIndex<S> = new Map();
  for (const s of subs) {
    const key = s.tenantId ?? '';
    (out.get(key) ?? out.set(key, []).get(key)!).push(s);
  }
  return out;
}

/** The subscriptions that take a ledger entry: the platform's, then its tenant's. */
export function subscribersOf<S extends SubscriptionView>(entry: Pick<LedgerEntry, 'seq' | 'action' | 'tenantId'>, subs: SubscriptionIndex<S>): S[] {
  if (!isWebhookEvent(entry.action)) return [];
  const candidates = [...(subs.get('') ?? []), ...(entry.tenantId ? (subs.get(entry.tenantId) ?? []) : [])];
  return candidates.filter((s) => entry.seq > s.fromSeq && filterTakes(s.events, entry.action));
}

export interface WebhookMessage {
  /** The `webhook-id`: the same for every attempt (and every subscription) of one event. */
  id: string;
  type: string;
  body: string;
}

/** The message of a ledger entry: its id derives from the entry's position, so a redelivery keeps it. */
export function ledgerMessage(entry: LedgerEntry): WebhookMessage {
  const body = {
    type: entry.action,
    timestamp: entry.at,
    data: { ledgerSeq: entry.seq, actor: entry.actor, tenantId: entry.tenantId, subjectId: entry.subjectId, details: entry.data },
  };
  return { id: `msg_ledger_${entry.seq}`, type: entry.action, body: JSON.stringify(body) };
}
