import type { NoticeRecipient } from '../governance/enforcement.plan.ts';
import type { DirectoryService } from '../governance/directory.service.ts';
import type { NewNotice, NoticeService } from '../governance/notice.service.ts';
import type { PolicyService } from '../governance/policy.service.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { Clock } from '../shared/clock.ts';
import type { Logger } from '../shared/logger.ts';
import type { Storage } from '../storage/database.ts';
import type { TokenService } from '../tokens/token.service.ts';
import type { CampaignRow, ItemRow, ReviewRepo } from './review.repo.ts';
import { escalationReason, reminderMessage, reminderNoticeId } from './review.rules.ts';

/** Who the ledger names for what the reviews pass does by itself (escalation, closing). */
export const REVIEWS_ACTOR = 'system:reviews';

/**
 * Items handled per transaction by the pass: large enough that a commit's cost is shared, small
 * enough that SQLite's one writer is held for a fraction of a second.
 */
const PAGE = 5_000;
/** Open campaigns looked at per pass (oldest first); the rest wait for the next pass. */
const CAMPAIGNS_PER_PASS = 500;
/** A creation still unfinished this long after it started stopped part-way (a crash): the pass resumes it. */
const STALE_CREATION_MS = 10 * 60_000;
const DEFAULT_INTERVAL_MS = 60_000;

export interface ReviewPassCounts {
  /** Campaigns whose interrupted creation was finished. */
  resumed: number;
  reminded: number;
  escalated: number;
  closed: number;
  durationMs: number;
}

export interface ReviewPassDeps {
  storage: Storage;
  ledger: LedgerService;
  clock: Clock;
  logger: Logger;
  tokens: TokenService;
  directory: DirectoryService;
  notices: NoticeService;
  policy: PolicyService;
  passIntervalMs?: number;
  repo: ReviewRepo;
  populate(campaign: CampaignRow): Promise<boolean>;
  closeIfDone(campaignId: string): Promise<boolean>;
}

/**
 * The reviews pass: finishes creations a crash interrupted, sends each open item's reviewer one
 * reminder (a notice, through the governance notice service and the outbox) once the campaign's
 * reminder time has come, escalates every item still open at the deadline — the item escalated,
 * `review.escalated` ledgered, and the token's review made due at the deadline, so the
 * review_overdue finding opens and enforcement (Governance II) takes its course — and closes
 * campaigns with nothing left open. Single-flight in the process, serialised across instances by a
 * named lock; every write is compare-and-set, so a pass that repeats work changes nothing twice.
 */
export function createReviewPass(deps: ReviewPassDeps) {
  const { storage, ledger, clock, tokens, repo } = deps;
  let running: Promise<ReviewPassCounts> | null = null;
  let queued: Promise<ReviewPassCounts> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;

  function recipientOf(item: ItemRow, contacts: ReadonlyMap<string, string | null>): NoticeRecipient {
    return item.reviewer_kind === 'owner'
      ? { kind: 'owner', name: item.reviewer, address: contacts.get(item.reviewer.toLowerCase()) ?? null }
      : { kind: 'tenant_admins', name: `administrators of ${item.tenant_id}`, address: null };
  }

  async function remind(campaign: CampaignRow, at: string): Promise<number> {
    const contacts = await deps.directory.contacts();
    const snapshot = await deps.policy.snapshot();
    let sent = 0;
    for (let after: string | null = null; ; ) {
      const page = await repo.openItems(storage.db, campaign.id, after, PAGE, true);
      if (page.length === 0) break;
      after = page[page.length - 1]!.id;
      sent += await storage.db.transaction().execute(async (trx) => {
        const claimed = await repo.claimReminders(trx, page.map((i) => i.id), at);
        const items = page.filter((i) => claimed.has(i.id));
        const notices: NewNotice[] = items.map((i) => ({
          id: reminderNoticeId(i.id, at),
          tenantId: i.tenant_id,
          tokenId: i.token_id,
          findingId: i.id,
          // The finding escalation opens if the item is not decided in time.
          findingType: 'review_overdue',
          action: 'escalate',
          deadline: campaign.due_at,
          message: reminderMessage({ campaignName: campaign.name, campaignId: campaign.id, itemId: i.id, tokenId: i.token_id, dueAt: campaign.due_at }),
          recipients: [recipientOf(i, contacts)],
          link: null,
          policyVersion: { global: snapshot.global.version, tenant: snapshot.tenants.get(i.tenant_id)?.version ?? 0 },
        }));
        await deps.notices.record(trx, notices);
        return items.length;
      });
      if (page.length < PAGE) break;
    }
    await repo.markReminded(storage.db, campaign.id, at);
    return sent;
  }

  async function escalate(campaign: CampaignRow, at: string): Promise<number> {
    const reason = escalationReason({ id: campaign.id, name: campaign.name, dueAt: campaign.due_at });
    let escalated = 0;
    for (let after: string | null = null; ; ) {
      const page = await repo.openItems(storage.db, campaign.id, after, PAGE);
      if (page.length === 0) break;
      after = page[page.length - 1]!.id;
      // Read before the unit of work opens (on SQLite nothing outside it can be read while it runs).
      const ops = await tokens.reviews.prepare();
      escalated += await tokens.unitOfWork(async (work) => {
        const done = await repo.escalate(work.trx, page.map((i) => i.id), at, REVIEWS_ACTOR, reason);
        const items = page.filter((i) => done.has(i.id));
        const moved = new Map((await ops.makeReviewDue(work, items.map((i) => i.token_id), campaign.due_at, REVIEWS_ACTOR, reason)).map((m) => [m.id, m.from]));
        await ledger.appendMany(
          work.trx,
          items.map((i) => ({
            actor: REVIEWS_ACTOR,
            action: 'review.escalated',
            tenantId: i.tenant_id,
            subjectId: i.token_id,
            data: {
              campaignId: campaign.id,
              itemId: i.id,
              tokenId: i.token_id,
              dueAt: campaign.due_at,
              // null: left as it was (already due earlier, or the token was revoked or expired meanwhile).
              reviewDueAt: moved.has(i.token_id) ? { from: moved.get(i.token_id) ?? null, to: campaign.due_at } : null,
            },
          })),
        );
        return items.length;
      });
      if (page.length < PAGE) break;
    }
    return escalated;
  }

  async function runPass(): Promise<ReviewPassCounts> {
    const started = Date.now();
    const counts: ReviewPassCounts = { resumed: 0, reminded: 0, escalated: 0, closed: 0, durationMs: 0 };
    const now = clock.now();
    const at = now.toISOString();
    for (const c of await repo.staleCreating(storage.db, new Date(now.getTime() - STALE_CREATION_MS).toISOString())) {
      if (closed) break;
      if (await deps.populate(c)) counts.resumed++;
    }
    for (const c of await repo.openCampaigns(storage.db, CAMPAIGNS_PER_PASS)) {
      if (closed) break;
      if (c.due_at <= at) counts.escalated += await escalate(c, at);
      else if (c.reminded_at === null && c.remind_at <= at) counts.reminded += await remind(c, at);
      if (await deps.closeIfDone(c.id)) counts.closed++;
    }
    counts.durationMs = Date.now() - started;
    if (counts.resumed + counts.reminded + counts.escalated + counts.closed > 0) deps.logger.info({ reviews: counts }, 'reviews pass');
    return counts;
  }

  /**
   * One pass, starting after the call: a caller arriving while one runs gets the next one (shared
   * with everyone else who arrived meanwhile), so what it committed before asking is seen.
   */
  function pass(): Promise<ReviewPassCounts> {
    if (running) {
      queued ??= running
        .catch(() => undefined)
        .then(() => {
          queued = null;
          return pass();
        });
      return queued;
    }
    running = storage.dialect.withNamedLock(storage.db, 'custody:reviews', runPass).finally(() => {
      running = null;
    });
    return running;
  }

  return {
    pass,
    /** Runs the pass every minute (or passIntervalMs) until close. */
    start(): void {
      if (timer || closed) return;
      timer = setInterval(() => {
        pass().catch((err: Error) => deps.logger.error({ err: err.message }, 'reviews pass failed; the next one will retry'));
      }, deps.passIntervalMs ?? DEFAULT_INTERVAL_MS);
      timer.unref?.();
    },
    async close(): Promise<void> {
      closed = true;
      if (timer) clearInterval(timer);
      timer = null;
      await running?.catch(() => {});
    },
  };
}
