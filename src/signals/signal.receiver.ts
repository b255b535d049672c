import type { SignalAction, SignalEventName } from '../governance/policy.rules.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { Clock } from '../shared/clock.ts';
import type { Logger } from '../shared/logger.ts';
import type { Db, Storage } from '../storage/database.ts';
import type { SsfTransmittersTable } from '../storage/schema.ts';
import type { TokenService, TokenWork } from '../tokens/token.service.ts';
import type { SignalTargetRow, TokenSignalTargets } from '../tokens/token.signal-targets.ts';
import { EMAIL_ISSUER, OPAQUE_ISSUER, type ApproverService } from './approver.service.ts';
import { createRefusalRollup } from './signal.refusals.ts';
import { describeSubject, OFFBOARDING_EVENTS, readSetEvents, severityOf, strongerAction, type SignalEvent } from './signal.rules.ts';
import { createSetVerifier, REPLAY_HOLD_MS, SetRefusal, type SetErrorCode } from './signal.verify.ts';
import type { TransmitterService } from './transmitter.service.ts';
import type { Resolver } from '../gateway/ssrf-guard.ts';

/** What the receiver needs of alerts (src/alerts): raise, de-duplicated per token and kind, in the caller's transaction. */
export interface SignalAlerts {
  raise(
    trx: Db,
    alert: { kind: string; severity: 'low' | 'medium' | 'high' | 'critical'; tenantId: string | null; subjectId: string | null; message: string; data?: Record<string, unknown>; evidence?: { kind: string; [k: string]: unknown } },
    at: Date,
  ): Promise<{ id: string; created: boolean }>;
}

/** The answer to one push (RFC 8935 §2.2–2.4): 202, or an error with its code and a description. */
export type PushAnswer = { status: 202 } | { status: 400 | 503; body: { err: SetErrorCode; description: string } };

/** Expired jtis are pruned at most this often (per instance), inside an accepting transaction. */
const PRUNE_EVERY_MS = 60_000;

interface Planned {
  row: SignalTargetRow;
  action: SignalAction;
  events: Set<SignalEventName>;
}

/**
 * The Shared Signals push receiver (RFC 8935) of Security Event Tokens (RFC 8417, CAEP, RISC).
 *
 * Invariants:
 * - A SET is applied whole or not at all: its replay record, every token transition, alert,
 *   offboarding and its `signal.received` entry commit in one unit of work; a refusal changes no token.
 * - Only a SET whose signature verified against a configured, enabled transmitter acts, and only
 *   on that transmitter's tenant's tokens. A jti is accepted once per transmitter (held while a SET
 *   bearing it could still pass the iat window, then pruned).
 * - Nothing anyone can repeat at will grows the ledger entry by entry: a refusal that cannot be tied
 *   to a transmitter, and every refusal of a verified SET that whoever captured it could send again
 *   (a replayed jti, too old or not yet valid, a failing claim or jti), is rolled up per minute,
 *   transmitter and code with a count and the jtis (signal.refusals.ts). Only the first refusal of
 *   a verified SET's jti for what it says (an unknown event type, a subject format not matched) is
 *   ledgered on its own: its jti is held as an accepted one's is, in the same transaction, so a
 *   replay of it is a replay, rolled up.
 * - A SET with U+0000 anywhere in its header or claims is refused before any database access.
 * - Actions come from the tenant's effective policy (`signalActions`): flag raises an alert;
 *   suspend is a `signal` suspension; revoke revokes here and upstream (the outbox, through the
 *   token lifecycle). The gateway hears of each change when the unit of work commits.
 * - Tokens named as the account at the issuer get the policy's action. Tokens named only as the
 *   account's approvals get approver offboarding for account-disabled / account-purged (their
 *   approver becomes inactive; governance enforcement takes it from there), and a flag otherwise:
 *   an event about the approver's own session says nothing about a credential they approved for another account.
 */
export function createSignalReceiver(deps: {
  storage: Storage;
  ledger: LedgerService;
  clock: Clock;
  logger: Logger;
  transmitters: TransmitterService;
  tokens: TokenService;
  targets: TokenSignalTargets;
  approvers: ApproverService;
  alerts: SignalAlerts;
  signalActions: (tenantId: string) => Promise<Record<SignalEventName, SignalAction>>;
  jwksTimeoutMs?: number;
  /** Production: a JWKS URL's private and loopback addresses are never fetched, even for a development transmitter. */
  production?: boolean;
  /** The resolver the JWKS fetch's SSRF guard uses (tests). */
  resolve?: Resolver;
}) {
  const { storage, ledger, clock, tokens, targets } = deps;
  const verifier = createSetVerifier({ ...(deps.jwksTimeoutMs !== undefined ? { jwksTimeoutMs: deps.jwksTimeoutMs } : {}), production: deps.production ?? false, ...(deps.resolve ? { resolve: deps.resolve } : {}) });
  const rollup = createRefusalRollup(deps);
  const outcomeListeners: ((outcome: 'accepted' | SetErrorCode) => void)[] = [];
  let lastPrune = 0;

  async function plan(work: TokenWork, t: SsfTransmittersTable, events: SignalEvent[], actions: Record<SignalEventName, SignalAction>) {
    const planned = new Map<string, Planned>();
    const offboardRows = new Map<string, SignalTargetRow>();
    const offboardApprovers: { issuer: string; subject: string }[] = [];
    const add = (row: SignalTargetRow, action: SignalAction, name: SignalEventName) => {
      const p = planned.get(row.id);
      if (p) {
        p.action = strongerAction(p.action, action);
        p.events.add(name);
      } else planned.set(row.id, { row, action, events: new Set([name]) });
    };
    for (const event of events) {
      for (const subject of event.subjects) {
        const accountRows = await targets.accountTokens(work, t.tenant_id, subject);
        for (const row of accountRows) add(row, actions[event.name], event.name);
        const held = new Set(accountRows.map((r) => r.id));
        const approved = await targets.approvedTokens(work, t.tenant_id, subject);
        if (OFFBOARDING_EVENTS.has(event.name)) {
          for (const row of approved) offboardRows.set(row.id, row);
          // The account itself is recorded (a later consent by it is refused), whether or not it approved anything yet.
          if (subject.format === 'iss_sub') offboardApprovers.push({ issuer: subject.iss, subject: subject.sub });
          else if (subject.format === 'email') offboardApprovers.push({ issuer: EMAIL_ISSUER, subject: subject.email.toLowerCase() });
          else offboardApprovers.push({ issuer: OPAQUE_ISSUER, subject: subject.id });
          for (const row of approved) if (row.approver_issuer && row.approver_subject) offboardApprovers.push({ issuer: row.approver_issuer, subject: row.approver_subject });
        } else {
          for (const row of approved) if (!held.has(row.id)) add(row, 'flag', event.name);
        }
      }
    }
    return { planned, offboardRows: [...offboardRows.values()], offboardApprovers };
  }

  async function apply(work: TokenWork, t: SsfTransmittersTable, jti: string, events: SignalEvent[], verification: boolean, actions: Record<SignalEventName, SignalAction>) {
    const at = clock.now();
    const actor = `ssf:${t.id}`;
    const names = events.map((e) => e.name);
    const subjects = [...new Set(events.flatMap((e) => e.subjects.map(describeSubject)))];
    const reason = `Shared Signals: ${names.join(', ')} for ${subjects.slice(0, 3).join(', ')}${subjects.length > 3 ? ', …' : ''} (transmitter ${t.name}, SET ${jti.slice(0, 80)})`.slice(0, 500);
    const { planned, offboardRows, offboardApprovers } = await plan(work, t, events, actions);
    const byAction = (a: SignalAction) => [...planned.values()].filter((p) => p.action === a).map((p) => p.row);
    const revoked = await work.transitionMany(byAction('revoke'), 'revoke', actor, reason);
    const suspended = await work.transitionMany(
      byAction('suspend').filter((r) => r.state === 'active'),
      'suspend',
      actor,
      reason,
      { suspensionKind: 'signal' },
    );
    // Every named token gets an alert saying what the signal did (flag: the alert is the action).
    const done = new Map<string, string>([...revoked.map((c) => [c.tokenId, 'revoked'] as const), ...suspended.map((c) => [c.tokenId, 'suspended'] as const)]);
    for (const p of planned.values()) {
      const what = done.get(p.row.id) ?? (p.action === 'flag' ? 'flagged' : `already ${p.row.state}`);
      const worst = [...p.events].map(severityOf).sort((a, b) => ['medium', 'high', 'critical'].indexOf(b) - ['medium', 'high', 'critical'].indexOf(a))[0]!;
      const first = [...p.events][0]!;
      await deps.alerts.raise(
        work.trx,
        {
          kind: `ssf_${first.replace(/-/g, '_')}`,
          severity: worst,
          tenantId: p.row.tenant_id,
          subjectId: p.row.id,
          message: `The customer's identity provider reported ${[...p.events].join(', ')} for an account this token is tied to (transmitter ${t.name}); the token was ${what}.`,
          data: { transmitterId: t.id, jti, events: [...p.events], action: p.action, outcome: what },
          evidence: { kind: 'signal', transmitterId: t.id, jti, events: [...p.events], subjects: subjects.slice(0, 5) },
        },
        at,
      );
    }
    const offboarded =
      offboardRows.length > 0 || offboardApprovers.length > 0
        ? await deps.approvers.offboard(work, { tenantId: t.tenant_id, approvers: offboardApprovers, rows: offboardRows, reason, source: 'ssf', actor })
        : { tokenIds: [] as string[] };
    const counts = { revoked: revoked.length, suspended: suspended.length, flagged: [...planned.values()].filter((p) => p.action === 'flag').length, approverInactive: offboarded.tokenIds.length };
    await ledger.append(work.trx, {
      actor,
      action: 'signal.received',
      tenantId: t.tenant_id,
      subjectId: t.id,
      data: { transmitterId: t.id, jti, events: names, verification, subjects: subjects.slice(0, 20), actions: Object.fromEntries(names.map((n) => [n, actions[n]])), tokens: planned.size + offboardRows.length, ...counts },
    });
    return counts;
  }

  async function accept(jws: unknown): Promise<void> {
    if (typeof jws !== 'string' || jws.length === 0) throw new SetRefusal('invalid_request', 'Send the SET as the body, with Content-Type application/secevent+jwt (RFC 8935 §2.1).');
    const peek = verifier.peek(jws.trim());
    const candidates = await deps.transmitters.byIssuer(peek.iss);
    if (candidates.length === 0) throw new SetRefusal('invalid_issuer', 'No transmitter with the SET\'s "iss" is configured at this receiver.');
    const t = candidates.find((c) => peek.aud.includes(c.audience)) ?? (candidates.length === 1 ? candidates[0] : undefined);
    if (!t) throw new SetRefusal('invalid_audience', 'No transmitter with this "iss" is configured for the SET\'s "aud".');
    if (t.enabled !== 1) throw new SetRefusal('access_denied', 'This transmitter is disabled at this receiver; its SETs are not accepted.');
    const now = clock.now();
    const payload = await verifier.verify(jws.trim(), t, now, peek.jti);
    const holdUntil = new Date(payload.iat * 1000 + REPLAY_HOLD_MS).toISOString();
    const read = readSetEvents(payload);
    if (!read.ok) throw new SetRefusal('invalid_request', read.description, t.id, payload.jti, holdUntil);
    const actions = await deps.signalActions(t.tenant_id);
    await tokens.unitOfWork(async (work) => {
      const inserted = await work.trx
        .insertInto('ssf_received_jtis')
        .values({ transmitter_id: t.id, jti: payload.jti, expires_at: holdUntil })
        .onConflict((oc) => oc.columns(['transmitter_id', 'jti']).doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0) throw new SetRefusal('invalid_request', `A SET with jti "${payload.jti.slice(0, 80)}" was already received from this transmitter; a replay is not applied again.`, t.id, payload.jti);
      if (now.getTime() - lastPrune > PRUNE_EVERY_MS) {
        lastPrune = now.getTime();
        await work.trx.deleteFrom('ssf_received_jtis').where('expires_at', '<', now.toISOString()).execute();
      }
      await apply(work, t, payload.jti, read.events, read.verification, actions);
    });
  }

  async function refuse(r: SetRefusal): Promise<void> {
    const t = r.transmitterId;
    // Anonymous, or a verified SET's refusal that whoever captured it can cause again: rolled up.
    if (t === null || r.holdUntil === null || r.jti === null) {
      rollup.record(r.err, t, r.jti);
      return;
    }
    // The first refusal of this jti for what the SET says: ledgered on its own, its jti held (as
    // an accepted SET's is) in the same transaction; a replay of it finds the jti and is rolled up.
    const jti = r.jti;
    const holdUntil = r.holdUntil;
    const first = await storage.db.transaction().execute(async (trx) => {
      const inserted = await trx.insertInto('ssf_received_jtis').values({ transmitter_id: t, jti, expires_at: holdUntil }).onConflict((oc) => oc.columns(['transmitter_id', 'jti']).doNothing()).executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0) return false;
      const row = await trx.selectFrom('ssf_transmitters').select('tenant_id').where('id', '=', t).executeTakeFirst();
      await ledger.append(trx, { actor: `ssf:${t}`, action: 'signal.refused', tenantId: row?.tenant_id ?? null, subjectId: t, data: { transmitterId: t, jti, code: r.err, description: r.description } });
      return true;
    });
    if (!first) rollup.record(r.err, t, jti);
  }

  return {
    /** One pushed SET: applied whole (202) or refused with its RFC 8935 code, nothing applied. */
    async receive(body: unknown): Promise<PushAnswer> {
      try {
        await accept(body);
        for (const l of outcomeListeners) l('accepted');
        return { status: 202 };
      } catch (err) {
        if (!(err instanceof SetRefusal)) throw err;
        for (const l of outcomeListeners) l(err.err);
        await refuse(err);
        return { status: err.err === 'temporarily_unavailable' ? 503 : 400, body: { err: err.err, description: err.description } };
      }
    },
    /** A push refused before its body could be read (wrong media type, too large): counted and rolled up like any anonymous refusal. */
    refusedUnread(): void {
      for (const l of outcomeListeners) l('invalid_request');
      rollup.record('invalid_request');
    },
    /** For /metrics: each push's outcome (accepted, or the refusal's code). */
    onOutcome(listener: (outcome: 'accepted' | SetErrorCode) => void) {
      outcomeListeners.push(listener);
    },
    /** Writes rolled-up anonymous refusals of finished minutes (all with `all`); tests call it. */
    flushRefusals: (all = false) => rollup.flush(all),
    async close(): Promise<void> {
      await rollup.close();
      await verifier.close();
    },
  };
}

export type SignalReceiver = ReturnType<typeof createSignalReceiver>;
