import { canSeeTenant, type Principal } from '../auth/roles.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { NewLedgerEntry } from '../ledger/ledger.types.ts';
import type { ProviderService } from '../providers/provider.service.ts';
import type { TenantService } from '../tenants/tenant.service.ts';
import type { Clock } from '../shared/clock.ts';
import { CustodyError } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import type { Db, Storage } from '../storage/database.ts';
import type { TokensTable } from '../storage/schema.ts';
import type { Vault } from '../vault/vault.service.ts';
import { applyTransition, statesAllowing, type TokenState, type Transition } from './token.lifecycle.ts';
import { practicalTest, type PracticalTestPolicy } from './token.practical-test.ts';
import { createTokenRepo, type TokenRow } from './token.repo.ts';
import type { PatchTokenInput, RegisterTokenInput, TokenFilter, TokenRecord, UpstreamRevocationStatus } from './token.types.ts';

/** A committed change of state, for listeners outside the transaction (gateway caches, metrics). */
export interface TokenStateChange {
  tokenId: string;
  tenantId: string;
  providerId: string;
  transition: Transition;
  from: TokenState;
  to: TokenState;
  actor: string;
  reason: string;
  /** When the change was asked for (a bulk revocation asks once for many) and when it took effect. */
  requestedAt: string;
  at: string;
}

/**
 * Work that must commit with a state change (e.g. the upstream-revocation outbox job) registers
 * here; it runs inside the transaction that changes the state.
 */
export type TransitionHook = (trx: Db, change: TokenStateChange) => Promise<void>;

export interface TokenServiceDeps {
  storage: Storage;
  vault: Vault;
  ledger: LedgerService;
  tenants: TenantService;
  providers: ProviderService;
  clock: Clock;
  policy: PracticalTestPolicy;
}

const BULK_BATCH = 500;

function iso(value: string | undefined): string | null {
  return value === undefined ? null : new Date(value).toISOString();
}

export function createTokenService(deps: TokenServiceDeps) {
  const { storage, vault, ledger, clock, policy } = deps;
  const repo = createTokenRepo();
  const transitionHooks: TransitionHook[] = [];
  const committedListeners: ((change: TokenStateChange) => void)[] = [];
  // Changes that are not transitions (workloads, credentials after a refresh) but that whoever
  // caches a token (the gateway) must still hear of, in the transaction and after the commit.
  const updateHooks: ((trx: Db, tokenId: string) => Promise<void>)[] = [];
  const committedUpdateListeners: ((tokenId: string) => void)[] = [];

  function toRecord(r: TokenRow, usage: Map<string, string>, now: Date): TokenRecord {
    const grantedScopes = JSON.parse(r.granted_scopes) as string[];
    const upstream = r.p_revocation_endpoint ? 'rfc7009' : 'none';
    const verified = upstream === 'rfc7009' && r.p_revocation_verified_at !== null;
    const test = practicalTest(
      {
        state: r.state,
        upstreamRevocation: upstream,
        revocationVerified: verified,
        approverSubject: r.approver_subject,
        approverActive: r.approver_active === 1,
        purpose: r.purpose,
        reviewDueAt: r.review_due_at,
        lastUsedAt: r.last_used_at,
        issuedAt: r.issued_at,
      },
      now,
      policy,
    );
    return {
      id: r.id,
      tenantId: r.tenant_id,
      providerId: r.provider_id,
      subject: r.subject,
      owner: r.owner,
      approver: r.approver_subject
        ? { subject: r.approver_subject, email: r.approver_email, issuer: r.approver_issuer, approvedAt: r.approved_at, active: r.approver_active === 1, startedBy: r.approval_started_by ?? null }
        : null,
      purpose: r.purpose,
      reviewDueAt: r.review_due_at,
      workloads: JSON.parse(r.workloads) as string[],
      grantedScopes,
      scopeUsage: grantedScopes.map((scope) => ({ scope, lastUsedAt: usage.get(scope) ?? null })),
      state: r.state as TokenState,
      stateReason: r.state_reason,
      stateActor: r.state_actor,
      stateChangedAt: r.state_changed_at,
      issuedAt: r.issued_at,
      accessExpiresAt: r.access_expires_at,
      refreshExpiresAt: r.refresh_expires_at,
      lastUsedAt: r.last_used_at,
      lastUsedBy: r.last_used_by,
      hasRefreshToken: r.refresh_token_enc !== null,
      revocationPath: { local: 'gateway', upstream, verified },
      revocation: r.revocation_requested_at
        ? {
            requestedAt: r.revocation_requested_at,
            locallyEffectiveAt: r.revocation_effective_at ?? null,
            upstream: (r.upstream_revocation ?? 'pending') as UpstreamRevocationStatus,
            upstreamConfirmedAt: r.upstream_confirmed_at ?? null,
          }
        : null,
      managed: test.managed,
      managedReasons: test.reasons,
      predecessorId: r.predecessor_id,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    };
  }

  /** Another tenant's token answers exactly like a missing one. */
  async function findVisibleRow(db: Db, principal: Principal, id: string): Promise<TokenRow> {
    const row = await repo.findById(db, id);
    if (!row || !canSeeTenant(principal, row.tenant_id)) throw new CustodyError('token_not_found');
    return row;
  }

  async function recordOf(db: Db, row: TokenRow): Promise<TokenRecord> {
    return toRecord(row, await repo.scopeUsage(db, row.id), clock.now());
  }

  function notify(changes: TokenStateChange[]) {
    for (const change of changes) for (const listener of committedListeners) listener(change);
  }

  /** Applies one transition inside `trx`; returns the change, or throws illegal_transition. */
  async function transitionRow(trx: Db, row: TokenRow, transition: Transition, actor: string, reason: string, extra: Partial<TokensTable> = {}, requestedAt?: string) {
    const from = row.state as TokenState;
    const result = applyTransition(from, transition);
    if (!result.ok) throw new CustodyError('illegal_transition', `Token ${row.id}: ${result.reason}.`);
    const now = clock.now().toISOString();
    const updated = await repo.update(
      trx,
      row.id,
      { state: result.to, state_reason: reason, state_actor: actor, state_changed_at: now, updated_at: now, ...extra },
      from,
    );
    // Someone else changed the state between our read and write: report what is true now.
    if (!updated) throw new CustodyError('illegal_transition', `Token ${row.id} changed state concurrently; read it again and retry.`);
    const change: TokenStateChange = { tokenId: row.id, tenantId: row.tenant_id, providerId: row.provider_id, transition, from, to: result.to, actor, reason, requestedAt: requestedAt ?? now, at: now };
    await ledger.append(trx, { actor, action: `token.${pastTense(transition)}`, tenantId: row.tenant_id, subjectId: row.id, data: { from, to: result.to, reason } });
    for (const hook of transitionHooks) await hook(trx, change);
    return change;
  }

  return {
    /** For capabilities that must act in the same transaction as a state change. */
    onTransition(hook: TransitionHook) {
      transitionHooks.push(hook);
    },
    /** For listeners that react once a state change has committed. */
    onCommittedChange(listener: (change: TokenStateChange) => void) {
      committedListeners.push(listener);
    },
    /** For caches of token records: a non-lifecycle change, inside its transaction. */
    onUpdate(hook: (trx: Db, tokenId: string) => Promise<void>) {
      updateHooks.push(hook);
    },
    /** For caches of token records: a non-lifecycle change has committed. */
    onCommittedUpdate(listener: (tokenId: string) => void) {
      committedUpdateListeners.push(listener);
    },
    /** Announces a non-lifecycle change made by another capability (e.g. refreshed credentials). */
    async recordUpdated(trx: Db, tokenId: string) {
      for (const hook of updateHooks) await hook(trx, tokenId);
    },
    notifyUpdated(tokenId: string) {
      for (const listener of committedUpdateListeners) listener(tokenId);
    },
    findVisibleRow,
    toRecord,
    transitionRow,
    notify,

    async register(principal: Principal, input: RegisterTokenInput): Promise<TokenRecord> {
      await deps.tenants.findVisible(storage.db, principal, input.tenantId);
      await deps.providers.findRow(storage.db, input.providerId);
      const at = clock.now();
      const now = at.toISOString();
      const id = newId('token', at.getTime());
      const scopes = [...new Set(input.scopes)];
      await storage.db.transaction().execute(async (trx) => {
        const key = await vault.createDataKey(trx, input.tenantId, id, at);
        const row: TokensTable = {
          id,
          tenant_id: input.tenantId,
          provider_id: input.providerId,
          subject: input.subject ?? null,
          owner: input.owner,
          approver_subject: input.approver?.subject ?? null,
          approver_email: input.approver?.email ?? null,
          approver_issuer: input.approver?.issuer ?? null,
          approved_at: iso(input.approver?.approvedAt),
          approver_active: 1,
          purpose: input.purpose ?? null,
          review_due_at: iso(input.reviewDueAt),
          workloads: JSON.stringify([...new Set(input.workloads ?? [])]),
          granted_scopes: JSON.stringify(scopes),
          state: 'active',
          state_reason: 'registered',
          state_actor: principal.actor,
          state_changed_at: now,
          issued_at: iso(input.issuedAt) ?? now,
          access_expires_at: iso(input.accessExpiresAt),
          refresh_expires_at: iso(input.refreshExpiresAt),
          last_used_at: null,
          last_used_by: null,
          access_token_enc: vault.encrypt(key, 'access_token', input.accessToken),
          refresh_token_enc: input.refreshToken ? vault.encrypt(key, 'refresh_token', input.refreshToken) : null,
          access_fp: vault.fingerprint(input.accessToken),
          refresh_fp: input.refreshToken ? vault.fingerprint(input.refreshToken) : null,
          predecessor_id: input.predecessorId ?? null,
          created_at: now,
          updated_at: now,
        };
        await repo.insert(trx, row);
        await ledger.append(trx, {
          actor: principal.actor,
          action: 'token.registered',
          tenantId: input.tenantId,
          subjectId: id,
          data: {
            providerId: input.providerId,
            owner: row.owner,
            approver: input.approver ? { subject: input.approver.subject, email: input.approver.email ?? null, issuer: input.approver.issuer ?? null } : null,
            purpose: row.purpose,
            workloads: JSON.parse(row.workloads),
            scopes,
            hasRefreshToken: row.refresh_token_enc !== null,
          },
        });
      });
      return recordOf(storage.db, await findVisibleRow(storage.db, principal, id));
    },

    async get(principal: Principal, id: string): Promise<TokenRecord> {
      return recordOf(storage.db, await findVisibleRow(storage.db, principal, id));
    },

    async list(principal: Principal, filter: TokenFilter): Promise<{ items: TokenRecord[]; nextCursor: string | null }> {
      if (principal.tenantId !== null) {
        if (filter.tenantId && filter.tenantId !== principal.tenantId) return { items: [], nextCursor: null };
        filter = { ...filter, tenantId: principal.tenantId };
      }
      const now = clock.now();
      const rows = await repo.list(storage.db, { ...filter, limit: filter.limit + 1 }, now, policy);
      const page = rows.slice(0, filter.limit);
      const usage = await usageFor(storage.db, page.map((r) => r.id));
      return {
        items: page.map((r) => toRecord(r, usage.get(r.id) ?? new Map(), now)),
        nextCursor: rows.length > filter.limit ? encodeCursor(page[page.length - 1]!.id) : null,
      };
    },

    async patch(principal: Principal, id: string, input: PatchTokenInput): Promise<TokenRecord> {
      const changed = await storage.db.transaction().execute(async (trx) => {
        const row = await findVisibleRow(trx, principal, id);
        const changes: Partial<TokensTable> = {};
        const entries: NewLedgerEntry[] = [];
        const base = { actor: principal.actor, tenantId: row.tenant_id, subjectId: id };
        if (input.owner !== undefined && input.owner !== row.owner) {
          changes.owner = input.owner;
          entries.push({ ...base, action: 'token.owner_changed', data: { from: row.owner, to: input.owner } });
        }
        if (input.purpose !== undefined && input.purpose !== row.purpose) {
          changes.purpose = input.purpose;
          entries.push({ ...base, action: 'token.purpose_changed', data: { from: row.purpose, to: input.purpose } });
        }
        if (input.reviewDueAt !== undefined) {
          const next = input.reviewDueAt === null ? null : new Date(input.reviewDueAt).toISOString();
          if (next !== row.review_due_at) {
            changes.review_due_at = next;
            entries.push({ ...base, action: 'token.review_due_changed', data: { from: row.review_due_at, to: next } });
          }
        }
        if (input.workloads !== undefined) {
          const before = JSON.parse(row.workloads) as string[];
          const after = [...new Set(input.workloads)];
          const added = after.filter((w) => !before.includes(w));
          const removed = before.filter((w) => !after.includes(w));
          if (added.length + removed.length > 0) {
            changes.workloads = JSON.stringify(after);
            entries.push({ ...base, action: 'token.workloads_changed', data: { added, removed } });
          }
        }
        if (entries.length === 0) return false;
        changes.updated_at = clock.now().toISOString();
        await repo.update(trx, id, changes);
        await ledger.appendMany(trx, entries);
        for (const hook of updateHooks) await hook(trx, id);
        return true;
      });
      if (changed) for (const listener of committedUpdateListeners) listener(id);
      return recordOf(storage.db, await findVisibleRow(storage.db, principal, id));
    },

    async transition(principal: Principal, id: string, transition: Transition, reason: string): Promise<TokenRecord> {
      const requestedAt = clock.now().toISOString();
      const change = await storage.db.transaction().execute(async (trx) => {
        const row = await findVisibleRow(trx, principal, id);
        return transitionRow(trx, row, transition, principal.actor, reason, {}, requestedAt);
      });
      notify([change]);
      return recordOf(storage.db, await findVisibleRow(storage.db, principal, id));
    },

    /**
     * Revokes every live token matching the filter, in batches of one transaction each, so a crash
     * part-way leaves every acknowledged batch revoked and ledgered. Requires at least one filter.
     */
    async bulkRevoke(
      principal: Principal,
      input: { tenantId?: string; providerId?: string; ids?: string[]; reason: string },
      onProgress?: (revoked: number) => void,
    ): Promise<{ revoked: number }> {
      if (!input.tenantId && !input.providerId && !input.ids) throw new CustodyError('filter_required');
      let tenantId = input.tenantId;
      if (principal.tenantId !== null) {
        if (tenantId && tenantId !== principal.tenantId) throw new CustodyError('tenant_not_found');
        tenantId = principal.tenantId;
      }
      const live = statesAllowing('revoke');
      const requestedAt = clock.now().toISOString();
      let revoked = 0;
      let afterId: string | undefined;
      for (;;) {
        const changes = await storage.db.transaction().execute(async (trx) => {
          const rows = await repo.list(
            trx,
            { tenantId, providerId: input.providerId, ids: input.ids, afterId, limit: BULK_BATCH },
            clock.now(),
            policy,
          );
          if (rows.length === 0) return null;
          afterId = rows[rows.length - 1]!.id;
          const out: TokenStateChange[] = [];
          for (const row of rows) {
            if (!live.includes(row.state as TokenState)) continue;
            out.push(await transitionRow(trx, row, 'revoke', principal.actor, input.reason, {}, requestedAt));
          }
          return out;
        });
        if (changes === null) break;
        notify(changes);
        revoked += changes.length;
        onProgress?.(revoked);
      }
      return { revoked };
    },

    /** The expiry sweep: live tokens whose credentials can no longer work become `expired`. */
    async expireDue(): Promise<number> {
      let expired = 0;
      for (;;) {
        const candidates = await repo.findExpiring(storage.db, clock.now(), BULK_BATCH);
        if (candidates.length === 0) return expired;
        const changes = await storage.db.transaction().execute(async (trx) => {
          const out: TokenStateChange[] = [];
          for (const c of candidates) {
            const row = await repo.findById(trx, c.id);
            if (!row || row.state !== c.state) continue;
            out.push(await transitionRow(trx, row, 'expire', 'system:expiry-sweep', 'credentials expired'));
          }
          return out;
        });
        notify(changes);
        expired += changes.length;
        if (candidates.length < BULK_BATCH) return expired;
      }
    },

    /** Traces a leaked credential string to its record (without storing or logging the string). */
    async findByCredential(principal: Principal, credential: string): Promise<TokenRecord | null> {
      const row = await repo.findByFingerprint(storage.db, vault.fingerprint(credential));
      if (!row || !canSeeTenant(principal, row.tenant_id)) return null;
      return recordOf(storage.db, row);
    },
  };

  async function usageFor(db: Db, ids: string[]): Promise<Map<string, Map<string, string>>> {
    const out = new Map<string, Map<string, string>>();
    if (ids.length === 0) return out;
    const rows = await db.selectFrom('token_scope_usage').select(['token_id', 'scope', 'last_used_at']).where('token_id', 'in', ids).execute();
    for (const r of rows) {
      let m = out.get(r.token_id);
      if (!m) out.set(r.token_id, (m = new Map()));
      m.set(r.scope, r.last_used_at);
    }
    return out;
  }
}

function pastTense(t: Transition): string {
  return { suspend: 'suspended', resume: 'resumed', reauthorise: 'reauthorised', expire: 'expired', revoke: 'revoked' }[t];
}

export function encodeCursor(id: string): string {
  return Buffer.from(JSON.stringify({ after: id })).toString('base64url');
}

export function decodeCursor(cursor: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof parsed.after === 'string' && /^tok_[0-9A-Z]{26}$/.test(parsed.after)) return parsed.after;
  } catch {
    // fall through
  }
  throw new CustodyError('invalid_cursor');
}

export type TokenService = ReturnType<typeof createTokenService>;
