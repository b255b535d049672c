import { canSeeTenant, roleHas, type Principal } from '../auth/roles.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { TenantService } from '../tenants/tenant.service.ts';
import type { Clock } from '../shared/clock.ts';
import { decodeCursor, encodeCursor } from '../shared/cursor.ts';
import { CustodyError } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import type { Secret } from '../shared/secret.ts';
import type { Db, Storage } from '../storage/database.ts';
import type { WebhookDeliveriesTable, WebhookSubscriptionsTable } from '../storage/schema.ts';
import { GLOBAL_SCOPE, type Vault } from '../vault/vault.service.ts';
import { pushTargetProblem } from '../gateway/push-target.ts';
import type { CreateWebhookInput, Webhook, WebhookDelivery } from './webhook.contract.ts';
import { EVENT_FAMILIES, validFilter, type SubscriptionView } from './webhook.events.ts';
import { newWebhookSecret } from './webhook.signature.ts';

/** Subscriptions are caller-growable: bounded per tenant and platform-wide. */
export const MAX_SUBSCRIPTIONS_PER_TENANT = 20;
export const MAX_PLATFORM_SUBSCRIPTIONS = 50;

export interface StoredSubscription extends SubscriptionView {
  url: string;
  includeNoticeLinks: boolean;
}

const vaultScope = (tenantId: string | null) => tenantId ?? GLOBAL_SCOPE;

function toWebhook(r: WebhookSubscriptionsTable): Webhook {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    url: r.url,
    events: JSON.parse(r.events) as string[],
    description: r.description,
    includeNoticeLinks: Number(r.include_notice_links) === 1,
    createdAt: r.created_at,
    createdBy: r.created_by,
  };
}

export function toStored(r: WebhookSubscriptionsTable): StoredSubscription {
  return { id: r.id, tenantId: r.tenant_id, url: r.url, events: JSON.parse(r.events) as string[], fromSeq: Number(r.from_seq), includeNoticeLinks: Number(r.include_notice_links) === 1 };
}

export function toDelivery(r: WebhookDeliveriesTable): WebhookDelivery {
  return { id: r.id, messageId: r.message_id, eventType: r.event_type, attempt: r.attempt, outcome: r.outcome, statusCode: r.status_code, error: r.error, durationMs: r.duration_ms, at: r.at };
}

/**
 * Where a webhook may point: https (plain http outside production), no credentials, fragment or
 * port 0 in the URL, an IP-literal host only where the gateway's address policy allows it (private
 * and loopback outside production only; metadata and link-local never), and no localhost name in
 * production. Names are checked again at every
 * connection, pinned to the address checked (webhook.delivery.ts), so DNS cannot steer a delivery
 * inside later.
 */
export function checkWebhookUrl(raw: string, production: boolean): URL {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new CustodyError('webhook_url_refused', 'The webhook URL is not an absolute URL (e.g. https://hooks.example.com/custody).');
  }
  // The rule SSF streams follow too (src/gateway/push-target.ts).
  const problem = pushTargetProblem(u, { production, plainHttp: 'anywhere' });
  if (problem) throw new CustodyError('webhook_url_refused', `The webhook URL is not allowed: ${problem}.`);
  return u;
}

/**
 * Webhook subscriptions: created with a signing secret the caller sees once (kept sealed by the
 * vault), listed, removed; every change ledgered in its transaction. Platform-wide subscriptions
 * belong to the platform roles; a tenant administrator manages its own tenant's and sees no other.
 */
export function createWebhookService(deps: { storage: Storage; vault: Vault; ledger: LedgerService; tenants: TenantService; clock: Clock; production: boolean }) {
  const { storage, vault, ledger, clock } = deps;

  async function visible(db: Db, principal: Principal, id: string): Promise<WebhookSubscriptionsTable> {
    const r = await db.selectFrom('webhook_subscriptions').selectAll().where('id', '=', id).executeTakeFirst();
    // A tenant administrator sees its tenant's subscriptions only, not the platform's.
    if (!r || (principal.tenantId !== null && r.tenant_id !== principal.tenantId) || !canSeeTenant(principal, r.tenant_id)) throw new CustodyError('webhook_not_found');
    return r;
  }

  return {
    async create(principal: Principal, input: CreateWebhookInput): Promise<Webhook & { secret: string }> {
      const tenantId = principal.tenantId ?? input.tenantId ?? null;
      if (input.tenantId && principal.tenantId !== null && input.tenantId !== principal.tenantId) throw new CustodyError('tenant_not_found');
      const bad = input.events.filter((f) => !validFilter(f));
      if (bad.length > 0) throw new CustodyError('webhook_filter_invalid', undefined, bad.map((f) => ({ path: 'events', message: `"${f.slice(0, 100)}" is not an event type, a prefix ending in .*, or *; types start with one of ${EVENT_FAMILIES.join(', ')} (e.g. token.revoked, alert.*)` })));
      const url = checkWebhookUrl(input.url, deps.production);
      // The link in a notice is a bearer of the customer's consent: only roles that may reauthorise may route it.
      if (input.includeNoticeLinks && !roleHas(principal.role, 'tokens.reauthorize')) throw new CustodyError('forbidden', 'Only roles that may reauthorise tokens may subscribe to notice links.');
      const events = [...new Set(input.events)];
      const secret: Secret = newWebhookSecret();
      const at = clock.now();
      const id = newId('webhook', at.getTime());
      const row = await storage.db.transaction().execute(async (trx) => {
        if (tenantId) await deps.tenants.findVisible(trx, principal, tenantId);
        let count = trx.selectFrom('webhook_subscriptions').select((eb) => eb.fn.countAll<number>().as('n'));
        count = tenantId ? count.where('tenant_id', '=', tenantId) : count.where('tenant_id', 'is', null);
        const n = Number((await count.executeTakeFirstOrThrow()).n);
        const max = tenantId ? MAX_SUBSCRIPTIONS_PER_TENANT : MAX_PLATFORM_SUBSCRIPTIONS;
        if (n >= max) throw new CustodyError('webhook_limit_reached', `${tenantId ? `Tenant ${tenantId}` : 'The platform'} already has ${n} webhook subscriptions (at most ${max}); remove one first (DELETE /v1/webhooks/{id}).`);
        const key = await vault.createDataKey(trx, vaultScope(tenantId), id, at);
        // The ledger names the receiver by origin and path: a query string may carry the receiver's own token.
        const entry = await ledger.append(trx, {
          actor: principal.actor,
          action: 'webhook.created',
          tenantId,
          subjectId: id,
          data: { url: `${url.origin}${url.pathname}`, events, includeNoticeLinks: input.includeNoticeLinks === true },
        });
        const r: WebhookSubscriptionsTable = {
          id,
          tenant_id: tenantId,
          url: url.toString(),
          events: JSON.stringify(events),
          description: input.description ?? null,
          secret_enc: vault.encrypt(key, 'webhook_secret', secret),
          include_notice_links: input.includeNoticeLinks ? 1 : 0,
          from_seq: entry.seq,
          created_at: at.toISOString(),
          created_by: principal.actor,
        };
        await trx.insertInto('webhook_subscriptions').values(r).execute();
        return r;
      });
      return { ...toWebhook(row), secret: secret.reveal() };
    },

    async list(principal: Principal, q: { tenantId?: string; afterId?: string; limit: number }): Promise<{ items: Webhook[]; nextCursor: string | null }> {
      let query = storage.db.selectFrom('webhook_subscriptions').selectAll();
      if (principal.tenantId !== null) {
        if (q.tenantId && q.tenantId !== principal.tenantId) return { items: [], nextCursor: null };
        query = query.where('tenant_id', '=', principal.tenantId);
      } else if (q.tenantId) query = query.where('tenant_id', '=', q.tenantId);
      if (q.afterId) query = query.where('id', '>', q.afterId);
      const rows = await query.orderBy('id').limit(q.limit + 1).execute();
      const page = rows.slice(0, q.limit);
      return { items: page.map(toWebhook), nextCursor: rows.length > q.limit ? encodeCursor(page[page.length - 1]!.id) : null };
    },

    async get(principal: Principal, id: string): Promise<Webhook> {
      return toWebhook(await visible(storage.db, principal, id));
    },

    async remove(principal: Principal, id: string): Promise<Webhook> {
      return storage.db.transaction().execute(async (trx) => {
        const r = await visible(trx, principal, id);
        await trx.deleteFrom('webhook_subscriptions').where('id', '=', id).execute();
        await trx.deleteFrom('webhook_deliveries').where('subscription_id', '=', id).execute();
        await ledger.append(trx, { actor: principal.actor, action: 'webhook.deleted', tenantId: r.tenant_id, subjectId: id, data: {} });
        return toWebhook(r);
      });
    },

    async deliveries(principal: Principal, id: string, q: { cursor?: string; limit: number }): Promise<{ items: WebhookDelivery[]; nextCursor: string | null }> {
      await visible(storage.db, principal, id);
      let query = storage.db.selectFrom('webhook_deliveries').selectAll().where('subscription_id', '=', id);
      if (q.cursor !== undefined) query = query.where('id', '<', decodeCursor('webhookDelivery', q.cursor));
      const rows = await query.orderBy('id', 'desc').limit(q.limit + 1).execute();
      const page = rows.slice(0, q.limit);
      return { items: page.map(toDelivery), nextCursor: rows.length > q.limit ? encodeCursor(page[page.length - 1]!.id) : null };
    },

    /** Every subscription (bounded by the limits above), for the dispatcher and the notifier. */
    async all(db: Db = storage.db): Promise<StoredSubscription[]> {
      return (await db.selectFrom('webhook_subscriptions').selectAll().orderBy('id').execute()).map(toStored);
    },

    async find(db: Db, id: string): Promise<StoredSubscription | null> {
      const r = await db.selectFrom('webhook_subscriptions').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? toStored(r) : null;
    },

    /** The signing secret, at delivery time only. */
    async secretOf(db: Db, id: string): Promise<Secret | null> {
      const r = await db.selectFrom('webhook_subscriptions').select(['tenant_id', 'secret_enc']).where('id', '=', id).executeTakeFirst();
      if (!r) return null;
      const key = await vault.loadDataKey(db, vaultScope(r.tenant_id), id);
      return vault.decrypt(key, 'webhook_secret', r.secret_enc);
    },
  };
}

export type WebhookService = ReturnType<typeof createWebhookService>;
