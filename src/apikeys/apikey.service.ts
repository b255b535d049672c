import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { TENANT_BOUND_ROLES, type Principal, type Role } from '../auth/roles.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { TenantService } from '../tenants/tenant.service.ts';
import { nowMs, type Clock } from '../shared/clock.ts';
import { CustodyError } from '../shared/errors.ts';
import { ID_PREFIXES, newId } from '../shared/ids.ts';
import type { DatabaseConfig } from '../config/config.ts';
import type { Storage } from '../storage/database.ts';
import type { Listener } from '../storage/dialect.ts';
import type { ApiKeysTable } from '../storage/schema.ts';
import type { ApiKeyRecord, CreateApiKeyInput } from './apikey.contract.ts';

export type { ApiKeyRecord, CreateApiKeyInput } from './apikey.contract.ts';

/** `cus_<26-char key id>_<43-char secret>`: the id finds the row, the secret is compared in constant time. */
const KEY_FORMAT = /^cus_([0-9A-HJKMNP-TV-Z]{26})_([A-Za-z0-9_-]{43})$/;
const CACHE_TTL_MS = 5_000;
/** PostgreSQL channel on which a revocation is announced to every instance (payload: the key id). */
export const API_KEY_CHANGES_CHANNEL = 'custody_apikey_changes';
const LAST_USED_GRANULARITY_MS = 60_000;

function hashSecret(secret: string): Buffer {
  return hash('sha256', secret, 'buffer');
}

/** What authentication keeps of a key for CACHE_TTL_MS: the row, its hash as bytes, the principal it yields. */
interface CachedKey {
  row: ApiKeysTable;
  secretHash: Buffer;
  principal: Principal;
  lastUsedMs: number;
  until: number;
}

function cachedKey(row: ApiKeysTable, until: number): CachedKey {
  return {
    row,
    secretHash: Buffer.from(row.secret_hash, 'hex'),
    principal: { keyId: row.id, name: row.name, role: row.role as Role, tenantId: row.tenant_id, workload: row.workload, actor: `apikey:${row.id}` },
    lastUsedMs: row.last_used_at ? Date.parse(row.last_used_at) : Number.NEGATIVE_INFINITY,
    until,
  };
}

function toRecord(r: ApiKeysTable): ApiKeyRecord {
  return {
    id: r.id,
    name: r.name,
    role: r.role as Role,
    tenantId: r.tenant_id,
    workload: r.workload,
    createdAt: r.created_at,
    createdBy: r.created_by,
    revokedAt: r.revoked_at,
    lastUsedAt: r.last_used_at,
  };
}

/**
 * What a right key left behind in the cache, for `recheck`: opaque to callers. It holds no secret
 * (the cached row and the hash of the key).
 */
export interface KeyTicket {
  readonly __keyTicket: unique symbol;
}

export interface ApiKeyServiceDeps {
  storage: Storage;
  ledger: LedgerService;
  tenants: TenantService;
  clock: Clock;
  /** Where to listen for other instances' revocations (PostgreSQL); absent, only the TTL applies. */
  database?: DatabaseConfig;
  onListenerError?: (err: Error) => void;
}

export function createApiKeyService(deps: ApiKeyServiceDeps) {
  const { storage, ledger, clock } = deps;
  // Authentication runs on every request (and every gateway call); a short-lived cache keeps it off
  // the database. A revoked key is dropped here at once; other instances hear of it by NOTIFY on
  // commit (start), and the TTL bounds how long a lost message could matter.
  const cache = new Map<string, CachedKey>();
  let listener: Listener | null = null;

  /** The secret compared in constant time against the cached key's hash; the principal, or null. */
  function verify(entry: CachedKey, secret: string, now: number): Principal | null {
    if (entry.row.revoked_at) return null;
    if (!timingSafeEqual(hashSecret(secret), entry.secretHash)) return null;
    return admitted(entry, now);
  }

  /** A right key: its last-use stamp (at most once a minute), and the caller's own copy of the principal. */
  function admitted(entry: CachedKey, now: number): Principal {
    if (now - entry.lastUsedMs > LAST_USED_GRANULARITY_MS) {
      entry.lastUsedMs = now;
      const at = new Date(now).toISOString();
      // Best effort and off the request path: a lost last-use stamp is not worth failing a call.
      storage.db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', entry.row.id).execute().catch(() => {});
    }
    // A copy: callers own their principal.
    return { ...entry.principal };
  }

  /**
   * The same answer as `authenticate`, without waiting, when it needs no database read: null for
   * a malformed or wrong key, and for a right one its principal and a ticket for `recheck`;
   * undefined when the key's row must be read first (then call `authenticate`). The gateway
   * checks a key on every call.
   */
  function checkCached(presented: string): { principal: Principal; ticket: KeyTicket } | null | undefined {
    const m = KEY_FORMAT.exec(presented);
    if (!m) return null;
    const entry = cache.get(`${ID_PREFIXES.apiKey}_${m[1]}`);
    const now = nowMs(clock);
    if (!entry || entry.until < now) return undefined;
    const principal = verify(entry, m[2]!, now);
    return principal && { principal, ticket: entry as unknown as KeyTicket };
  }

  /** checkCached without the ticket. */
  function authenticateCached(presented: string): Principal | null | undefined {
    const checked = checkCached(presented);
    return checked && checked.principal;
  }

  return {
    /**
     * Hears other instances' revocations (PostgreSQL LISTEN) and drops those keys from the cache at
     * once. While the connection is down a revocation could be missed, so every (re)connect forgets
     * every cached key. SQLite: one serving process per file; nothing to hear.
     */
    async start(): Promise<void> {
      if (listener || !deps.database) return;
      listener = await storage.dialect.listen(deps.database, API_KEY_CHANGES_CHANNEL, {
        onMessage: (id) => cache.delete(id),
        onConnected: () => cache.clear(),
        onError: (err) => deps.onListenerError?.(err),
      });
    },

    async close(): Promise<void> {
      const l = listener;
      listener = null;
      if (l) await l.close();
    },

    async create(principal: Principal, input: CreateApiKeyInput): Promise<{ key: string; apiKey: ApiKeyRecord }> {
      const bound = TENANT_BOUND_ROLES.includes(input.role);
      if (bound && !input.tenantId) throw new CustodyError('tenant_required', `A ${input.role} key must name the tenant it acts for (tenantId).`);
      if (!bound && input.tenantId) throw new CustodyError('tenant_not_allowed', `A ${input.role} key sees all tenants; leave tenantId out.`);
      if (input.workload !== undefined && input.role !== 'workload') throw new CustodyError('validation_failed', 'Only a workload key names a workload.');
      if (input.tenantId) await deps.tenants.findVisible(storage.db, principal, input.tenantId);
      const id = newId('apiKey');
      const secret = randomBytes(32).toString('base64url');
      const row: ApiKeysTable = {
        id,
        name: input.name,
        role: input.role,
        tenant_id: input.tenantId ?? null,
        workload: input.role === 'workload' ? (input.workload ?? input.name) : null,
        secret_hash: hashSecret(secret).toString('hex'),
        created_at: clock.now().toISOString(),
        created_by: principal.actor,
        revoked_at: null,
        last_used_at: null,
      };
      await storage.db.transaction().execute(async (trx) => {
        await trx.insertInto('api_keys').values(row).execute();
        await ledger.append(trx, {
          actor: principal.actor,
          action: 'apikey.created',
          tenantId: row.tenant_id,
          subjectId: id,
          data: { name: row.name, role: row.role, workload: row.workload },
        });
      });
      return { key: `cus_${id.slice(ID_PREFIXES.apiKey.length + 1)}_${secret}`, apiKey: toRecord(row) };
    },

    async list(): Promise<ApiKeyRecord[]> {
      return (await storage.db.selectFrom('api_keys').selectAll().orderBy('id').execute()).map(toRecord);
    },

    async revoke(principal: Principal, id: string): Promise<ApiKeyRecord> {
      const row = await storage.db.transaction().execute(async (trx) => {
        const row = await trx.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
        if (!row) throw new CustodyError('api_key_not_found');
        if (row.revoked_at) return row;
        const at = clock.now().toISOString();
        await trx.updateTable('api_keys').set({ revoked_at: at }).where('id', '=', id).execute();
        await ledger.append(trx, { actor: principal.actor, action: 'apikey.revoked', tenantId: row.tenant_id, subjectId: id, data: { name: row.name, role: row.role } });
        // Delivered to every instance when (and only if) this commits.
        await storage.dialect.notify(trx, API_KEY_CHANGES_CHANNEL, id);
        return { ...row, revoked_at: at };
      });
      cache.delete(id);
      return toRecord(row);
    },

    /**
     * Whether the actor a ledger entry names still holds its key: false for an `apikey:…` actor
     * whose key was revoked (or is gone), true for system actors. Things a key made on its own
     * behalf (a consent link) stop working with it.
     */
    async isActorActive(actor: string): Promise<boolean> {
      if (!actor.startsWith('apikey:')) return true;
      const row = await storage.db.selectFrom('api_keys').select('revoked_at').where('id', '=', actor.slice('apikey:'.length)).executeTakeFirst();
      return row !== undefined && row.revoked_at === null;
    },

    async count(): Promise<number> {
      const r = await storage.db.selectFrom('api_keys').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      return Number(r.n);
    },

    /** Resolves a bearer key to a principal, or null. Never says which part was wrong. */
    async authenticate(presented: string): Promise<Principal | null> {
      const known = authenticateCached(presented);
      if (known !== undefined) return known;
      const m = KEY_FORMAT.exec(presented)!;
      const id = `${ID_PREFIXES.apiKey}_${m[1]}`;
      const row = await storage.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) {
        cache.delete(id);
        return null;
      }
      const now = nowMs(clock);
      const entry = cachedKey(row, now + CACHE_TTL_MS);
      cache.set(id, entry);
      return verify(entry, m[2]!, now);
    },

    authenticateCached,

    /**
     * The principal of a key by its id, while the key stands (not revoked, not gone); null
     * otherwise. For a console session made from the key (src/sessions): the session acts as the
     * key, and ends with it — at once on this instance, within the cache's lifetime on the others.
     */
    async principalOf(keyId: string): Promise<Principal | null> {
      const now = nowMs(clock);
      let entry = cache.get(keyId);
      if (!entry || entry.until < now) {
        const row = await storage.db.selectFrom('api_keys').selectAll().where('id', '=', keyId).executeTakeFirst();
        if (!row) {
          cache.delete(keyId);
          return null;
        }
        entry = cachedKey(row, now + CACHE_TTL_MS);
        cache.set(keyId, entry);
      }
      return entry.row.revoked_at ? null : admitted(entry, now);
    },

    /**
     * For a caller that is presented the same key again and again (the gateway, on one
     * connection): checkCached's answer with a ticket, which `recheck` answers from later without
     * hashing the key again. Making sure that it is the same key (in constant time) is that caller's part.
     */
    checkCached,

    /**
     * The principal of a key checked before, while what that check relied on stands: the key's
     * cache entry is still the current one (a revoke on this instance drops it at once), within its
     * TTL (CACHE_TTL_MS: how soon a revoke on another instance is seen) and not revoked. Undefined
     * once it does not: check the key again.
     */
    recheck(ticket: KeyTicket): Principal | undefined {
      const entry = ticket as unknown as CachedKey;
      const now = nowMs(clock);
      if (cache.get(entry.row.id) !== entry || entry.until < now || entry.row.revoked_at) return undefined;
      return admitted(entry, now);
    },
  };
}

export type ApiKeyService = ReturnType<typeof createApiKeyService>;
