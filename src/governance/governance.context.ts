import type { FindingType } from './finding.types.ts';
import { ruleCutoffs, type Directory, type RuleCutoffs, type WorkloadFacts } from './finding.rules.ts';
import { effectivePolicy, POLICY_KEYS, type PolicyDocument, type PolicyValues } from './policy.rules.ts';
import { catalogueLookup, type ScopeSensitivity } from './risk.rules.ts';

/**
 * What findings are judged against at one instant — policies, the directories, exceptions in force —
 * as plain data that can cross to the sweep's thread, and the lookups built from it. One builder
 * for both threads, so the sweep and the change path judge alike.
 */
export interface StoredPolicy {
  version: number;
  document: PolicyDocument;
  updatedAt: string | null;
  updatedBy: string | null;
}

export interface ContextData {
  now: string;
  defaults: PolicyValues;
  /** 'global' and tenant ids → what is set at that level. */
  policies: Record<string, StoredPolicy>;
  owners: { name: string; active: boolean }[];
  workloads: (WorkloadFacts & { scopeKey: string })[];
  exceptions: { id: string; tenantId: string; tokenId: string | null; findingType: FindingType; expiresAt: string }[];
  /** provider id → its scope catalogue (the risk score's scope sensitivity); absent: none declared. */
  scopeCatalogues?: Record<string, { name: string; sensitivity: ScopeSensitivity }[]>;
}

export const GLOBAL_SCOPE = 'global';
const NONE: StoredPolicy = { version: 0, document: {}, updatedAt: null, updatedBy: null };
/** Workloads registered for every tenant have this scope key. */
export const PLATFORM_SCOPE = '*';

/** Every policy, and the effective one of each tenant (memoised). */
export interface PolicySnapshot {
  global: StoredPolicy;
  tenants: ReadonlyMap<string, StoredPolicy>;
  forTenant(tenantId: string): PolicyValues;
  readonly globalValues: PolicyValues;
}

/** Only the known keys, in their order (a document from a newer version loses nothing it can show). */
export function normalisePolicy(doc: PolicyDocument): PolicyDocument {
  const out: Record<string, unknown> = {};
  for (const key of POLICY_KEYS) if (doc[key] !== undefined) out[key] = doc[key];
  return out as PolicyDocument;
}

export function policySnapshot(defaults: PolicyValues, policies: Record<string, StoredPolicy>): PolicySnapshot {
  const global = policies[GLOBAL_SCOPE] ?? NONE;
  const tenants = new Map(Object.entries(policies).filter(([scope]) => scope !== GLOBAL_SCOPE));
  const globalValues = effectivePolicy(defaults, global.document, null).values;
  const memo = new Map<string, PolicyValues>();
  return {
    global,
    tenants,
    globalValues,
    forTenant(tenantId) {
      const override = tenants.get(tenantId);
      if (!override) return globalValues;
      let values = memo.get(tenantId);
      if (!values) memo.set(tenantId, (values = effectivePolicy(defaults, global.document, override.document).values));
      return values;
    },
  };
}

/** The exceptions in force, as the findings service applies them. */
export interface ActiveExceptions {
  /** The exception covering a finding of this type on this token, if any. */
  covering(tenantId: string, tokenId: string | null, type: FindingType): { id: string; expiresAt: string } | undefined;
}

export function activeExceptions(rows: ContextData['exceptions']): ActiveExceptions {
  const byKey = new Map<string, { id: string; expiresAt: string }>();
  for (const r of rows) {
    // A token's own exception wins over the tenant's; between two, the later expiry.
    const key = `${r.tenantId}|${r.tokenId ?? '*'}|${r.findingType}`;
    const existing = byKey.get(key);
    if (!existing || existing.expiresAt < r.expiresAt) byKey.set(key, { id: r.id, expiresAt: r.expiresAt });
  }
  return {
    covering: (tenantId, tokenId, type) => (byKey.size === 0 ? undefined : ((tokenId ? byKey.get(`${tenantId}|${tokenId}|${type}`) : undefined) ?? byKey.get(`${tenantId}|*|${type}`))),
  };
}

export function directoryOf(owners: ContextData['owners'], workloads: ContextData['workloads']): Directory {
  // Owner names are matched without regard to case ("Alice@Example.com" is alice@example.com).
  const ownerActive = new Map(owners.map((o) => [o.name.toLowerCase(), o.active]));
  const status = new Map(workloads.map((w) => [`${w.scopeKey}\u0000${w.name}`, w.active ? ('active' as const) : ('retired' as const)]));
  return {
    ownerActive: (name) => ownerActive.get(name.toLowerCase()),
    // The tenant's own registration first, then a platform-wide one; an active one of either wins.
    workloadStatus: (tenantId, name) => {
      const own = status.get(`${tenantId}\u0000${name}`);
      const platform = status.get(`${PLATFORM_SCOPE}\u0000${name}`);
      return own === 'active' || platform === 'active' ? 'active' : (own ?? platform);
    },
  };
}

export interface Context {
  now: Date;
  policies: PolicySnapshot;
  directory: Directory;
  workloads: WorkloadFacts[];
  exceptions: ActiveExceptions;
  /** Each policy's cutoffs at `now`, computed once per context. */
  cutoffs(policy: PolicyValues): RuleCutoffs;
  /** A provider's scope catalogue, scope → sensitivity (empty when none is declared). */
  catalogue(providerId: string): ReadonlyMap<string, ScopeSensitivity>;
}

export function buildContext(data: ContextData): Context {
  const now = new Date(data.now);
  const cache = new Map<PolicyValues, RuleCutoffs>();
  const catalogues = new Map(Object.entries(data.scopeCatalogues ?? {}).map(([id, entries]) => [id, catalogueLookup(entries)]));
  const none: ReadonlyMap<string, ScopeSensitivity> = new Map();
  return {
    now,
    policies: policySnapshot(data.defaults, data.policies),
    directory: directoryOf(data.owners, data.workloads),
    workloads: data.workloads,
    exceptions: activeExceptions(data.exceptions),
    cutoffs(policy) {
      let c = cache.get(policy);
      if (!c) cache.set(policy, (c = ruleCutoffs(policy, now)));
      return c;
    },
    catalogue: (providerId) => catalogues.get(providerId) ?? none,
  };
}
