import type { Principal } from '../auth/roles.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { ProviderService } from '../providers/provider.service.ts';
import type { Clock } from '../shared/clock.ts';
import { CustodyError } from '../shared/errors.ts';
import type { Storage } from '../storage/database.ts';
import type { TenantService } from '../tenants/tenant.service.ts';
import type { PolicyView } from './policy.contract.ts';
import { GLOBAL_SCOPE, normalisePolicy as normalise, policySnapshot, type PolicySnapshot, type StoredPolicy } from './governance.context.ts';
import { changedKeys, effectivePolicy, policyProblems, type EffectivePolicy, type PolicyProblem, type PolicyDocument, type PolicyValues } from './policy.rules.ts';

export type { PolicySnapshot } from './governance.context.ts';

const GLOBAL = GLOBAL_SCOPE;
/** How long a loaded set of policies is reused: a change on another instance is in force here within this. */
const SNAPSHOT_REUSE_MS = 2_000;
const NONE: StoredPolicy = { version: 0, document: {}, updatedAt: null, updatedBy: null };
/** The providers a document names (checked to exist when it was written). */
const providersNamed = (doc: PolicyDocument) => new Set([...Object.keys(doc.forbiddenScopes ?? {}), ...Object.keys(doc.allowedScopes ?? {})]);

/**
 * The policies (DESIGN §9): the global one and each tenant's override, versioned; every change is
 * in the ledger with its old and new values. Readers take a snapshot (reused for two seconds), so
 * evaluating a million tokens costs one read of the policies table.
 */
export function createPolicyService(deps: { storage: Storage; ledger: LedgerService; clock: Clock; tenants: TenantService; providers: ProviderService; defaults: PolicyValues }) {
  const { storage, ledger, clock, defaults } = deps;
  let cached: { at: number; snapshot: Promise<PolicySnapshot> } | null = null;
  // The newest snapshot loaded, for readers that cannot wait (the gateway, per call).
  let settled: { at: number; snapshot: PolicySnapshot } | null = null;
  const listeners: ((scope: string) => void)[] = [];

  /** Every stored policy by scope ('global', tenant ids). */
  async function stored(): Promise<Record<string, StoredPolicy>> {
    const rows = await storage.db.selectFrom('policies').selectAll().execute();
    // Version 0 rows are placeholders made to lock a level never written: the same as none.
    return Object.fromEntries(rows.filter((r) => Number(r.version) > 0).map((r) => [r.scope, { version: Number(r.version), document: normalise(JSON.parse(r.document) as PolicyDocument), updatedAt: r.updated_at, updatedBy: r.updated_by }]));
  }

  async function load(): Promise<PolicySnapshot> {
    return policySnapshot(defaults, await stored());
  }

  function snapshot(): Promise<PolicySnapshot> {
    const now = Date.now();
    if (cached && now - cached.at < SNAPSHOT_REUSE_MS) return cached.snapshot;
    const loading = load();
    cached = { at: now, snapshot: loading };
    loading.then(
      (snapshot) => {
        if (!settled || settled.at <= now) settled = { at: now, snapshot };
      },
      () => {
        if (cached?.snapshot === loading) cached = null;
      },
    );
    return loading;
  }

  /**
   * The newest loaded snapshot without waiting (null before the first load), starting a reload in
   * the background when it is older than the reuse interval: for the gateway, which asks on every
   * call and must not wait for a query (a change is in force here within about two seconds).
   */
  function latest(): PolicySnapshot | null {
    if (!settled || Date.now() - settled.at >= SNAPSHOT_REUSE_MS) snapshot().catch(() => undefined);
    return settled?.snapshot ?? null;
  }

  function view(scope: string, stored: StoredPolicy, effective: EffectivePolicy, globalVersion: number): PolicyView {
    const notes: string[] = [];
    // Say what the mode means where it is read: in audit, nothing changes a token.
    if (effective.values.mode === 'audit') notes.push('Audit mode: enforcement only writes what it would do to the ledger (policy.would_notify, policy.would_suspend); no notice is sent and no token is suspended.');
    else notes.push(`Enforce mode: a token with a finding enforcement acts on (dormant, review_overdue, reauthorization_due, long_lived_credential, approver_inactive, owner_orphaned) gets a notice, then a policy suspension after graceDays (${effective.values.graceDays}); one holding a forbidden scope is suspended at once.`);
    return { scope, version: stored.version, globalVersion, set: stored.document, values: effective.values, sources: effective.sources, updatedAt: stored.updatedAt, updatedBy: stored.updatedBy, notes };
  }

  async function validate(effective: PolicyValues, doc: PolicyDocument): Promise<void> {
    const known = new Set<string>();
    for (const providerId of new Set([...Object.keys(doc.forbiddenScopes ?? {}), ...Object.keys(doc.allowedScopes ?? {})])) {
      const exists = await deps.providers.findRow(storage.db, providerId).then(
        () => true,
        () => false,
      );
      if (exists) known.add(providerId);
    }
    refuse(policyProblems(effective, doc, known));
  }

  /** A policy with problems is refused with every one named (paths as the schema's own errors name them: body/…). */
  function refuse(problems: PolicyProblem[], of?: { tenantId: string }): void {
    if (problems.length === 0) return;
    const list = problems.map((p) => `${p.path.slice(1)}: ${p.message}`).join('; ');
    const message = of ? `Tenant ${of.tenantId}'s override would no longer be valid: ${list}. Change the override first.` : `The policy has ${problems.length} problem${problems.length === 1 ? '' : 's'}: ${list}.`;
    throw new CustodyError('policy_invalid', message, problems.map((p) => ({ path: of ? `tenants/${of.tenantId}${p.path}` : `body${p.path}`, message: p.message })));
  }

  /**
   * Writes one level's document, versioned and ledgered in one transaction. The global row is
   * locked first by every write (a placeholder, version 0, is made for a level never written, so
   * there is a row to lock): a global change and a tenant change are checked against each other's
   * committed values (`check`, inside the lock), never both against what was there before either.
   */
  async function put(
    principal: Principal,
    scope: string,
    doc: PolicyDocument,
    tenantId: string | null,
    check: (levels: Record<string, PolicyDocument>) => void,
  ): Promise<StoredPolicy & { unchanged: boolean }> {
    const document = normalise(doc);
    const at = clock.now().toISOString();
    const stored = await storage.db.transaction().execute(async (trx) => {
      for (const level of scope === GLOBAL ? [GLOBAL] : [GLOBAL, scope]) {
        await trx.insertInto('policies').values({ scope: level, version: 0, document: '{}', updated_at: at, updated_by: principal.actor }).onConflict((oc) => oc.column('scope').doNothing()).execute();
        await storage.dialect.forUpdate(trx.selectFrom('policies').select('scope').where('scope', '=', level)).execute();
      }
      const rows = await (scope === GLOBAL ? trx.selectFrom('policies').selectAll() : trx.selectFrom('policies').selectAll().where('scope', 'in', [GLOBAL, scope])).execute();
      check(Object.fromEntries(rows.map((r) => [r.scope, normalise(JSON.parse(r.document) as PolicyDocument)])));
      const before = rows.find((r) => r.scope === scope)!;
      const from = normalise(JSON.parse(before.document) as PolicyDocument);
      const version = Number(before.version) + 1;
      const changed = changedKeys(from, document);
      // Nothing changed: no new version, nothing to ledger.
      if (changed.length === 0) return Number(before.version) === 0 ? { ...NONE, unchanged: true } : { version: Number(before.version), document: from, updatedAt: before.updated_at, updatedBy: before.updated_by, unchanged: true };
      await trx.updateTable('policies').set({ version, document: JSON.stringify(document), updated_at: at, updated_by: principal.actor }).where('scope', '=', scope).execute();
      await ledger.append(trx, { actor: principal.actor, action: 'policy.changed', tenantId, subjectId: scope, data: { scope, version, changed, from, to: document } });
      return { version, document, updatedAt: at, updatedBy: principal.actor, unchanged: false };
    });
    if (stored.unchanged) return stored;
    cached = null;
    // Readers that cannot wait (latest) see the change as soon as it is loaded again.
    snapshot().catch(() => undefined);
    for (const listener of listeners) listener(scope);
    return stored;
  }

  return {
    snapshot,
    latest,
    stored,
    defaults,
    /** Told after a policy change commits, with its scope ('global' or a tenant id): findings are recomputed. */
    onChange(listener: (scope: string) => void) {
      listeners.push(listener);
    },

    async getGlobal(): Promise<PolicyView> {
      const s = await load();
      return view(GLOBAL, s.global, effectivePolicy(defaults, s.global.document, null), s.global.version);
    },

    async putGlobal(principal: Principal, doc: PolicyDocument): Promise<PolicyView> {
      const effective = effectivePolicy(defaults, doc, null);
      await validate(effective.values, doc);
      const stored = await put(principal, GLOBAL, doc, null, (levels) => {
        // Each tenant override must still make sense under the new global values.
        for (const [tenantId, override] of Object.entries(levels)) {
          if (tenantId === GLOBAL) continue;
          refuse(policyProblems(effectivePolicy(defaults, doc, override).values, override, providersNamed(override)), { tenantId });
        }
      });
      return view(GLOBAL, stored, effective, stored.version);
    },

    async getTenant(principal: Principal, tenantId: string): Promise<PolicyView> {
      await deps.tenants.findVisible(storage.db, principal, tenantId);
      const s = await load();
      const stored = s.tenants.get(tenantId) ?? NONE;
      return view(tenantId, stored, effectivePolicy(defaults, s.global.document, stored.document), s.global.version);
    },

    async putTenant(principal: Principal, tenantId: string, doc: PolicyDocument): Promise<PolicyView> {
      await deps.tenants.findVisible(storage.db, principal, tenantId);
      const s = await load();
      await validate(effectivePolicy(defaults, s.global.document, doc).values, doc);
      let globalDoc = s.global.document;
      const stored = await put(principal, tenantId, doc, tenantId, (levels) => {
        // Checked again against the global values committed now (under the lock).
        globalDoc = levels[GLOBAL] ?? {};
        refuse(policyProblems(effectivePolicy(defaults, globalDoc, doc).values, doc, providersNamed(doc)));
      });
      return view(tenantId, stored, effectivePolicy(defaults, globalDoc, doc), (await load()).global.version);
    },

    async effective(principal: Principal, tenantId: string): Promise<PolicyView> {
      await deps.tenants.findVisible(storage.db, principal, tenantId);
      const s = await load();
      const stored = s.tenants.get(tenantId) ?? NONE;
      return view(tenantId, stored, effectivePolicy(defaults, s.global.document, stored.document), s.global.version);
    },
  };
}

export type PolicyService = ReturnType<typeof createPolicyService>;
