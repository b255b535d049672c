import { canSeeTenant, type Principal } from '../auth/roles.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { NewLedgerEntry } from '../ledger/ledger.types.ts';
import type { ProviderService } from '../providers/provider.service.ts';
import type { TenantService } from '../tenants/tenant.service.ts';
import type { Clock } from '../shared/clock.ts';
import { encodeCursor } from '../shared/cursor.ts';
import { CustodyError } from '../shared/errors.ts';
import type { Db, Storage } from '../storage/database.ts';
import type { TokensTable } from '../storage/schema.ts';
import type { Vault } from '../vault/vault.service.ts';
import { statesAllowing, type Transition } from './token.lifecycle.ts';
import { createTokenOperations } from './token.operations.ts';
import { holdsPrivilege, type PracticalTestPolicies } from './token.practical-test.ts';
import { toTokenRecord } from './token.record.ts';
import { createTokenFactsReader } from './token.facts.ts';
import { createTokenImport } from './token.import.ts';
import { createTokenRiskWriter, encodeRiskCursor } from './token.risk.ts';
import { createTokenReportQueries } from './token.report-queries.ts';
import { createTokenRepo, type TokenRow } from './token.repo.ts';
import { createTokenReviewOperations, justifyRow } from './token.review-operations.ts';
import { suspensionKindFor } from './token.suspension.ts';
import type { NotRevoked, PatchTokenInput, RegisterTokenInput, TokenFilter, TokenRecord, UpstreamRevocationStatus } from './token.types.ts';
import type { TokenState } from './token.lifecycle.ts';
import { runTokenWork, type ChangeHook, type TokenChangeListeners, type TokenStateChange, type TokenWork, type TransitionHook } from './token.unit-of-work.ts';

export type { TokenStateChange, TokenWork, TransitionHook } from './token.unit-of-work.ts';

export interface TokenServiceDeps {
  storage: Storage;
  vault: Vault;
  ledger: LedgerService;
  tenants: TenantService;
  providers: ProviderService;
  clock: Clock;
  /** Each tenant's practical-test policy (from the governance policies), read once per request. */
  policies: () => Promise<PracticalTestPolicies>;
}

const BULK_BATCH = 500;
/** How long a count of records by provider and state is reused (`counts`): every tenant's, one tenant's. */
const PLATFORM_COUNTS_REUSE_MS = 5_000;
const TENANT_COUNTS_REUSE_MS = 2_000;
const COUNTS_KEPT = 1_000;
/**
 * Tokens per transaction of a bulk revocation: large enough that 100,000 take ten transactions,
 * small enough that a page holds SQLite's one writer (and gateway reads queued behind it) for a
 * fraction of a second.
 */
const BULK_REVOKE_PAGE = 10_000;

/**
 * The token record's one owner: only this folder reads and writes the `tokens` and
 * `token_scope_usage` tables. Principals' operations are here; other capabilities use the named
 * operations of token.operations.ts, inside a unit of work (token.unit-of-work.ts) that ledgers
 * each write and tells the gateway after the commit.
 */
export function createTokenService(deps: TokenServiceDeps) {
  const countsKept = new Map<string, { at: number; counting: Promise<{ at: string; items: { providerId: string; state: TokenState; count: number }[] }> }>();
  const { storage, vault, ledger, clock } = deps;
  const repo = createTokenRepo();
  const listeners: TokenChangeListeners = { transitionHooks: [], changeHooks: [], committedTransitions: [], committedChanges: [], committedInserts: [] };
  const workDeps = { repo, ledger, clock, dialect: storage.dialect, listeners };

  /**
   * Runs `fn` as one unit of work (one transaction); listeners hear of its changes once it commits.
   * `grouped`: a short change of one token, which on SQLite may commit together with others queued
   * at the same moment (Storage.grouped); never for a change of many tokens.
   */
  function unitOfWork<T>(fn: (work: TokenWork) => Promise<T>, options: { grouped?: boolean } = {}): Promise<T> {
    return runTokenWork(storage, workDeps, fn, options);
  }

  /** Another tenant's token answers exactly like a missing one. */
  async function findVisibleRow(db: Db, principal: Principal, id: string): Promise<TokenRow> {
    const row = await repo.findById(db, id);
    if (!row || !canSeeTenant(principal, row.tenant_id)) throw new CustodyError('token_not_found');
    return row;
  }

  /**
   * The tenants a token serves beyond its own are a claim about other customers: only platform
   * staff (not a tenant administrator) make it, and only about tenants that exist.
   */
  async function checkServedTenants(db: Db, principal: Principal, tenantId: string, served: string[] | undefined): Promise<void> {
    const others = [...new Set(served ?? [])].filter((t) => t !== tenantId);
    if (others.length === 0) return;
    if (principal.tenantId !== null) throw new CustodyError('forbidden', 'Only platform staff (admin, security) declare that a token serves other tenants.');
    const exist = await deps.tenants.existing(db, others);
    const missing = others.filter((t) => !exist.has(t));
    if (missing.length > 0) throw new CustodyError('validation_failed', `servedTenants names tenants that do not exist: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''}.`, [{ path: 'body/servedTenants', message: 'must name existing tenants' }]);
  }

  async function recordOf(db: Db, row: TokenRow): Promise<TokenRecord> {
    const policies = await deps.policies();
    return toTokenRecord(row, await repo.scopeUsage(db, row.id), clock.now(), policies.forTenant(row.tenant_id));
  }

  const get = async (principal: Principal, id: string): Promise<TokenRecord> => recordOf(storage.db, await findVisibleRow(storage.db, principal, id));

  /** Runs a unit of work again (at most three times) when it lost a deadlock. */
  async function retrying<T>(run: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await run();
      } catch (err) {
        if (attempt >= 3 || !storage.dialect.isRetryable(err)) throw err;
      }
    }
  }

  const operations = createTokenOperations({ storage, vault, ledger, clock, repo });
  const risk = createTokenRiskWriter(storage.dialect);
  const nextCursorOf = (last: TokenRow, sort: TokenFilter['sort']) => (sort === 'risk' ? encodeRiskCursor(last.risk_score!, last.id) : encodeCursor(last.id));
  const facts = createTokenFactsReader(storage.dialect);
  const imports = createTokenImport({ storage, vault, ledger, clock });

  /** Refuses a registration of a credential some record already holds (see register). */
  async function refuseHeldCredential(work: TokenWork, principal: Principal, input: RegisterTokenInput): Promise<void> {
    const fingerprints = [vault.fingerprint(input.accessToken), ...(input.refreshToken ? [vault.fingerprint(input.refreshToken)] : [])];
    // Two registrations of one credential at once (PostgreSQL): the second waits for the first's commit, then finds it.
    await storage.dialect.lockKeys(work.trx, fingerprints.map((f) => `credential:${f}`));
    const [held] = await operations.findByFingerprints(work, fingerprints);
    if (!held) return;
    const { row } = held;
    const message = canSeeTenant(principal, row.tenant_id)
      ? `This credential is already in the inventory as ${row.id} (${row.state}). A credential is registered once: change that record, resume it if it is suspended (a role allowed to lift its suspension), or, if it is revoked or expired, obtain a new credential from the issuer.`
      : 'This credential is already in the inventory, in a record you cannot see. A credential is registered once; ask the platform’s security team.';
    throw new CustodyError('credential_registered', message);
  }

  return {
    /** For capabilities that must act in the same transaction as a state change (the outbox). */
    onTransition(hook: TransitionHook) {
      listeners.transitionHooks.push(hook);
    },
    /** For capabilities that must act in the same transaction as any change of a token (cross-instance cache notifications). */
    onChange(hook: ChangeHook) {
      listeners.changeHooks.push(hook);
    },
    /** For listeners that react once a state change has committed (metrics, the outbox's wake-up). */
    onCommittedChange(listener: (change: TokenStateChange) => void) {
      listeners.committedTransitions.push(listener);
    },
    /** For caches of token records: the token changed (state, credentials, workloads, …) and it has committed. */
    /** Told of each record inserted (registered, created by a consent, imported; each starts active), after its commit. */
    onCommittedInsert(listener: (tokenId: string) => void) {
      listeners.committedInserts.push(listener);
    },
    onCommittedChanged(listener: (tokenId: string) => void) {
      listeners.committedChanges.push(listener);
    },
    unitOfWork,
    ...operations,
    /** Import of tokens held elsewhere (token.import.ts; src/imports checks the rows): importBatch, matchImport. */
    ...imports,
    /** What governance judges tokens by (token.facts.ts). */
    facts,
    /** Governance stores each token's risk score here, in its findings' transaction, when it changed (token.risk.ts). */
    recordRiskScores: risk.record,
    /** What access reviews read and change (src/reviews; token.review-operations.ts). */
    reviews: createTokenReviewOperations({ dialect: storage.dialect, clock, policies: deps.policies }),
    /** Aggregates for the compliance report (token.report-queries.ts). */
    reportQueries: createTokenReportQueries({ storage }),

    /** Live tokens per tenant and how many fail the practical test, at this moment (the managed share). */
    async managedCounts(tenantId?: string) {
      return repo.managedCounts(storage.db, clock.now(), await deps.policies(), tenantId);
    },

    /**
     * Moves every live token of owner `from` to owner `to`, in the caller's unit of work, one
     * `token.owner_changed` entry each; answers the ids moved. Revoked and expired records keep the
     * owner they ended with.
     */
    async reassignOwner(work: TokenWork, from: string, to: string, actor: string, reason: string): Promise<string[]> {
      // Owner names match without regard to case, as the owners directory does.
      const rows = await storage.dialect
        .forUpdate(
          work.trx
            .selectFrom('tokens')
            .select(['id', 'tenant_id', 'owner'])
            .where((eb) => eb(eb.fn('lower', ['owner']), '=', from.toLowerCase()))
            .where('state', 'in', ['active', 'suspended'])
            .orderBy('id'),
        )
        .execute();
      // Set-based: one statement and one ledger append however many tokens move (locked above).
      const moving = rows.filter((r) => r.owner !== to);
      await work.writeMany(
        moving.map((r) => r.id),
        { owner: to },
        moving.map((r) => ({ actor, action: 'token.owner_changed', tenantId: r.tenant_id, subjectId: r.id, data: { from: r.owner, to, reason } })),
      );
      return moving.map((r) => r.id);
    },

    /**
     * Registers a credential Custody does not hold yet. One already in the inventory (in any
     * tenant, or replaced by a refresh the issuer may still honour) is refused: a second record
     * would serve it again past the first one's suspension or revocation. Import answers
     * `existing` for such a row instead (token.import.ts).
     */
    async register(principal: Principal, input: RegisterTokenInput): Promise<TokenRecord> {
      await deps.tenants.findVisible(storage.db, principal, input.tenantId);
      await deps.providers.findRow(storage.db, input.providerId);
      await checkServedTenants(storage.db, principal, input.tenantId, input.servedTenants);
      const id = await unitOfWork(async (work) => {
        await refuseHeldCredential(work, principal, input);
        return operations.insert(work, principal.actor, input);
      });
      return get(principal, id);
    },

    get,

    async list(principal: Principal, filter: TokenFilter): Promise<{ items: TokenRecord[]; nextCursor: string | null }> {
      if (principal.tenantId !== null) {
        if (filter.tenantId && filter.tenantId !== principal.tenantId) return { items: [], nextCursor: null };
        filter = { ...filter, tenantId: principal.tenantId };
      }
      const now = clock.now();
      const policies = await deps.policies();
      const rows = await repo.list(storage.db, { ...filter, limit: filter.limit + 1 }, now, policies);
      const page = rows.slice(0, filter.limit);
      const usage = await repo.usageFor(storage.db, page.map((r) => r.id));
      return {
        items: page.map((r) => toTokenRecord(r, usage.get(r.id) ?? new Map(), now, policies.forTenant(r.tenant_id))),
        nextCursor: rows.length > filter.limit ? nextCursorOf(page[page.length - 1]!, filter.sort) : null,
      };
    },

    async patch(principal: Principal, id: string, input: PatchTokenInput): Promise<TokenRecord> {
      // Read before the unit of work: on SQLite nothing outside it can be read while it runs (a
      // stale policy snapshot is reloaded from the database, and a fresh one may be a reload
      // still queued for the connection: either would wait on itself).
      const policies = input.reviewDueAt === undefined ? null : await deps.policies();
      await unitOfWork(async (work) => {
        const row = await work.lockedRow(id);
        if (!row || !canSeeTenant(principal, row.tenant_id)) throw new CustodyError('token_not_found');
        // A revoked or expired record is final: it is kept as it was when it ended.
        if (!holdsPrivilege(row.state)) throw new CustodyError('illegal_transition', `Token ${id} is ${row.state}: a ${row.state} token is final and cannot be changed.`);
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
            // The review date is the platform's periodic re-justification: platform staff move it,
            // and never further than the tenant's review interval (a purpose is re-confirmed with
            // POST /v1/tokens/{id}/justify).
            if (principal.tenantId !== null) throw new CustodyError('forbidden', 'Only platform staff (admin, security) move a token’s review date; its owner re-justifies it with POST /v1/tokens/{id}/justify.');
            const interval = policies!.forTenant(row.tenant_id).reviewIntervalDays;
            const latest = new Date(clock.now().getTime() + interval * 86_400_000).toISOString();
            if (next !== null && next > latest) {
              throw new CustodyError('validation_failed', `reviewDueAt may be at most the tenant's review interval (${interval} days) ahead: ${latest} at the latest.`, [{ path: 'body/reviewDueAt', message: `must be at or before ${latest}` }]);
            }
            changes.review_due_at = next;
            entries.push({ ...base, action: 'token.review_due_changed', data: { from: row.review_due_at, to: next } });
          }
        }
        if (input.usageChannel !== undefined && input.usageChannel !== (row.usage_channel ?? 'gateway')) {
          changes.usage_channel = input.usageChannel;
          entries.push({ ...base, action: 'token.usage_channel_changed', data: { from: row.usage_channel ?? 'gateway', to: input.usageChannel } });
        }
        if (input.servedTenants !== undefined) {
          // Read in this unit of work's transaction (SQLite has one connection: outside it, this would wait on itself).
          await checkServedTenants(work.trx, principal, row.tenant_id, input.servedTenants);
          const before = JSON.parse(row.served_tenants ?? '[]') as string[];
          const after = [...new Set(input.servedTenants)];
          if (JSON.stringify(before) !== JSON.stringify(after)) {
            changes.served_tenants = JSON.stringify(after);
            entries.push({ ...base, action: 'token.served_tenants_changed', data: { from: before, to: after } });
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
        if (entries.length > 0) await work.write(id, changes, entries);
      }, { grouped: true });
      return get(principal, id);
    },

    /**
     * The owner re-justifies a live token's purpose: recorded (it may restate the same purpose), and
     * the next review falls due after the tenant's review interval. Ledgered as `token.justified`.
     */
    async justify(principal: Principal, id: string, purpose: string): Promise<TokenRecord> {
      const policies = await deps.policies();
      await unitOfWork(async (work) => {
        const row = await work.lockedRow(id);
        if (!row || !canSeeTenant(principal, row.tenant_id)) throw new CustodyError('token_not_found');
        // The same change as an access review's keep (token.review-operations.ts).
        await justifyRow(work, row, principal.actor, purpose, policies.forTenant(row.tenant_id).reviewIntervalDays, clock.now());
      }, { grouped: true });
      return get(principal, id);
    },

    async transition(principal: Principal, id: string, transition: Transition, reason: string): Promise<TokenRecord> {
      const requestedAt = clock.now().toISOString();
      await unitOfWork(
        async (work) => work.transition(await findVisibleRow(work.trx, principal, id), transition, principal.actor, reason, { requestedAt, suspensionKind: suspensionKindFor(principal.role) }),
        { grouped: true },
      );
      return get(principal, id);
    },

    /**
     * Revokes every live token matching the filter, set-based: pages of BULK_REVOKE_PAGE tokens (locked while they change),
     * each one transaction (a few UPDATE statements, one ledger append, the upstream jobs in
     * multi-row inserts), so a crash part-way leaves every acknowledged page revoked and ledgered.
     * When it returns, every matching token is revoked and the gateway refuses it (this instance at
     * once, others on the commit's notification). The upstream work goes in the outbox's paced bulk
     * lane; `requestedAt` names this revocation for its progress (revocationProgress).
     */
    async bulkRevoke(
      principal: Principal,
      input: { tenantId?: string; providerId?: string; ids?: string[]; reason: string },
      onProgress?: (revoked: number) => void,
    ): Promise<{ revoked: number; upstreamPending: number; upstreamNone: number; requestedAt: string; notRevoked?: NotRevoked[] }> {
      if (!input.tenantId && !input.providerId && !input.ids) throw new CustodyError('filter_required');
      let tenantId = input.tenantId;
      if (principal.tenantId !== null) {
        if (tenantId && tenantId !== principal.tenantId) throw new CustodyError('tenant_not_found');
        tenantId = principal.tenantId;
      }
      // A mistyped tenant or provider is an error, not "0 revoked": in an incident that difference matters.
      if (input.tenantId) await deps.tenants.findVisible(storage.db, principal, input.tenantId);
      if (input.providerId) await deps.providers.findRow(storage.db, input.providerId);
      const live = statesAllowing('revoke');
      const requestedAt = clock.now().toISOString();
      let revoked = 0;
      let upstreamPending = 0;
      let upstreamNone = 0;
      let afterId: string | undefined;
      const revokedIds = input.ids ? new Set<string>() : null;
      for (;;) {
        // A page that loses a deadlock (PostgreSQL; another writer locked its rows in another
        // order) rolled back whole: run it again.
        const page = await retrying(() => unitOfWork(async (work) => {
          const rows = await repo.forBulk(work.trx, storage.dialect, { tenantId, providerId: input.providerId, ids: input.ids, afterId, limit: BULK_REVOKE_PAGE }, live);
          if (rows.length === 0) return null;
          const changes = await work.transitionMany(rows, 'revoke', principal.actor, input.reason, { requestedAt, bulk: true });
          const upstream = (kind: 'pending' | 'none') => changes.filter((c) => c.upstreamRevocation === kind).length;
          // Named ids (at most 5,000) are remembered, to say afterwards which of them were not revoked.
          if (revokedIds) for (const c of changes) revokedIds.add(c.tokenId);
          return { revoked: changes.length, pending: upstream('pending'), none: upstream('none'), full: rows.length === BULK_REVOKE_PAGE, lastId: rows[rows.length - 1]!.id };
        }));
        if (page === null) break;
        // Moved on only once the page committed (a retried page starts where it did).
        afterId = page.lastId;
        revoked += page.revoked;
        upstreamPending += page.pending;
        upstreamNone += page.none;
        onProgress?.(revoked);
        if (!page.full) break;
      }
      const result = { revoked, upstreamPending, upstreamNone, requestedAt };
      if (!input.ids || !revokedIds) return result;
      // In an incident, "revoked 48" for 50 ids named is not enough: say which two, and why.
      const rest = [...new Set(input.ids)].filter((id) => !revokedIds.has(id));
      const rows = rest.length === 0 ? [] : await repo.statesOf(storage.db, storage.dialect, rest);
      const byId = new Map(rows.map((r) => [r.id, r]));
      const notRevoked = rest.map((id): NotRevoked => {
        const row = byId.get(id);
        // Another tenant's token reads exactly like one that does not exist.
        if (!row || !canSeeTenant(principal, row.tenant_id)) return { id, why: 'not_found' };
        if ((tenantId && row.tenant_id !== tenantId) || (input.providerId && row.provider_id !== input.providerId)) return { id, why: 'outside_filter' };
        if (!live.includes(row.state)) return { id, why: 'not_live', state: row.state };
        return { id, why: 'changed_meanwhile', state: row.state };
      });
      return { ...result, notRevoked };
    },

    /**
     * Records by provider and state, of one tenant or all the caller sees. A count reads every
     * record's index entry of its scope (~0.1 s for a million), so concurrent callers share one and
     * it is reused a moment (5 s for every tenant, 2 s for one): reloading a page, or a script
     * polling, cannot keep the serving thread counting. At most 1,000 scopes are kept.
     */
    async counts(principal: Principal, input: { tenantId?: string }): Promise<{ at: string; items: { providerId: string; state: TokenState; count: number }[] }> {
      let tenantId = input.tenantId;
      if (principal.tenantId !== null) {
        if (tenantId && tenantId !== principal.tenantId) throw new CustodyError('tenant_not_found');
        tenantId = principal.tenantId;
      } else if (tenantId) await deps.tenants.findVisible(storage.db, principal, tenantId);
      const key = tenantId ?? '*';
      const now = clock.now().getTime();
      const kept = countsKept.get(key);
      const age = kept ? now - kept.at : -1;
      if (kept && age >= 0 && age < (tenantId ? TENANT_COUNTS_REUSE_MS : PLATFORM_COUNTS_REUSE_MS)) return kept.counting;
      const counting = repo.countByProviderState(storage.db, tenantId).then((items) => ({ at: new Date(now).toISOString(), items }));
      countsKept.delete(key);
      countsKept.set(key, { at: now, counting });
      while (countsKept.size > COUNTS_KEPT) countsKept.delete(countsKept.keys().next().value!);
      // A failed count is not reused.
      counting.catch(() => {
        if (countsKept.get(key)?.counting === counting) countsKept.delete(key);
      });
      return counting;
    },

    /**
     * Where the upstream side of a revocation stands: the tokens whose revocation was asked for at
     * `requestedAt` (a bulk revocation asks once for all of them), by upstream outcome.
     */
    async revocationProgress(principal: Principal, input: { requestedAt: string; tenantId?: string; providerId?: string }): Promise<Record<UpstreamRevocationStatus, number> & { total: number }> {
      let tenantId = input.tenantId;
      if (principal.tenantId !== null) {
        if (tenantId && tenantId !== principal.tenantId) throw new CustodyError('tenant_not_found');
        tenantId = principal.tenantId;
      }
      const counts = await repo.revocationOutcomes(storage.db, new Date(input.requestedAt).toISOString(), tenantId, input.providerId);
      const out = { total: 0, pending: 0, verified: 0, unverifiable: 0, failed: 0, none: 0 } as Record<UpstreamRevocationStatus, number> & { total: number };
      for (const c of counts) {
        out[c.status] = (out[c.status] ?? 0) + c.count;
        out.total += c.count;
      }
      return out;
    },

    /** The expiry sweep: live tokens whose credentials can no longer work become `expired`. */
    async expireDue(): Promise<number> {
      // Fingerprints of replaced credentials past the time the issuer could still honour them.
      await repo.forgetRetiredCredentials(storage.db, clock.now());
      let expired = 0;
      for (;;) {
        const candidates = await repo.findExpiring(storage.db, clock.now(), BULK_BATCH);
        if (candidates.length === 0) return expired;
        expired += await unitOfWork(async (work) => {
          let n = 0;
          for (const c of candidates) {
            const row = await repo.findById(work.trx, c.id);
            if (!row || row.state !== c.state) continue;
            await work.transition(row, 'expire', 'system:expiry-sweep', 'credentials expired');
            n++;
          }
          return n;
        });
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
}

export type TokenService = ReturnType<typeof createTokenService>;
