import { canSeeTenant, roleHas, type Principal } from '../auth/roles.ts';
import type { AlertService } from '../alerts/alert.service.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { OutboxEnqueuer } from '../outbox/outbox.enqueue.ts';
import { LANE } from '../outbox/outbox.enqueue.ts';
import type { Completion, DeliveryResult, OutboxHandler, OutboxJob } from '../outbox/outbox.types.ts';
import type { Clock } from '../shared/clock.ts';
import { encodeCursor } from '../shared/cursor.ts';
import { CustodyError } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { Secret } from '../shared/secret.ts';
import type { Db, Storage } from '../storage/database.ts';
import type { NoticesTable } from '../storage/schema.ts';
import type { Vault } from '../vault/vault.service.ts';
import type { NoticeRecipient } from './enforcement.plan.ts';
import type { FindingType } from './finding.types.ts';
import type { Notice } from './notice.contract.ts';

/** A notice as a notifier receives it: everything, including the link, which only notifiers and the API's reauthorising roles see. */
export interface NoticeDelivery {
  noticeId: string;
  tenantId: string;
  tokenId: string;
  findingType: FindingType;
  action: 'suspend' | 'escalate';
  deadline: string;
  message: string;
  recipients: NoticeRecipient[];
  link: { url: string; expiresAt: string } | null;
  createdAt: string;
}

/**
 * Where notices go. A notifier must be idempotent on `noticeId` (the outbox may deliver a notice
 * again after a crash or a lost lease) and throw to be retried. The signals issue adds webhooks.
 */
export interface Notifier {
  readonly name: string;
  deliver(notice: NoticeDelivery): Promise<void>;
}

/**
 * The log channel: one structured line per notice and recipient. The link is a bearer of the
 * customer's consent, so the log names where to read it (GET /v1/notices/{id}), never the link.
 */
export function logNotifier(logger: Logger): Notifier {
  return {
    name: 'log',
    async deliver(n) {
      for (const r of n.recipients) {
        logger.info(
          { notice: n.noticeId, tokenId: n.tokenId, tenantId: n.tenantId, findingType: n.findingType, deadline: n.deadline, to: { kind: r.kind, name: r.name, address: r.address }, link: n.link ? `GET /v1/notices/${n.noticeId}` : null },
          `notice: ${n.message}`,
        );
      }
    },
  };
}

export interface NewNotice {
  tenantId: string;
  tokenId: string;
  findingId: string;
  findingType: FindingType;
  deadline: string;
  message: string;
  recipients: NoticeRecipient[];
  link: { id: string; url: string; expiresAt: string } | null;
  policyVersion: { global: number; tenant: number };
  /**
   * What happens at the deadline: `suspend` (enforcement, the default) or `escalate` (an access
   * review's reminder, src/reviews: `findingId` then names the review item, `findingType` the
   * finding its escalation opens, review_overdue).
   */
  action?: 'suspend' | 'escalate';
  /** The notice's id when the caller must know it beforehand (a review reminder's is its item's); a new one otherwise. */
  id?: string;
}

export const NOTICE_ACTOR = 'policy';

/**
 * Notices: recorded (with their ledger entry) in the transaction of the enforcement step that
 * gives them, and delivered through the outbox (paced in its bulk lane, retried, given up with an
 * alert) to every notifier. `GET /v1/notices` is the record.
 */
export function createNoticeService(deps: { storage: Storage; vault: Vault; ledger: LedgerService; clock: Clock; logger: Logger; alerts: AlertService; enqueue: OutboxEnqueuer; notifiers: Notifier[] }) {
  const { storage, vault, ledger, clock } = deps;

  function toNotice(r: NoticesTable, url: string | null): Notice {
    return {
      id: r.id,
      tenantId: r.tenant_id,
      tokenId: r.token_id,
      findingId: r.finding_id,
      findingType: r.finding_type,
      action: r.action,
      deadline: r.deadline,
      message: r.message,
      recipients: JSON.parse(r.recipients) as NoticeRecipient[],
      link: r.link_id && r.link_expires_at ? { id: r.link_id, url, expiresAt: r.link_expires_at } : null,
      policyVersion: JSON.parse(r.policy_version) as Notice['policyVersion'],
      createdAt: r.created_at,
      delivery: r.delivery,
      deliveredAt: r.delivered_at,
    };
  }

  async function linkUrl(db: Db, r: NoticesTable): Promise<string | null> {
    if (!r.link_url_enc) return null;
    const key = await vault.loadDataKey(db, r.tenant_id, r.id);
    return vault.decrypt(key, 'link_url', r.link_url_enc).reveal();
  }

  /** The link is shown to those who may reauthorise the token (a tenant's administrators, the security team), not to auditors. */
  const mayReadLink = (p: Principal) => roleHas(p.role, 'tokens.reauthorize');

  const handler: OutboxHandler = {
    async deliver(job: OutboxJob): Promise<DeliveryResult> {
      const r = await storage.db.selectFrom('notices').selectAll().where('id', '=', job.subjectId).executeTakeFirst();
      if (!r) return { kind: 'done', record: async (complete) => void (await storage.db.transaction().execute((trx) => complete(trx))) };
      const notice = toNotice(r, null);
      const url = await linkUrl(storage.db, r);
      const delivery: NoticeDelivery = { ...notice, noticeId: notice.id, link: notice.link && url ? { url, expiresAt: notice.link.expiresAt } : null };
      for (const n of deps.notifiers) await n.deliver(delivery);
      return {
        kind: 'done',
        record: async (complete) => {
          await storage.db.transaction().execute(async (trx) => {
            if (!(await complete(trx))) return;
            const at = clock.now().toISOString();
            await trx.updateTable('notices').set({ delivery: 'delivered', delivered_at: at }).where('id', '=', r.id).execute();
            await ledger.append(trx, { actor: 'system:notifier', action: 'notice.delivered', tenantId: r.tenant_id, subjectId: r.token_id, data: { noticeId: r.id, channels: deps.notifiers.map((x) => x.name), recipients: notice.recipients.map((x) => x.kind), attempts: job.attempts } });
          });
        },
      };
    },
    async giveUp(complete: Completion, job: OutboxJob, lastError: string): Promise<void> {
      await storage.db.transaction().execute(async (trx) => {
        if (!(await complete(trx))) return;
        const r = await trx.selectFrom('notices').select(['id', 'tenant_id', 'token_id']).where('id', '=', job.subjectId).executeTakeFirst();
        if (!r) return;
        await trx.updateTable('notices').set({ delivery: 'gave_up' }).where('id', '=', r.id).execute();
        await ledger.append(trx, { actor: 'system:notifier', action: 'notice.delivery_failed', tenantId: r.tenant_id, subjectId: r.token_id, data: { noticeId: r.id, error: lastError.slice(0, 500), attempts: job.attempts } });
        await deps.alerts.raise(trx, { kind: 'notice_undelivered', severity: 'medium', tenantId: r.tenant_id, subjectId: r.token_id, message: `Notice ${r.id} could not be delivered: ${lastError.slice(0, 200)}. Read it with GET /v1/notices/${r.id} and tell its recipients.`, data: { noticeId: r.id } }, clock.now());
      });
    },
  };

  return {
    handler,

    /** Records notices (and their ledger entries, and their delivery jobs) in the caller's transaction. */
    async record(trx: Db, notices: NewNotice[]): Promise<string[]> {
      if (notices.length === 0) return [];
      const at = clock.now();
      const rows: NoticesTable[] = [];
      for (const n of notices) {
        const id = n.id ?? newId('notice', at.getTime());
        let enc: string | null = null;
        if (n.link) enc = vault.encrypt(await vault.createDataKey(trx, n.tenantId, id, at), 'link_url', new Secret(n.link.url));
        rows.push({
          id,
          tenant_id: n.tenantId,
          token_id: n.tokenId,
          finding_id: n.findingId,
          finding_type: n.findingType,
          action: n.action ?? 'suspend',
          deadline: n.deadline,
          message: n.message,
          recipients: JSON.stringify(n.recipients),
          link_id: n.link?.id ?? null,
          link_url_enc: enc,
          link_expires_at: n.link?.expiresAt ?? null,
          policy_version: JSON.stringify(n.policyVersion),
          created_at: at.toISOString(),
          delivery: 'pending',
          delivered_at: null,
        });
      }
      await storage.dialect.insertRows(trx, 'notices', rows);
      await ledger.appendMany(
        trx,
        rows.map((r, i) => ({
          actor: NOTICE_ACTOR,
          action: 'notice.created',
          tenantId: r.tenant_id,
          subjectId: r.token_id,
          data: { noticeId: r.id, findingId: r.finding_id, findingType: r.finding_type, action: r.action, deadline: r.deadline, recipients: notices[i]!.recipients.map((x) => ({ kind: x.kind, name: x.name })), linkId: r.link_id, policyVersion: notices[i]!.policyVersion },
        })),
      );
      await deps.enqueue(trx, rows.map((r) => ({ kind: 'notice_delivery' as const, subjectId: r.id, tenantId: r.tenant_id, payload: {} })), at, LANE.bulk);
      return rows.map((r) => r.id);
    },

    /** When these notices were given and their deadlines (what an enforcement pass decides by). */
    async deadlines(db: Db, ids: readonly string[]): Promise<Map<string, { deadline: string; createdAt: string }>> {
      if (ids.length === 0) return new Map();
      const rows = await db.selectFrom('notices').select(['id', 'deadline', 'created_at']).where(storage.dialect.anyOf('id', ids)).execute();
      return new Map(rows.map((r) => [r.id, { deadline: r.deadline, createdAt: r.created_at }]));
    },

    async list(principal: Principal, q: { tenantId?: string; tokenId?: string; findingType?: FindingType; beforeId?: string; limit: number }): Promise<{ items: Notice[]; nextCursor: string | null }> {
      let tenantId = q.tenantId;
      if (principal.tenantId !== null) {
        if (tenantId && tenantId !== principal.tenantId) return { items: [], nextCursor: null };
        tenantId = principal.tenantId;
      }
      let query = storage.db.selectFrom('notices').selectAll();
      if (tenantId) query = query.where('tenant_id', '=', tenantId);
      if (q.tokenId) query = query.where('token_id', '=', q.tokenId);
      if (q.findingType) query = query.where('finding_type', '=', q.findingType);
      if (q.beforeId) query = query.where('id', '<', q.beforeId);
      const rows = await query.orderBy('id', 'desc').limit(q.limit + 1).execute();
      const page = rows.slice(0, q.limit);
      const items: Notice[] = [];
      for (const r of page) items.push(toNotice(r, mayReadLink(principal) ? await linkUrl(storage.db, r) : null));
      return { items, nextCursor: rows.length > q.limit ? encodeCursor(page[page.length - 1]!.id) : null };
    },

    async get(principal: Principal, id: string): Promise<Notice> {
      const r = await storage.db.selectFrom('notices').selectAll().where('id', '=', id).executeTakeFirst();
      if (!r || !canSeeTenant(principal, r.tenant_id)) throw new CustodyError('notice_not_found');
      return toNotice(r, mayReadLink(principal) ? await linkUrl(storage.db, r) : null);
    },
  };
}

export type NoticeService = ReturnType<typeof createNoticeService>;
