import { timingSafeEqual, type KeyObject } from 'node:crypto';
import type { AlertService } from '../alerts/alert.service.ts';
import type { AlertEvidence } from '../alerts/alert.types.ts';
import type { Principal } from '../auth/roles.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { NewLedgerEntry } from '../ledger/ledger.types.ts';
import type { Clock } from '../shared/clock.ts';
import { CustodyError } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import type { Storage } from '../storage/database.ts';
import type { TokenService } from '../tokens/token.service.ts';
import type { Vault } from '../vault/vault.service.ts';
import type { LeakCheckItem, LeakLabelValue, LeakReporter, LeakReportItem } from './leak.contract.ts';
import { createLeakReporterRepo, toLeakReporter } from './leak.repo.ts';
import { canonicalKey, parseReporterKey, verifyReportSignature } from './leak.signature.ts';

/** Reporter keys kept at most (active and disabled): an admin-made list, still bounded. */
export const MAX_REPORTERS = 200;
/** Items of one report described in its ledger entry and alert evidence (a report may repeat one token many times). */
const MAX_DESCRIBED_ITEMS = 10;
/** A reporter's last-report time is written at most this often (it is for people, not for the hot path). */
const TOUCH_EVERY_MS = 60_000;
/** How long a report taken is remembered: sent again (same reporter, same bytes) within it, it is a replay. */
export const REPLAY_WINDOW_MS = 30 * 24 * 60 * 60_000;
/** Reports remembered at most (oldest forgotten first): a forgotten one sent again is ledgered again, never alerted again once resolved. */
export const MAX_REMEMBERED_REPORTS = 200_000;
/** Expired (and surplus) remembered reports are pruned at most this often, per instance. */
const PRUNE_EVERY_MS = 60_000;

/** A concurrent identical report committed first: this one is a replay (its unit of work is rolled back). */
class ReplayedMeanwhile extends Error {}

const CREDENTIAL_NAMES: Record<Credential, string> = {
  access: 'Its access token',
  refresh: 'Its refresh token',
  previous_access: 'An access token it held before a refresh (which the issuer may still honour)',
  previous_refresh: 'A refresh token it held before (which the issuer may still honour)',
};

/** Why an anonymous report was refused: counted in /metrics, never stored. */
export type LeakRefusal = 'signature_missing' | 'key_unknown' | 'signature_invalid' | 'malformed_body';

/** An active reporter whose key checked a report's signature. */
export interface VerifiedReporter {
  id: string;
  name: string;
  keyId: string;
}

/** A token record as the token service's fingerprint lookup answers it (no credential in clear). */
type Fingerprinted = Awaited<ReturnType<TokenService['findByFingerprints']>>[number];
type TokenRow = Fingerprinted['row'];
/** Which credential matched: one the record holds (`access`, `refresh`) or one a refresh or renewal replaced (`previous_…`). */
type Credential = Fingerprinted['credential'];

/** What a string matched: a token record and which of its credentials. */
interface Match {
  tokenId: string;
  credential: Credential;
  /** The token's state after the lookup (revoked, or whatever terminal state it was already in). */
  state: string;
  /** Revoked by this lookup (false: it was already revoked or expired). */
  revoked: boolean;
}

interface Found {
  tokenId: string;
  row: TokenRow;
  credential: Credential;
  items: number[];
}

export interface LeakServiceDeps {
  storage: Storage;
  vault: Vault;
  ledger: LedgerService;
  tokens: TokenService;
  alerts: AlertService;
  clock: Clock;
  logger: Logger;
}

/**
 * Leaked-token intake (issue 15 item 6): signed reports from secret-scanning reporters and checks
 * by platform staff, traced to token records by the keyed fingerprints the token records keep of
 * each credential (vault.fingerprint: HMAC-SHA-256 under a system data key, re-wrapped by key
 * rotation like any other, so a fingerprint never changes while its credential does not).
 *
 * Invariants: a string is never stored, logged, ledgered or echoed — only its fingerprint is
 * computed, in memory; every string of a request is fingerprinted and compared against every
 * match found (no early exit), so the time taken does not single out which item matched; a match
 * is revoked, alerted (`token_leaked`, critical) and ledgered (`token.leak_reported`) in one
 * transaction with the revocation and its upstream job; an already revoked or expired token that
 * matches is ledgered, not revoked twice, and alerted only onto an open `token_leaked` alert (or a
 * first one if it never had one): once security resolved it, a leak of the dead token opens none;
 * a refused anonymous report writes nothing (listeners count it); a signed report is taken once:
 * the same bytes from the same reporter within REPLAY_WINDOW_MS (022-leak-replays, bounded,
 * pruned; remembered in the unit of work that acts on it) are answered with the same labels and
 * write nothing — no ledger entry, no alert, no revocation (listeners count the replay).
 */
export function createLeakService(deps: LeakServiceDeps) {
  const { storage, vault, ledger, tokens, alerts, clock, logger } = deps;
  const repo = createLeakReporterRepo();
  /** Parsed keys by reporter id (their PEM checked at registration; a disabled reporter is never looked up). */
  const keys = new Map<string, { pem: string; key: KeyObject }>();
  const touchedAt = new Map<string, number>();
  const refusalListeners: ((reason: LeakRefusal) => void)[] = [];
  const labelListeners: ((via: 'report' | 'check', label: LeakLabelValue, n: number) => void)[] = [];
  const replayListeners: (() => void)[] = [];
  let lastPrune = 0;

  function keyOf(id: string, pem: string): KeyObject {
    const cached = keys.get(id);
    if (cached && cached.pem === pem) return cached.key;
    const key = parseReporterKey(pem);
    if (keys.size >= MAX_REPORTERS) keys.clear();
    keys.set(id, { pem, key });
    return key;
  }

  function refused(reason: LeakRefusal): void {
    for (const l of refusalListeners) l(reason);
  }

  async function retrying<T>(run: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await run();
      } catch (err) {
        if (attempt >= 3 || !storage.dialect.isRetryable(err)) throw err;
      }
    }
  }

  /**
   * Which item matched which record. Every fingerprint is compared with every match, in constant
   * time, whatever the outcome: the loop does the same work for a report of a hundred misses as
   * for one with a hit in it.
   */
  function matchItems(fingerprints: string[], found: Fingerprinted[]): Found[] {
    const candidates = found.map((f) => ({ ...f, fp: Buffer.from(f.fingerprint, 'hex') }));
    const hits = candidates.map(() => [] as number[]);
    for (let i = 0; i < fingerprints.length; i++) {
      const fp = Buffer.from(fingerprints[i]!, 'hex');
      for (let j = 0; j < candidates.length; j++) {
        const c = candidates[j]!.fp;
        if (c.length === fp.length && timingSafeEqual(c, fp)) hits[j]!.push(i);
      }
    }
    return candidates.map((c, j) => ({ tokenId: c.row.id, row: c.row, credential: c.credential, items: hits[j]! })).filter((f) => f.items.length > 0);
  }

  /**
   * Looks every string up, revokes what matches (still live), raises the alert and writes the
   * ledger entry of each matched record, in one unit of work. Answers, per item, its matches.
   */
  async function traceAndRevoke(
    strings: string[],
    who: { actor: string; via: 'report' | 'check'; reporter: VerifiedReporter | null },
    describe: (index: number) => Record<string, unknown>,
    /** A signed report's digest: remembered with its labels in the same unit of work (a concurrent twin throws ReplayedMeanwhile). */
    remember?: { reporterId: string; digest: string },
  ): Promise<Match[][]> {
    const fingerprints = strings.map((s) => vault.fingerprint(s));
    const unique = [...new Set(fingerprints)];
    return retrying(() =>
      tokens.unitOfWork(async (work) => {
        const at = clock.now();
        const found = matchItems(fingerprints, await tokens.findByFingerprints(work, unique));
        const perItem: Match[][] = strings.map(() => []);
        if (remember) {
          const labels = strings.map((_, i) => (found.some((f) => f.items.includes(i)) ? 't' : 'f')).join('');
          // An expired memory of it is forgotten first (the window is over: it counts as new).
          await work.trx.deleteFrom('leak_report_replays').where('reporter_id', '=', remember.reporterId).where('body_sha256', '=', remember.digest).where('expires_at', '<=', at.toISOString()).execute();
          const inserted = await work.trx
            .insertInto('leak_report_replays')
            .values({ reporter_id: remember.reporterId, body_sha256: remember.digest, labels, received_at: at.toISOString(), expires_at: new Date(at.getTime() + REPLAY_WINDOW_MS).toISOString() })
            .onConflict((oc) => oc.columns(['reporter_id', 'body_sha256']).doNothing())
            .executeTakeFirst();
          if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0) throw new ReplayedMeanwhile();
        }
        if (found.length === 0) return perItem;
        // One record may match on both credentials (its access and its refresh token reported together): revoke it once.
        const rows = [...new Map(found.map((f) => [f.tokenId, f.row])).values()];
        const changes = await work.transitionMany(rows, 'revoke', who.actor, 'leaked', { requestedAt: at.toISOString() });
        const revokedNow = new Set(changes.map((c) => c.tokenId));
        const stateAfter = (row: TokenRow) => (revokedNow.has(row.id) ? 'revoked' : row.state);
        const reported: NewLedgerEntry[] = [];
        for (const f of found) {
          const described = f.items.slice(0, MAX_DESCRIBED_ITEMS).map(describe);
          const revoked = revokedNow.has(f.tokenId);
          const evidence: AlertEvidence = { kind: 'leak', via: who.via, reporter: who.reporter?.name ?? null, credential: f.credential, items: described, itemCount: f.items.length };
          const by = who.reporter ? `reporter ${who.reporter.name}` : who.actor;
          // A dead token's leak bumps an open alert (or opens a first one); once resolved, it opens none.
          const earlier = revoked ? [] : (await alerts.forSubject(work.trx, f.tokenId)).filter((a) => a.kind === 'token_leaked');
          if (earlier.length === 0 || earlier.some((a) => a.status !== 'resolved')) await alerts.raise(
            work.trx,
            {
              kind: 'token_leaked',
              severity: 'critical',
              tenantId: f.row.tenant_id,
              subjectId: f.tokenId,
              message: `${CREDENTIAL_NAMES[f.credential]} was reported leaked by ${by}; ${revoked ? 'it was revoked at once (and upstream through the outbox)' : `it was already ${f.row.state}`}.`,
              data: { via: who.via, credential: f.credential, revoked },
              evidence,
            },
            at,
          );
          reported.push({
            actor: who.actor,
            action: 'token.leak_reported',
            tenantId: f.row.tenant_id,
            subjectId: f.tokenId,
            data: {
              via: who.via,
              ...(who.reporter ? { reporter: who.reporter.name, keyId: who.reporter.keyId } : {}),
              credential: f.credential,
              items: described,
              itemCount: f.items.length,
              revoked,
              stateBefore: f.row.state,
            },
          });
          for (const i of f.items) perItem[i]!.push({ tokenId: f.tokenId, credential: f.credential, state: stateAfter(f.row), revoked });
        }
        await ledger.appendMany(work.trx, reported);
        return perItem;
      }),
    );
  }

  /** Forgets expired remembered reports, and the oldest past MAX_REMEMBERED_REPORTS; at most once a minute, never failing a report. */
  async function prune(): Promise<void> {
    const now = clock.now();
    if (now.getTime() - lastPrune < PRUNE_EVERY_MS) return;
    lastPrune = now.getTime();
    try {
      await storage.db.deleteFrom('leak_report_replays').where('expires_at', '<=', now.toISOString()).execute();
      const cutoff = await storage.db.selectFrom('leak_report_replays').select('received_at').orderBy('received_at', 'desc').offset(MAX_REMEMBERED_REPORTS).limit(1).executeTakeFirst();
      if (cutoff) await storage.db.deleteFrom('leak_report_replays').where('received_at', '<=', cutoff.received_at).execute();
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'pruning remembered leak reports failed; will try again');
    }
  }

  function labelsOf(perItem: Match[][]): LeakLabelValue[] {
    return perItem.map((m) => (m.length > 0 ? 'true_positive' : 'false_positive'));
  }

  function countLabels(via: 'report' | 'check', labels: LeakLabelValue[]): void {
    const positives = labels.filter((l) => l === 'true_positive').length;
    for (const l of labelListeners) {
      if (positives > 0) l(via, 'true_positive', positives);
      if (labels.length - positives > 0) l(via, 'false_positive', labels.length - positives);
    }
  }

  return {
    /** Listeners of refused anonymous reports (metrics): nothing about them is stored. */
    onRefusal(listener: (reason: LeakRefusal) => void): void {
      refusalListeners.push(listener);
    },
    /** Listeners of labelled items (metrics). */
    onLabels(listener: (via: 'report' | 'check', label: LeakLabelValue, n: number) => void): void {
      labelListeners.push(listener);
    },
    refused,

    /**
     * The active reporter of a key id, checked before the body is read (a report under an unknown
     * key costs one indexed read, and its body is never parsed). Throws the coded refusal.
     */
    async reporterForKeyId(keyId: string | undefined, signature: string | undefined): Promise<{ reporter: VerifiedReporter; key: KeyObject }> {
      if (!keyId || !signature) {
        refused('signature_missing');
        throw new CustodyError('leak_signature_missing');
      }
      const row = keyId.length <= 200 ? await repo.byKeyId(storage.db, keyId) : undefined;
      if (!row || row.state !== 'active') {
        refused('key_unknown');
        throw new CustodyError('leak_key_unknown');
      }
      return { reporter: { id: row.id, name: row.name, keyId: row.key_id }, key: keyOf(row.id, row.public_key) };
    },

    /** Checks a report's signature over its raw bytes; throws leak_signature_invalid. */
    verify(key: KeyObject, body: Buffer, signature: string): void {
      if (!verifyReportSignature(key, body, signature)) {
        refused('signature_invalid');
        throw new CustodyError('leak_signature_invalid');
      }
    },

    /** Listeners of replayed reports (metrics): answered, nothing written. */
    onReplay(listener: () => void): void {
      replayListeners.push(listener);
    },

    /**
     * A verified report (`digest`: hex SHA-256 of its raw body): each item labelled, in order;
     * matches revoked, alerted and ledgered — once. The same report again is answered with the
     * same labels and writes nothing.
     */
    async report(reporter: VerifiedReporter, items: LeakReportItem[], digest: string): Promise<{ token_type: string; label: LeakLabelValue }[]> {
      const remembered = async () => {
        const row = await storage.db.selectFrom('leak_report_replays').select('labels').where('reporter_id', '=', reporter.id).where('body_sha256', '=', digest).where('expires_at', '>', clock.now().toISOString()).executeTakeFirst();
        return row && row.labels.length === items.length ? row.labels : null;
      };
      const replayed = (labels: string) => {
        for (const l of replayListeners) l();
        logger.info({ reporter: reporter.name, keyId: reporter.keyId, items: items.length }, 'leak report replayed: answered as before, nothing written');
        return items.map((item, i): { token_type: string; label: LeakLabelValue } => ({ token_type: item.type, label: labels[i] === 't' ? 'true_positive' : 'false_positive' }));
      };
      const before = await remembered();
      if (before !== null) return replayed(before);
      let perItem: Match[][];
      try {
        perItem = await traceAndRevoke(
          items.map((i) => i.token),
          { actor: `leak:${reporter.name}`, via: 'report', reporter },
          (i) => ({ type: items[i]!.type, url: items[i]!.url ?? null, source: items[i]!.source ?? null }),
          { reporterId: reporter.id, digest },
        );
      } catch (err) {
        if (!(err instanceof ReplayedMeanwhile)) throw err;
        const now = await remembered();
        if (now === null) throw err;
        return replayed(now);
      }
      await prune();
      const labels = labelsOf(perItem);
      countLabels('report', labels);
      const matched = labels.filter((l) => l === 'true_positive').length;
      logger.info({ reporter: reporter.name, keyId: reporter.keyId, items: items.length, matched }, 'leak report received');
      const now = clock.now();
      if (now.getTime() - (touchedAt.get(reporter.id) ?? 0) >= TOUCH_EVERY_MS) {
        touchedAt.set(reporter.id, now.getTime());
        await repo.touch(storage.db, reporter.id, now.toISOString()).catch((err: Error) => logger.warn({ err: err.message }, 'recording a leak reporter’s last report failed'));
      }
      return items.map((item, i) => ({ token_type: item.type, label: labels[i]! }));
    },

    /** Strings a person found (a log, a paste): the same lookup and revocation, answered with the records matched. */
    async check(principal: Principal, strings: string[]): Promise<{ checked: number; matched: number; revoked: number; items: LeakCheckItem[] }> {
      const perItem = await traceAndRevoke(strings, { actor: principal.actor, via: 'check', reporter: null }, () => ({ source: 'check' }));
      const labels = labelsOf(perItem);
      countLabels('check', labels);
      const items: LeakCheckItem[] = [];
      perItem.forEach((matches, index) => {
        if (matches.length === 0) items.push({ index, label: 'false_positive', tokenId: null, credential: null, state: null, revoked: false });
        for (const m of matches) items.push({ index, label: 'true_positive', tokenId: m.tokenId, credential: m.credential, state: m.state, revoked: m.revoked });
      });
      const matched = labels.filter((l) => l === 'true_positive').length;
      const revoked = new Set(items.filter((i) => i.revoked).map((i) => i.tokenId)).size;
      // The check itself is an admin action: ledgered with its counts (never the strings).
      await storage.db.transaction().execute((trx) => ledger.append(trx, { actor: principal.actor, action: 'leaks.checked', data: { checked: strings.length, matched, revoked } }));
      return { checked: strings.length, matched, revoked, items };
    },

    async listReporters(): Promise<LeakReporter[]> {
      return (await repo.list(storage.db)).map(toLeakReporter);
    },

    async addReporter(principal: Principal, input: { name: string; keyId: string; publicKey: string }): Promise<LeakReporter> {
      const { pem, thumbprint } = canonicalKey(parseReporterKey(input.publicKey));
      const at = clock.now();
      const row = {
        id: newId('leakReporter', at.getTime()),
        name: input.name,
        key_id: input.keyId,
        public_key: pem,
        state: 'active' as const,
        created_at: at.toISOString(),
        created_by: principal.actor,
        disabled_at: null,
        disabled_by: null,
        last_report_at: null,
      };
      try {
        await storage.db.transaction().execute(async (trx) => {
          if ((await repo.count(trx)) >= MAX_REPORTERS) throw new CustodyError('leak_reporter_limit', `At most ${MAX_REPORTERS} leak reporter keys are kept; this deployment has that many.`);
          if (await repo.byKeyId(trx, input.keyId)) throw new CustodyError('leak_reporter_exists');
          await repo.insert(trx, row);
          await ledger.append(trx, { actor: principal.actor, action: 'leak_reporter.added', subjectId: row.id, data: { name: row.name, keyId: row.key_id, key: thumbprint } });
        });
      } catch (err) {
        // Two admins adding the same key id at once: the unique index decides.
        if (storage.dialect.isUniqueViolation(err)) throw new CustodyError('leak_reporter_exists');
        throw err;
      }
      return toLeakReporter(row);
    },

    async disableReporter(principal: Principal, id: string, reason: string): Promise<LeakReporter> {
      const at = clock.now().toISOString();
      return storage.db.transaction().execute(async (trx) => {
        const row = await repo.byId(trx, id);
        if (!row) throw new CustodyError('leak_reporter_not_found');
        // Disabling a disabled key changes nothing and writes nothing.
        if (!(await repo.disable(trx, id, at, principal.actor))) return toLeakReporter(row);
        await ledger.append(trx, { actor: principal.actor, action: 'leak_reporter.disabled', subjectId: id, data: { name: row.name, keyId: row.key_id, reason } });
        keys.delete(id);
        return toLeakReporter({ ...row, state: 'disabled', disabled_at: at, disabled_by: principal.actor });
      });
    },
  };
}

export type LeakService = ReturnType<typeof createLeakService>;
