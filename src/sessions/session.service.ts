import { createHmac, hash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiKeyService } from '../apikeys/apikey.service.ts';
import type { Principal, Role } from '../auth/roles.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import { nowMs, type Clock } from '../shared/clock.ts';
import { CustodyError } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import type { Storage } from '../storage/database.ts';
import type { ConsoleSessionsTable } from '../storage/schema.ts';
import type { SessionView } from './session.contract.ts';

/** How long a lookup of a session is trusted before its row is read again (a sign-out elsewhere is seen within it). */
const CACHE_TTL_MS = 5_000;
/** Sessions looked up and kept in memory at most; past it the oldest goes. */
const CACHE_MAX = 10_000;
/** Sessions one key or one person may hold at once; a new sign-in past it ends the oldest. */
export const MAX_SESSIONS_PER_ACTOR = 20;
/**
 * The last-seen stamp (which the idle expiry runs from) is written at most this often, and at most
 * every tenth of the idle window: a session in use never ends idle early by more than that tenth.
 */
const SEEN_GRANULARITY_MS = 60_000;
/** Expired rows deleted per sign-in (the table never grows past the live sessions for long). */
const PRUNE_BATCH = 500;

export interface SessionSettings {
  /** A session ends this long after sign-in, whatever happens. */
  ttlMs: number;
  /** A session nobody used for this long ends. */
  idleMs: number;
}

/** Who a single sign-on maps to (src/sessions/sso.ts decides it from the issuer's claims). */
export interface SsoIdentity {
  /** `sso:<issuer host>:<subject>`: how the ledger names the person. */
  actor: string;
  name: string;
  role: Role;
  tenantId: string | null;
}

/** What a request's session cookie stands for: the principal it acts as and the CSRF token it must send. */
export interface SessionAuthentication {
  principal: Principal;
  csrfToken: string;
}

interface Cached {
  row: ConsoleSessionsTable;
  until: number;
}

const hashOf = (secret: string) => hash('sha256', secret, 'hex');
/** The CSRF token of a session: derived from the cookie's secret, so only someone holding the session (and reading a same-origin answer) knows it. */
export const csrfTokenOf = (secret: string) => createHmac('sha256', secret).update('custody-console-csrf').digest('base64url');
/** A well-formed cookie secret: 32 random bytes, base64url. */
const SECRET_FORMAT = /^[A-Za-z0-9_-]{43}$/;

export interface SessionServiceDeps {
  storage: Storage;
  ledger: LedgerService;
  apiKeys: Pick<ApiKeyService, 'authenticate' | 'principalOf'>;
  clock: Clock;
  settings: SessionSettings;
  /** A tenant's name, for the console's header (the tenants folder owns the table); null when gone. */
  tenantName?: (tenantId: string) => Promise<string | null>;
}

/**
 * Console sessions (issue 17). An API key, or a person signed in through single sign-on, is
 * exchanged for a random secret kept by the browser in an httpOnly cookie; the server keeps its
 * hash. A session made from a key acts as that key and ends when the key is revoked. Sign-in and
 * sign-out are ledgered; failed sign-ins are not (nothing unauthenticated writes permanent state).
 */
export function createSessionService(deps: SessionServiceDeps) {
  const { storage, ledger, clock, settings } = deps;
  const cache = new Map<string, Cached>();
  const seenGranularityMs = Math.min(SEEN_GRANULARITY_MS, Math.floor(settings.idleMs / 10));

  async function viewOf(row: ConsoleSessionsTable, secret: string): Promise<SessionView> {
    const idleEnd = Date.parse(row.last_seen_at) + settings.idleMs;
    return {
      role: row.role,
      tenantId: row.tenant_id,
      tenantName: row.tenant_id && deps.tenantName ? await deps.tenantName(row.tenant_id).catch(() => null) : null,
      name: row.name,
      via: row.via,
      csrfToken: csrfTokenOf(secret),
      expiresAt: new Date(Math.min(Date.parse(row.expires_at), idleEnd)).toISOString(),
    };
  }

  async function open(identity: { via: 'api_key' | 'sso'; keyId: string | null; actor: string; name: string; role: Role; tenantId: string | null }): Promise<{ secret: string; view: SessionView; maxAgeSeconds: number }> {
    const now = clock.now();
    const secret = randomBytes(32).toString('base64url');
    const row: ConsoleSessionsTable = {
      id: newId('consoleSession', now.getTime()),
      secret_hash: hashOf(secret),
      via: identity.via,
      key_id: identity.keyId,
      actor: identity.actor,
      name: identity.name,
      role: identity.role,
      tenant_id: identity.tenantId,
      created_at: now.toISOString(),
      last_seen_at: now.toISOString(),
      expires_at: new Date(now.getTime() + settings.ttlMs).toISOString(),
    };
    const ended = await storage.db.transaction().execute(async (trx) => {
      // Expired sessions go first (a bounded batch), then this actor's oldest past the bound.
      const expired = await trx.selectFrom('console_sessions').select('id').where('expires_at', '<=', row.created_at).limit(PRUNE_BATCH).execute();
      if (expired.length > 0) await trx.deleteFrom('console_sessions').where('id', 'in', expired.map((e) => e.id)).execute();
      const held = await trx.selectFrom('console_sessions').select(['id', 'secret_hash']).where('actor', '=', row.actor).orderBy('created_at', 'desc').orderBy('id', 'desc').execute();
      const over = held.slice(MAX_SESSIONS_PER_ACTOR - 1);
      if (over.length > 0) await trx.deleteFrom('console_sessions').where('id', 'in', over.map((o) => o.id)).execute();
      await trx.insertInto('console_sessions').values(row).execute();
      await ledger.append(trx, { actor: row.actor, action: 'session.signed_in', tenantId: row.tenant_id, subjectId: row.id, data: { via: row.via, role: row.role, name: row.name, endedOldest: over.length } });
      return over;
    });
    for (const o of ended) cache.delete(o.secret_hash);
    return { secret, view: await viewOf(row, secret), maxAgeSeconds: Math.floor(settings.ttlMs / 1000) };
  }

  /** The live row of a cookie secret (cached briefly), or null; the idle and absolute expiry applied. */
  async function live(secret: string): Promise<ConsoleSessionsTable | null> {
    if (!SECRET_FORMAT.test(secret)) return null;
    const key = hashOf(secret);
    const now = nowMs(clock);
    let entry = cache.get(key);
    if (!entry || entry.until < now) {
      const row = await storage.db.selectFrom('console_sessions').selectAll().where('secret_hash', '=', key).executeTakeFirst();
      if (!row) {
        cache.delete(key);
        return null;
      }
      // A last-seen stamp this instance wrote may not have landed yet: the later of the two stands.
      if (entry && entry.row.id === row.id && entry.row.last_seen_at > row.last_seen_at) row.last_seen_at = entry.row.last_seen_at;
      if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
      entry = { row, until: now + CACHE_TTL_MS };
      cache.set(key, entry);
    }
    const { row } = entry;
    // The stored hash is compared again in constant time (the lookup itself went by the hash).
    if (!timingSafeEqual(Buffer.from(row.secret_hash, 'hex'), Buffer.from(key, 'hex'))) return null;
    if (Date.parse(row.expires_at) <= now || Date.parse(row.last_seen_at) + settings.idleMs <= now) return null;
    if (now - Date.parse(row.last_seen_at) > seenGranularityMs) {
      const at = new Date(now).toISOString();
      row.last_seen_at = at;
      // Best effort, off the request's path: a lost stamp shortens nothing but the idle window.
      storage.db.updateTable('console_sessions').set({ last_seen_at: at }).where('id', '=', row.id).execute().catch(() => {});
    }
    return row;
  }

  async function principalOfRow(row: ConsoleSessionsTable): Promise<Principal | null> {
    if (row.via === 'api_key') return row.key_id ? deps.apiKeys.principalOf(row.key_id) : null;
    return { keyId: null, name: row.name, role: row.role, tenantId: row.tenant_id, workload: null, actor: row.actor };
  }

  return {
    /** Sign-in with an API key. A wrong key is `unauthenticated`; a workload key is `forbidden` (workloads call the gateway, not the console). */
    async signInWithKey(apiKey: string): Promise<{ secret: string; view: SessionView; maxAgeSeconds: number }> {
      const principal = await deps.apiKeys.authenticate(apiKey);
      if (!principal) throw new CustodyError('unauthenticated', 'That API key is not valid (wrong, revoked, or mistyped).');
      if (principal.role === 'workload') throw new CustodyError('forbidden', 'A workload key calls the gateway; it cannot sign in to the console. Use an admin, security, auditor or tenant_admin key.');
      return open({ via: 'api_key', keyId: principal.keyId, actor: principal.actor, name: principal.name, role: principal.role, tenantId: principal.tenantId });
    },

    /** Sign-in of a person whose single sign-on succeeded and whose claims mapped to a role (sso.ts). */
    async signInWithSso(identity: SsoIdentity): Promise<{ secret: string; view: SessionView; maxAgeSeconds: number }> {
      return open({ via: 'sso', keyId: null, ...identity });
    },

    /** The principal and CSRF token of a request's session cookie, or null when there is no live session. */
    async authenticate(secret: string): Promise<SessionAuthentication | null> {
      const row = await live(secret);
      if (!row) return null;
      const principal = await principalOfRow(row);
      return principal ? { principal, csrfToken: csrfTokenOf(secret) } : null;
    },

    /** What the console shows of its session (with the CSRF token), or null. */
    async view(secret: string): Promise<SessionView | null> {
      const row = await live(secret);
      if (!row || !(await principalOfRow(row))) return null;
      return viewOf(row, secret);
    },

    /** Ends the session of this secret (nothing when there is none); ledgered. */
    async signOut(secret: string): Promise<void> {
      if (!SECRET_FORMAT.test(secret)) return;
      const key = hashOf(secret);
      cache.delete(key);
      await storage.db.transaction().execute(async (trx) => {
        const row = await trx.selectFrom('console_sessions').selectAll().where('secret_hash', '=', key).executeTakeFirst();
        if (!row) return;
        await trx.deleteFrom('console_sessions').where('id', '=', row.id).execute();
        await ledger.append(trx, { actor: row.actor, action: 'session.signed_out', tenantId: row.tenant_id, subjectId: row.id, data: { via: row.via } });
      });
    },
  };
}

export type SessionService = ReturnType<typeof createSessionService>;
