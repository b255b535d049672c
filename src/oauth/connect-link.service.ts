import { createHash, randomBytes } from 'node:crypto';
import { canSeeTenant, systemPrincipal, type Principal, type Role } from '../auth/roles.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { ProviderService } from '../providers/provider.service.ts';
import type { Clock } from '../shared/clock.ts';
import { CustodyError } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import type { Db, Storage } from '../storage/database.ts';
import type { ConnectLinksTable } from '../storage/schema.ts';
import type { TenantService } from '../tenants/tenant.service.ts';
import type { ConsentService } from './consent.service.ts';
import type { StartedConsent } from './oauth.types.ts';

export interface ConnectLinkInput {
  providerId: string;
  tenantId: string;
  owner: string;
  purpose?: string;
  scopes?: string[];
  /** How long the link may be opened (default 72 hours, at most 30 days). */
  expiresInMinutes?: number;
}

/** A link as its maker and the security team see it (never its code: only the URL handed out once has it). */
export interface ConnectLinkRecord {
  id: string;
  tenantId: string;
  providerId: string;
  owner: string;
  purpose: string | null;
  scopes: string[];
  createdBy: string;
  createdAt: string;
  expiresAt: string;
  /** pending (can be opened), opened, expired or revoked. */
  status: 'pending' | 'opened' | 'expired' | 'revoked';
  openedAt: string | null;
  revokedAt: string | null;
  /** A reauthorisation link: the token it renews in place (null: a link for a new connection). */
  tokenId: string | null;
}

export type LinkFailure = { ok: false; status: 404 | 409 | 410; error: string; message: string };
/** What the page before the issuer shows the customer administrator. */
export type LinkPreview = { ok: true; tenantName: string; providerName: string; issuer: string | null; scopes: string[]; purpose: string | null; expiresAt: string; renews: string | null } | LinkFailure;
export type OpenedLink = { ok: true; consent: StartedConsent } | LinkFailure;

export const DEFAULT_LINK_MINUTES = 72 * 60;

const hashOf = (code: string) => createHash('sha256').update(code).digest('hex');
const CODE_FORMAT = /^[A-Za-z0-9_-]{43}$/;

const UNKNOWN: LinkFailure = { ok: false, status: 404, error: 'unknown_link', message: 'This link is not one Custody made. Ask for a new consent link.' };
const USED: LinkFailure = { ok: false, status: 410, error: 'link_used', message: 'This link was already used; each link works once. Ask for a new consent link.' };

/**
 * Connect links: a platform user (an API key that may register tokens) makes a single-use,
 * expiring link, and a customer administrator opens it in a plain browser, with no API key.
 * Opening it (GET) only shows what would be approved, so link scanners and chat previews that
 * fetch it change nothing; continuing (a POST from that page) uses the link up and starts the
 * consent, bound to that browser by an httpOnly cookie, on behalf of whoever made the link — as
 * long as that key is still valid. A link can be revoked until it is used. The link's secret is
 * only in its URL; the database keeps its hash. An unknown code writes nothing.
 */
export function createConnectLinkService(deps: {
  storage: Storage;
  ledger: LedgerService;
  tenants: TenantService;
  providers: ProviderService;
  consent: ConsentService;
  clock: Clock;
  publicUrl: string;
  /** Whether the key that made a link still holds (apikeys: a revoked maker's links stop working). */
  isActorActive: (actor: string) => Promise<boolean>;
  /** What a reauthorisation link needs of a token: the scopes are its granted ones as the policy minimises them (none forbidden). */
  reauthorizable: (tokenId: string) => Promise<{ tenantId: string; providerId: string; owner: string; purpose: string | null; state: string; scopes: string[] } | null>;
}) {
  const { storage, ledger, clock } = deps;

  function statusOf(r: ConnectLinksTable, now: string): ConnectLinkRecord['status'] {
    if (r.revoked_at) return 'revoked';
    if (r.opened_at) return 'opened';
    return r.expires_at <= now ? 'expired' : 'pending';
  }

  function toRecord(r: ConnectLinksTable, now: string): ConnectLinkRecord {
    return {
      id: r.id,
      tenantId: r.tenant_id,
      providerId: r.provider_id,
      owner: r.owner,
      purpose: r.purpose,
      scopes: JSON.parse(r.scopes) as string[],
      createdBy: r.created_by,
      createdAt: r.created_at,
      expiresAt: r.expires_at,
      status: statusOf(r, now),
      openedAt: r.opened_at,
      revokedAt: r.revoked_at,
      tokenId: r.token_id ?? null,
    };
  }

  /** The link a code names, if it can still be used; otherwise why not. */
  async function usable(code: string): Promise<{ ok: true; link: ConnectLinksTable } | LinkFailure> {
    if (!CODE_FORMAT.test(code)) return UNKNOWN;
    const link = await storage.db.selectFrom('connect_links').selectAll().where('code_hash', '=', hashOf(code)).executeTakeFirst();
    if (!link) return UNKNOWN;
    if (link.revoked_at) return { ok: false, status: 410, error: 'link_revoked', message: 'This link was withdrawn by whoever made it. Ask for a new consent link.' };
    if (link.opened_at) return USED;
    if (link.expires_at <= clock.now().toISOString()) return { ok: false, status: 410, error: 'link_expired', message: 'This link has expired. Ask for a new consent link.' };
    if (!(await deps.isActorActive(link.created_by))) {
      return { ok: false, status: 410, error: 'link_maker_revoked', message: 'The access of whoever made this link has been withdrawn, and the link with it. Ask for a new consent link.' };
    }
    return { ok: true, link };
  }

  /** A link visible to the principal (another tenant's answers like a missing one). */
  async function visible(principal: Principal, id: string): Promise<ConnectLinksTable> {
    const r = await storage.db.selectFrom('connect_links').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r || !canSeeTenant(principal, r.tenant_id)) throw new CustodyError('connect_link_not_found');
    return r;
  }

  /** Makes a link in the caller's transaction (a notice's reauthorisation link commits with the notice). */
  async function createWithin(trx: Db, maker: { actor: string; role: Role | null }, input: ConnectLinkInput & { tokenId?: string }): Promise<{ id: string; url: string; expiresAt: string }> {
    const scopes = [...new Set(input.scopes ?? [])];
    const at = clock.now();
    const id = newId('connectLink', at.getTime());
    if (input.tokenId) {
      // One usable reauthorisation link per token: a new one withdraws the earlier ones still pending
      // (so links for a token cannot pile up, and an old one stops working when a new one is sent).
      const withdrawn = await trx
        .updateTable('connect_links')
        .set({ revoked_at: at.toISOString() })
        .where('token_id', '=', input.tokenId)
        .where('opened_at', 'is', null)
        .where('revoked_at', 'is', null)
        .returning('id')
        .execute();
      if (withdrawn.length > 0) {
        await ledger.append(trx, { actor: maker.actor, action: 'oauth.connect_link_revoked', tenantId: input.tenantId, subjectId: input.tokenId, data: { linkIds: withdrawn.map((r) => r.id), reason: `superseded by a new reauthorisation link (${id})` } });
      }
    }
    const code = randomBytes(32).toString('base64url');
    const expiresAt = new Date(at.getTime() + (input.expiresInMinutes ?? DEFAULT_LINK_MINUTES) * 60_000).toISOString();
    await trx
      .insertInto('connect_links')
      .values({
        id,
        code_hash: hashOf(code),
        tenant_id: input.tenantId,
        provider_id: input.providerId,
        owner: input.owner,
        purpose: input.purpose ?? null,
        scopes: JSON.stringify(scopes),
        created_by: maker.actor,
        created_by_role: maker.role,
        created_at: at.toISOString(),
        expires_at: expiresAt,
        opened_at: null,
        flow_id: null,
        revoked_at: null,
        token_id: input.tokenId ?? null,
      })
      .execute();
    await ledger.append(trx, {
      actor: maker.actor,
      action: input.tokenId ? 'oauth.reauthorization_link_created' : 'oauth.connect_link_created',
      tenantId: input.tenantId,
      subjectId: input.tokenId ?? id,
      data: { linkId: id, providerId: input.providerId, owner: input.owner, scopes, expiresAt, ...(input.tokenId ? { tokenId: input.tokenId } : {}) },
    });
    return { id, url: `${deps.publicUrl}/connect/${code}`, expiresAt };
  }

  return {
    async create(principal: Principal, input: ConnectLinkInput): Promise<{ id: string; url: string; expiresAt: string }> {
      await deps.tenants.findVisible(storage.db, principal, input.tenantId);
      const provider = await deps.providers.findRow(storage.db, input.providerId);
      if (!provider.issuer || !provider.authorization_endpoint) throw new CustodyError('consent_not_supported');
      deps.consent.checkScopes(provider, [...new Set(input.scopes ?? [])]);
      await deps.consent.checkPolicyScopes(input.tenantId, input.providerId, input.scopes ?? []);
      return storage.db.transaction().execute((trx) => createWithin(trx, { actor: principal.actor, role: principal.role }, input));
    },

    createWithin,

    /**
     * A reauthorisation link for a live token (POST /v1/tokens/{id}/reauthorization): its consent
     * renews that record in place — approval and credentials — asking for its granted scopes as
     * the policy minimises them. Another tenant's token answers like a missing one.
     */
    async reauthorization(principal: Principal, tokenId: string, input: { expiresInMinutes?: number } = {}): Promise<{ id: string; url: string; expiresAt: string; scopes: string[] }> {
      const token = await deps.reauthorizable(tokenId);
      if (!token || !canSeeTenant(principal, token.tenantId)) throw new CustodyError('token_not_found');
      if (token.state !== 'active' && token.state !== 'suspended') throw new CustodyError('illegal_transition', `Token ${tokenId} is ${token.state}: only an active or suspended token can be reauthorised; a new consent makes a new record.`);
      const provider = await deps.providers.findRow(storage.db, token.providerId);
      if (!provider.issuer || !provider.authorization_endpoint) throw new CustodyError('consent_not_supported');
      const link = await storage.db.transaction().execute((trx) =>
        createWithin(trx, { actor: principal.actor, role: principal.role }, { tenantId: token.tenantId, providerId: token.providerId, owner: token.owner, ...(token.purpose ? { purpose: token.purpose } : {}), scopes: token.scopes, tokenId, ...input }),
      );
      return { ...link, scopes: token.scopes };
    },

    /** Links the principal may see (its tenant's), newest first; `status` narrows them. */
    async list(principal: Principal, filter: { tenantId?: string; status?: ConnectLinkRecord['status']; limit: number }): Promise<ConnectLinkRecord[]> {
      let tenantId = filter.tenantId;
      if (principal.tenantId !== null) {
        if (tenantId && tenantId !== principal.tenantId) return [];
        tenantId = principal.tenantId;
      }
      const now = clock.now().toISOString();
      let q = storage.db.selectFrom('connect_links').selectAll().orderBy('id', 'desc');
      if (tenantId) q = q.where('tenant_id', '=', tenantId);
      if (filter.status === 'revoked') q = q.where('revoked_at', 'is not', null);
      if (filter.status === 'opened') q = q.where('revoked_at', 'is', null).where('opened_at', 'is not', null);
      if (filter.status === 'expired') q = q.where('revoked_at', 'is', null).where('opened_at', 'is', null).where('expires_at', '<=', now);
      if (filter.status === 'pending') q = q.where('revoked_at', 'is', null).where('opened_at', 'is', null).where('expires_at', '>', now);
      return (await q.limit(filter.limit).execute()).map((r) => toRecord(r, now));
    },

    /** Withdraws a link that has not been used; ledgered. A used or already withdrawn one: 409. */
    async revoke(principal: Principal, id: string, reason: string): Promise<ConnectLinkRecord> {
      const link = await visible(principal, id);
      const now = clock.now().toISOString();
      await storage.db.transaction().execute(async (trx) => {
        const r = await trx.updateTable('connect_links').set({ revoked_at: now }).where('id', '=', id).where('opened_at', 'is', null).where('revoked_at', 'is', null).executeTakeFirst();
        if (Number(r.numUpdatedRows) !== 1) throw new CustodyError('illegal_transition', `Link ${id} was already ${link.revoked_at ? 'withdrawn' : 'used'}; only an unused link can be withdrawn.`);
        await ledger.append(trx, { actor: principal.actor, action: 'oauth.connect_link_revoked', tenantId: link.tenant_id, subjectId: id, data: { reason } });
      });
      return toRecord(await visible(principal, id), now);
    },

    /** What the page a browser gets for the link shows: nothing changes. */
    async preview(code: string): Promise<LinkPreview> {
      const found = await usable(code);
      if (!found.ok) return found;
      const { link } = found;
      const [tenant, provider] = await Promise.all([deps.tenants.findVisible(storage.db, systemPrincipal('oauth'), link.tenant_id), deps.providers.findRow(storage.db, link.provider_id)]);
      // What the consent will really ask for: the policy's selection, Custody's own scopes included.
      const { scopes } = await deps.consent.scopesFor(link.tenant_id, link.provider_id, JSON.parse(link.scopes) as string[]);
      return { ok: true, tenantName: tenant.name, providerName: provider.name, issuer: provider.issuer, scopes, purpose: link.purpose, expiresAt: link.expires_at, renews: link.token_id ?? null };
    },

    /** The browser continued from the preview: use the link up and start its consent, or say why not. */
    async open(code: string): Promise<OpenedLink> {
      const found = await usable(code);
      if (!found.ok) return found;
      const { link } = found;
      const now = clock.now().toISOString();
      let consent: StartedConsent;
      try {
        consent = await deps.consent.beginFlow(
          { actor: link.created_by, role: link.created_by_role ?? null },
          { providerId: link.provider_id, tenantId: link.tenant_id, owner: link.owner, ...(link.purpose ? { purpose: link.purpose } : {}), scopes: JSON.parse(link.scopes) as string[], authorityAt: link.created_at, ...(link.token_id ? { reauthorizeTokenId: link.token_id } : {}) },
          async (trx, flowId) => {
            // The single use: of two browsers continuing at once, one update matches.
            const r = await trx.updateTable('connect_links').set({ opened_at: now, flow_id: flowId }).where('id', '=', link.id).where('opened_at', 'is', null).where('revoked_at', 'is', null).executeTakeFirst();
            if (Number(r.numUpdatedRows) !== 1) throw new LinkAlreadyUsed();
            await ledger.append(trx, { actor: link.created_by, action: 'oauth.connect_link_opened', tenantId: link.tenant_id, subjectId: link.id, data: { flowId } });
          },
        );
      } catch (err) {
        if (err instanceof LinkAlreadyUsed) return USED;
        if (err instanceof CustodyError) return { ok: false, status: 409, error: err.code, message: `${err.message} Ask whoever sent the link.` };
        throw err;
      }
      return { ok: true, consent };
    },
  };
}

class LinkAlreadyUsed extends Error {}

export type ConnectLinkService = ReturnType<typeof createConnectLinkService>;
