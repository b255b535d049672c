import type { LedgerService } from '../ledger/ledger.service.ts';
import type { NewLedgerEntry } from '../ledger/ledger.types.ts';
import type { ConnectLinkService } from '../oauth/connect-link.service.ts';
import type { ProviderService } from '../providers/provider.service.ts';
import type { Clock } from '../shared/clock.ts';
import type { Logger } from '../shared/logger.ts';
import type { Storage } from '../storage/database.ts';
import type { FindingsTable } from '../storage/schema.ts';
import type { TokenFacts } from '../tokens/token.facts.ts';
import type { TokenService } from '../tokens/token.service.ts';
import type { DirectoryService } from './directory.service.ts';
import type { ExceptionService } from './exception.service.ts';
import { activeExceptions } from './governance.context.ts';
import { ENFORCED, forgetNotice, LINKED, nextStep, noticeMessage, noticeRecipients, suspensionReason, type EnforcementStage } from './enforcement.plan.ts';
import type { FindingType } from './finding.types.ts';
import type { PolicySnapshot } from './governance.context.ts';
import type { NewNotice, NoticeService } from './notice.service.ts';
import type { PolicyService } from './policy.service.ts';

/** Due findings handled per transaction. */
const PAGE = 1_000;
const DAY_MS = 86_400_000;
/** A notice's reauthorisation link stays usable this long after the deadline (within a link's 30-day limit). */
const LINK_AFTER_DEADLINE_MS = 7 * DAY_MS;
const LINK_MAX_MS = 30 * DAY_MS;

export const POLICY_ACTOR = 'policy';

export interface EnforcementCounts {
  /** Due findings looked at. */
  due: number;
  notified: number;
  suspended: number;
  wouldNotify: number;
  wouldSuspend: number;
  /** Looked at and left: excepted meanwhile, the token not active, or not due yet. */
  unchanged: number;
  durationMs: number;
}

type Due = Pick<FindingsTable, 'id' | 'type' | 'status' | 'token_id' | 'reasons' | 'enforcement_stage' | 'next_action_at' | 'notice_id'>;

/**
 * Enforcement (issue 14): takes the steps enforcement.plan.ts decides for every finding whose next
 * step has fallen due (one indexed range of the findings table, so a pass costs what is due, not
 * what exists): a notice (with a reauthorisation link, delivered through the outbox), then after
 * the grace a `policy` suspension, each in the ledger with the finding and the policy versions
 * that caused it, actor `policy`. In audit mode the same steps are would-be ledger entries and
 * nothing else changes. Runs after each sweep, after changes (debounced), and on demand.
 */
export function createEnforcementService(deps: {
  storage: Storage;
  ledger: LedgerService;
  clock: Clock;
  logger: Logger;
  tokens: TokenService;
  policy: PolicyService;
  directory: DirectoryService;
  exceptions: ExceptionService;
  notices: NoticeService;
  links: ConnectLinkService;
  providers: ProviderService;
}) {
  const { storage, ledger, clock, tokens } = deps;

  const versionsOf = (s: PolicySnapshot, tenantId: string) => ({ global: s.global.version, tenant: s.tenants.get(tenantId)?.version ?? 0 });

  /** Which providers can run a consent (and so send a reauthorisation link). */
  const consentCapable = new Map<string, { at: number; ok: boolean }>();
  async function canConsent(providerId: string): Promise<boolean> {
    const hit = consentCapable.get(providerId);
    if (hit && Date.now() - hit.at < 60_000) return hit.ok;
    const row = await deps.providers.findRow(storage.db, providerId).catch(() => null);
    const ok = Boolean(row?.issuer && row.authorization_endpoint);
    if (consentCapable.size > 10_000) consentCapable.clear();
    consentCapable.set(providerId, { at: Date.now(), ok });
    return ok;
  }

  async function page(now: string, snapshot: PolicySnapshot, contacts: ReadonlyMap<string, string | null>, counts: EnforcementCounts): Promise<number> {
    // Read outside the transaction (SQLite has one connection): what is due, and what notices need.
    const due: Due[] = await storage.db
      .selectFrom('findings')
      .select(['id', 'type', 'status', 'token_id', 'reasons', 'enforcement_stage', 'next_action_at', 'notice_id'])
      .where('next_action_at', '<=', now)
      .where('resolved_at', 'is', null)
      .orderBy('next_action_at')
      .orderBy('id')
      .limit(PAGE)
      .execute();
    if (due.length === 0) return 0;
    const byId = new Map(due.map((f) => [f.id, f]));
    const tokenIds = [...new Set(due.map((f) => f.token_id).filter((id): id is string => id !== null))];
    const facts = new Map((await tokens.facts.byIds(storage.db, tokenIds)).map((f) => [f.id, f]));
    const linkable = new Map<string, boolean>();
    for (const f of facts.values()) if (!linkable.has(f.providerId)) linkable.set(f.providerId, await canConsent(f.providerId));
    const deadlines = await deps.notices.deadlines(storage.db, due.map((f) => f.notice_id).filter((id): id is string => id !== null));
    // Exceptions as they stand now: one made moments ago holds enforcement even before the change
    // path has marked its findings excepted.
    const exceptions = activeExceptions(await deps.exceptions.activeRows());

    await tokens.unitOfWork(async (work) => {
      const trx = work.trx;
      const entries: NewLedgerEntry[] = [];
      const notices: (NewNotice & { findingId: string })[] = [];
      const suspend = new Map<string, { token: TokenFacts; findings: { id: string; type: FindingType; noticeId: string | null }[] }>();
      /** A step that acts (a new stage) needs the finding still open; holding, waiting or forgetting one does not. */
      const acts = (from: EnforcementStage | null, to: EnforcementStage | null) => to !== null && to !== from;
      const setStage = async (f: Due, stage: EnforcementStage | null, next: string | null): Promise<boolean> => {
        // Compare-and-set on what was read: a finding the change path moved meanwhile is left to the next pass.
        let q = trx.updateTable('findings').set({ enforcement_stage: stage, next_action_at: next }).where('id', '=', f.id).where('resolved_at', 'is', null);
        if (acts(f.enforcement_stage ?? null, stage)) q = q.where('status', 'in', ['open', 'acknowledged']);
        q = f.enforcement_stage === null ? q.where('enforcement_stage', 'is', null) : q.where('enforcement_stage', '=', f.enforcement_stage);
        q = f.next_action_at === null ? q.where('next_action_at', 'is', null) : q.where('next_action_at', '=', f.next_action_at);
        const r = await q.executeTakeFirst();
        return Number(r.numUpdatedRows) === 1;
      };
      // The many moves that carry no notice (holds, waits, audit's would-be steps) are written
      // set-based: grouped by what they move from and to, one UPDATE … RETURNING per group, and
      // each one's ledger entry written only if its finding moved.
      const moves = new Map<string, { from: Due; stage: EnforcementStage | null; next: string | null; done: Map<string, () => void> }>();
      const move = (f: Due, stage: EnforcementStage | null, next: string | null, done: () => void = () => {}) => {
        const key = `${f.enforcement_stage ?? ''}|${f.next_action_at ?? ''}|${stage ?? ''}|${next ?? ''}`;
        let g = moves.get(key);
        if (!g) moves.set(key, (g = { from: f, stage, next, done: new Map() }));
        g.done.set(f.id, done);
      };
      const flushMoves = async () => {
        for (const g of moves.values()) {
          const ids = [...g.done.keys()];
          for (let i = 0; i < ids.length; i += 1_000) {
            let q = trx
              .updateTable('findings')
              .set({ enforcement_stage: g.stage, next_action_at: g.next })
              .where(storage.dialect.anyOf('id', ids.slice(i, i + 1_000)))
              .where('resolved_at', 'is', null);
            if (acts(g.from.enforcement_stage ?? null, g.stage)) q = q.where('status', 'in', ['open', 'acknowledged']);
            q = g.from.enforcement_stage === null ? q.where('enforcement_stage', 'is', null) : q.where('enforcement_stage', '=', g.from.enforcement_stage);
            q = g.from.next_action_at === null ? q.where('next_action_at', 'is', null) : q.where('next_action_at', '=', g.from.next_action_at);
            for (const r of await q.returning('id').execute()) g.done.get(r.id)?.();
          }
        }
        moves.clear();
      };

      for (const f of due) {
        counts.due++;
        const token = f.token_id ? facts.get(f.token_id) : undefined;
        if (!token || token.state !== 'active' || !ENFORCED.has(f.type) || f.status === 'excepted' || exceptions.covering(token.tenantId, token.id, f.type)) {
          // Nothing to act on now: judged again when the finding or its token changes (a notice
          // given is forgotten: once it may act again, a new notice and a full grace).
          move(f, forgetNotice(f.enforcement_stage ?? null), null);
          counts.unchanged++;
          continue;
        }
        const policy = snapshot.forTenant(token.tenantId);
        const versions = versionsOf(snapshot, token.tenantId);
        const notice = f.enforcement_stage === 'notified' && f.notice_id ? deadlines.get(f.notice_id) : undefined;
        // Suspended and resumed since the notice (by someone else): the customer could not act on it
        // meanwhile, so it starts over — a new notice and a full grace.
        const restart = notice !== undefined && token.stateChangedAt > notice.createdAt;
        const state = restart ? { stage: null, nextActionAt: null } : { stage: f.enforcement_stage ?? null, nextActionAt: f.next_action_at ?? null };
        const step = nextStep(f.type, state, policy.mode, policy.graceDays, restart ? null : (notice?.deadline ?? null), now);
        const base = { actor: POLICY_ACTOR, tenantId: token.tenantId, subjectId: token.id };
        const about = { findingId: f.id, findingType: f.type, mode: policy.mode, policyVersion: versions };
        switch (step.kind) {
          case 'wait':
            move(f, f.enforcement_stage ?? null, step.at);
            counts.unchanged++;
            break;
          case 'hold':
            move(f, forgetNotice(f.enforcement_stage ?? null), null);
            counts.unchanged++;
            break;
          case 'would_notify':
            move(f, 'would_notify', step.deadline, () => {
              entries.push({ ...base, action: 'policy.would_notify', data: { ...about, deadline: step.deadline, note: 'audit mode: no notice was sent and nothing was changed' } });
              counts.wouldNotify++;
            });
            break;
          case 'would_suspend':
            move(f, 'would_suspend', null, () => {
              entries.push({ ...base, action: 'policy.would_suspend', data: { ...about, note: 'audit mode: nothing was changed' } });
              counts.wouldSuspend++;
            });
            break;
          case 'notify': {
            // The finding first (compare-and-set on what was read): one that moved meanwhile (excepted, resolved) gets nothing.
            if (!(await setStage(f, step.suspendNow ? 'suspended' : 'notified', step.suspendNow ? null : step.deadline))) {
              counts.unchanged++;
              break;
            }
            // The link outlives the deadline by a week, so a customer can restore a suspended token.
            const linkMs = Math.min(LINK_MAX_MS, Math.max(60 * 60_000, new Date(step.deadline).getTime() - new Date(now).getTime() + LINK_AFTER_DEADLINE_MS));
            let link: NewNotice['link'] = null;
            if (linkable.get(token.providerId) && LINKED.has(f.type)) {
              const forbidden = policy.forbiddenScopes[token.providerId] ?? [];
              link = await deps.links.createWithin(trx, { actor: POLICY_ACTOR, role: null }, {
                tenantId: token.tenantId,
                providerId: token.providerId,
                owner: token.owner,
                ...(token.purpose ? { purpose: token.purpose } : {}),
                scopes: token.grantedScopes.filter((s) => !forbidden.includes(s)),
                tokenId: token.id,
                expiresInMinutes: Math.floor(linkMs / 60_000),
              });
            }
            const reasons = JSON.parse(f.reasons) as { message: string }[];
            notices.push({
              findingId: f.id,
              tenantId: token.tenantId,
              tokenId: token.id,
              findingType: f.type,
              deadline: step.deadline,
              message: noticeMessage(f.type, token.id, reasons, step.deadline, step.suspendNow, link !== null),
              recipients: noticeRecipients(f.type, { tenantId: token.tenantId, owner: token.owner, ownerContact: contacts.get(token.owner.toLowerCase()) ?? null, approverSubject: token.approverSubject, approverEmail: token.approverEmail }),
              link,
              policyVersion: versions,
            });
            if (step.suspendNow) addSuspension(suspend, token, f, null);
            break;
          }
          case 'suspend':
            if (!(await setStage(f, 'suspended', null))) {
              counts.unchanged++;
              break;
            }
            addSuspension(suspend, token, f, f.notice_id ?? null);
            break;
        }
      }

      await flushMoves();
      // Notices first (their ids go on the findings and in the suspension's ledger entry).
      const ids = await deps.notices.record(trx, notices);
      const noticeOf = new Map<string, string>();
      for (let i = 0; i < notices.length; i++) {
        const n = notices[i]!;
        const f = byId.get(n.findingId)!;
        noticeOf.set(f.id, ids[i]!);
        await trx.updateTable('findings').set({ notice_id: ids[i]! }).where('id', '=', f.id).execute();
        counts.notified++;
      }

      // Suspensions: one per token, whatever number of its findings fell due; every enforced
      // finding of a suspended token is then held by that suspension (and starts over if it is lifted).
      const byType = new Map<string, TokenFacts[]>();
      for (const s of suspend.values()) {
        const key = s.findings.map((x) => x.type).sort().join(',');
        (byType.get(key) ?? byType.set(key, []).get(key)!).push(s.token);
      }
      for (const [types, list] of byType) {
        const changes = await work.transitionMany(
          list.map((t) => ({ id: t.id, tenant_id: t.tenantId, provider_id: t.providerId, state: t.state, p_revocation_endpoint: null })),
          'suspend',
          POLICY_ACTOR,
          suspensionReason(types.split(',') as FindingType[]),
          { suspensionKind: 'policy' },
        );
        for (const c of changes) {
          const s = suspend.get(c.tokenId)!;
          const policy = snapshot.forTenant(c.tenantId);
          entries.push({
            actor: POLICY_ACTOR,
            action: 'policy.enforced',
            tenantId: c.tenantId,
            subjectId: c.tokenId,
            data: { action: 'suspend', findings: s.findings.map((x) => ({ findingId: x.id, findingType: x.type, noticeId: x.noticeId ?? noticeOf.get(x.id) ?? null })), mode: policy.mode, policyVersion: versionsOf(snapshot, c.tenantId) },
          });
          counts.suspended++;
        }
        const suspendedIds = changes.map((c) => c.tokenId);
        // A token that changed state since it was read was not suspended: its findings wait for it to be judged again.
        const changed = new Set(suspendedIds);
        for (const t of list) {
          if (changed.has(t.id)) continue;
          for (const x of suspend.get(t.id)!.findings) {
            // Marked suspended above; judged again from the start (the pass sees the token's new state).
            move({ ...byId.get(x.id)!, enforcement_stage: 'suspended', next_action_at: null }, null, now);
          }
        }
        await flushMoves();
        if (suspendedIds.length > 0) {
          await trx
            .updateTable('findings')
            .set({ enforcement_stage: 'suspended', next_action_at: null })
            .where(storage.dialect.anyOf('token_id', suspendedIds))
            .where('resolved_at', 'is', null)
            .where('type', 'in', [...ENFORCED])
            .execute();
        }
      }
      if (entries.length > 0) await ledger.appendMany(trx, entries);
    });
    return due.length;
  }

  function addSuspension(into: Map<string, { token: TokenFacts; findings: { id: string; type: FindingType; noticeId: string | null }[] }>, token: TokenFacts, f: Due, noticeId: string | null) {
    let s = into.get(token.id);
    if (!s) into.set(token.id, (s = { token, findings: [] }));
    s.findings.push({ id: f.id, type: f.type, noticeId });
  }

  let running: Promise<EnforcementCounts> | null = null;
  let queued: Promise<EnforcementCounts> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;

  /**
   * One pass over everything due when it starts, starting after the call: a caller arriving while
   * one runs gets the next one (shared with everyone else who arrived meanwhile), so what it
   * committed before asking is seen.
   */
  function pass(): Promise<EnforcementCounts> {
    if (running) {
      queued ??= running
        .catch(() => undefined)
        .then(() => {
          queued = null;
          return pass();
        });
      return queued;
    }
    running = storage.dialect
      .withNamedLock(storage.db, 'custody:enforcement', async () => {
        const started = Date.now();
        const counts: EnforcementCounts = { due: 0, notified: 0, suspended: 0, wouldNotify: 0, wouldSuspend: 0, unchanged: 0, durationMs: 0 };
        const now = clock.now().toISOString();
        const snapshot = await deps.policy.snapshot();
        // Where owners are reached (the owners directory, read once a pass).
        const contacts = await deps.directory.contacts();
        // Every page moves what it read out of the due range (done, or due later), so this ends.
        for (let guard = 0; guard < 100_000 && !closed; guard++) {
          if ((await page(now, snapshot, contacts, counts)) < PAGE) break;
          // On SQLite a page's transaction runs without giving the event loop a turn, and the next
          // follows on promise callbacks alone: without this, a pass over many due findings (the
          // first after a large import: ~2 minutes at 300k tokens) held every request and
          // gateway call, /healthz included, until it ended.
          await new Promise((resolve) => setImmediate(resolve));
        }
        counts.durationMs = Date.now() - started;
        if (counts.notified + counts.suspended + counts.wouldNotify + counts.wouldSuspend > 0) deps.logger.info({ enforcement: counts }, 'enforcement pass');
        return counts;
      })
      .finally(() => {
        running = null;
      });
    return running;
  }

  /** A pass soon (after changes: findings were just armed); several kicks in a second make one pass. */
  function kick(): void {
    if (closed || timer) return;
    timer = setTimeout(() => {
      timer = null;
      pass().catch((err: Error) => deps.logger.error({ err: err.message }, 'enforcement pass failed; the next one will retry'));
    }, 1_000);
    timer.unref?.();
  }

  return {
    pass,
    kick,
    async close(): Promise<void> {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await running?.catch(() => {});
    },
  };
}

export type EnforcementService = ReturnType<typeof createEnforcementService>;

