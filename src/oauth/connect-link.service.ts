import { createHash, randomBytes } from 'node:crypto';
import type { Principal } from '../auth/roles.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { ProviderService } from '../providers/provider.service.ts';
import type { Clock } from '../shared/clock.ts';
import { CustodyError } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import type { Storage } from '../storage/database.ts';
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

export interface ConnectLink {
  id: string;
  /** What the customer administrator opens in a plain browser. Shown once: only its hash is stored. */
  url: string;
  expiresAt: string;
}

export type OpenedLink = { ok: true; consent: StartedConsent } | { ok: false; status: 404 | 410; error: string; message: string };

export const DEFAULT_LINK_MINUTES = 72 * 60;

const hashOf = (code: string) => createHash('sha256').update(code).digest('hex');

/**
 * Connect links: a platform user (an API key that may register tokens) makes a single-use,
 * expiring link, and a customer administrator opens it in a plain browser, with no API key. Opening
 * it uses it up and starts the consent bound to that browser (an httpOnly cookie), on behalf of
 * whoever made the link. The link's secret is only in its URL; the database keeps its hash.
 * An unknown code writes nothing.
 */
export function createConnectLinkService(deps: { storage: Storage; ledger: LedgerService; tenants: TenantService; providers: ProviderService; consent: ConsentService; clock: Clock; publicUrl: string }) {
  const { storage, ledger, clock } = deps;

  return {
    async create(principal: Principal, input: ConnectLinkInput): Promise<ConnectLink> {
      await deps.tenants.findVisible(storage.db, principal, input.tenantId);
      const provider = await deps.providers.findRow(storage.db, input.providerId);
      if (!provider.issuer || !provider.authorization_endpoint) throw new CustodyError('consent_not_supported');
      const at = clock.now();
      const id = newId('connectLink', at.getTime());
      const code = randomBytes(32).toString('base64url');
      const expiresAt = new Date(at.getTime() + (input.expiresInMinutes ?? DEFAULT_LINK_MINUTES) * 60_000).toISOString();
      const scopes = [...new Set(input.scopes ?? [])];
      await storage.db.transaction().execute(async (trx) => {
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
            created_by: principal.actor,
            created_at: at.toISOString(),
            expires_at: expiresAt,
            opened_at: null,
            flow_id: null,
          })
          .execute();
        await ledger.append(trx, { actor: principal.actor, action: 'oauth.connect_link_created', tenantId: input.tenantId, subjectId: id, data: { providerId: input.providerId, owner: input.owner, scopes, expiresAt } });
      });
      return { id, url: `${deps.publicUrl}/connect/${code}`, expiresAt };
    },

    /** A browser opened a link: use it up and start its consent, or say why not. */
    async open(code: string): Promise<OpenedLink> {
      const codeHash = hashOf(code);
      const link = await storage.db.selectFrom('connect_links').selectAll().where('code_hash', '=', codeHash).executeTakeFirst();
      if (!link) return { ok: false, status: 404, error: 'unknown_link', message: 'This link is not one Custody made. Ask for a new consent link.' };
      if (link.opened_at) return { ok: false, status: 410, error: 'link_used', message: 'This link was already used; each link works once. Ask for a new consent link.' };
      const now = clock.now().toISOString();
      if (link.expires_at <= now) return { ok: false, status: 410, error: 'link_expired', message: 'This link has expired. Ask for a new consent link.' };
      let claimed = false;
      const consent = await deps.consent.beginFlow(
        link.created_by,
        { providerId: link.provider_id, tenantId: link.tenant_id, owner: link.owner, ...(link.purpose ? { purpose: link.purpose } : {}), scopes: JSON.parse(link.scopes) as string[] },
        async (trx, flowId) => {
          // The single use: of two browsers opening the link at once, one update matches.
          const r = await trx.updateTable('connect_links').set({ opened_at: now, flow_id: flowId }).where('id', '=', link.id).where('opened_at', 'is', null).executeTakeFirst();
          if (Number(r.numUpdatedRows) !== 1) throw new LinkAlreadyUsed();
          claimed = true;
          await ledger.append(trx, { actor: link.created_by, action: 'oauth.connect_link_opened', tenantId: link.tenant_id, subjectId: link.id, data: { flowId } });
        },
      ).catch((err: unknown) => {
        if (err instanceof LinkAlreadyUsed) return null;
        throw err;
      });
      if (!consent || !claimed) return { ok: false, status: 410, error: 'link_used', message: 'This link was already used; each link works once. Ask for a new consent link.' };
      return { ok: true, consent };
    },
  };
}

class LinkAlreadyUsed extends Error {}

export type ConnectLinkService = ReturnType<typeof createConnectLinkService>;
