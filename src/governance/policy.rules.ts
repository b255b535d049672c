/**
 * The governance policy (issue 13) as plain data and plain functions: its values, their documented
 * defaults, the checks that span fields, and how a tenant's effective policy is made from the
 * global policy and the tenant's override (each value with where it came from).
 */
export interface PolicyValues {
  /** enforce: the next issue's enforcement acts; audit: it writes what it would do and changes nothing. */
  mode: 'enforce' | 'audit';
  dormantAfterDays: number;
  /** Granted scopes not used within this many days are privilege creep (`overprivileged`). */
  scopeUsageWindowDays: number;
  /** How long a stated purpose holds before its review is due (when a token has no review date of its own). */
  reviewIntervalDays: number;
  /** Periodic customer reauthorisation, even for tokens in use; null: never required. */
  reauthorizeEveryDays: number | null;
  /** A grant (refresh token) older than this is a long-lived credential; null: no limit. */
  maxRefreshTokenAgeDays: number | null;
  /** An access token living longer than this is a long-lived credential; null: no limit. */
  maxAccessTokenTtlMinutes: number | null;
  requireApprover: boolean;
  requirePurpose: boolean;
  /** Per provider id, scopes no token of it may hold. */
  forbiddenScopes: Record<string, string[]>;
  /** Per provider id, the only scopes a consent asks for (besides openid, email, offline_access); a provider not listed: no restriction. */
  allowedScopes: Record<string, string[]>;
  /** A refresh asks only for the granted scopes used within `scopeUsageWindowDays` (plus `keepScopes`). */
  narrowScopesOnRefresh: boolean;
  /** Scopes a narrowing refresh always keeps. */
  keepScopes: string[];
  /** Notice given before any enforcement. */
  graceDays: number;
  /**
   * Detection (src/detection): a detection alert on a token of at least this severity suspends the token
   * (kind `signal`; in audit mode only `policy.would_suspend` is written); null: alerts never suspend.
   */
  suspendOnAlertSeverity: 'high' | 'critical' | null;
  /**
   * Shared Signals (src/signals): what a received security event does to the tokens it names.
   * Keyed by the event's short name; a signal acts in both modes (it is the customer's identity
   * provider speaking, not Custody's own judgement).
   */
  signalActions: Record<SignalEventName, SignalAction>;
}

/** The Shared Signals events Custody acts on (RISC and CAEP), by short name. */
export const SIGNAL_EVENT_NAMES = [
  'account-disabled',
  'account-purged',
  'credential-compromise',
  'sessions-revoked',
  'tokens-revoked',
  'session-revoked',
  'credential-change',
  'token-claims-change',
] as const;
export type SignalEventName = (typeof SIGNAL_EVENT_NAMES)[number];
/** flag: an alert only; suspend: kind `signal` (resume or reauthorise to lift); revoke: here and at the issuer. */
export const SIGNAL_ACTIONS = ['flag', 'suspend', 'revoke'] as const;
export type SignalAction = (typeof SIGNAL_ACTIONS)[number];

/** The default action per signal: a compromise or a purge kills, a disabled account or ended sessions suspend, a change flags. */
export const DEFAULT_SIGNAL_ACTIONS: Record<SignalEventName, SignalAction> = {
  'account-disabled': 'suspend',
  'account-purged': 'revoke',
  'credential-compromise': 'revoke',
  'sessions-revoked': 'suspend',
  'tokens-revoked': 'revoke',
  'session-revoked': 'suspend',
  'credential-change': 'flag',
  'token-claims-change': 'flag',
};

export type PolicyKey = keyof PolicyValues;
/** A policy as set at one level: every value optional; signal actions name only the events they change. */
export type PolicyDocument = Partial<Omit<PolicyValues, 'signalActions'>> & { signalActions?: Partial<Record<SignalEventName, SignalAction>> };

export const POLICY_KEYS: readonly PolicyKey[] = [
  'mode',
  'dormantAfterDays',
  'scopeUsageWindowDays',
  'reviewIntervalDays',
  'reauthorizeEveryDays',
  'maxRefreshTokenAgeDays',
  'maxAccessTokenTtlMinutes',
  'requireApprover',
  'requirePurpose',
  'forbiddenScopes',
  'graceDays',
  'allowedScopes',
  'narrowScopesOnRefresh',
  'keepScopes',
  'suspendOnAlertSeverity',
  'signalActions',
];

/**
 * The defaults (docs/governance.md). Audit is the default mode: a new deployment shows what
 * enforcement would do before it does anything to a customer's integration.
 */
export function defaultPolicy(dormantAfterDays: number): PolicyValues {
  return {
    mode: 'audit',
    dormantAfterDays,
    scopeUsageWindowDays: 30,
    reviewIntervalDays: 180,
    reauthorizeEveryDays: 365,
    maxRefreshTokenAgeDays: 365,
    maxAccessTokenTtlMinutes: 1440,
    requireApprover: true,
    requirePurpose: true,
    forbiddenScopes: {},
    graceDays: 14,
    allowedScopes: {},
    narrowScopesOnRefresh: false,
    keepScopes: ['openid', 'offline_access'],
    suspendOnAlertSeverity: 'critical',
    signalActions: { ...DEFAULT_SIGNAL_ACTIONS },
  };
}

export interface PolicyProblem {
  path: string;
  message: string;
}

/**
 * Checks a policy that spans fields (the schema has checked each field alone): every problem is
 * named, none is fixed silently. `knownProviders` decides whether a forbidden-scope list names a
 * real provider.
 */
export function policyProblems(effective: PolicyValues, set: PolicyDocument, knownProviders: ReadonlySet<string>): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  for (const key of ['forbiddenScopes', 'allowedScopes'] as const) {
    for (const providerId of Object.keys(set[key] ?? {})) {
      if (!knownProviders.has(providerId)) problems.push({ path: `/${key}/${providerId}`, message: `there is no provider ${providerId}` });
    }
  }
  // Notice must fit inside the cycle it gives notice for, or every token would be in its grace for ever.
  const cycles: [PolicyKey, number | null][] = [
    ['dormantAfterDays', effective.dormantAfterDays],
    ['reviewIntervalDays', effective.reviewIntervalDays],
    ['reauthorizeEveryDays', effective.reauthorizeEveryDays],
  ];
  for (const [key, days] of cycles) {
    if (days !== null && effective.graceDays >= days) {
      problems.push({ path: key in set ? `/${key}` : '/graceDays', message: `graceDays (${effective.graceDays}) must be shorter than ${key} (${days}): notice must come before the deadline it warns of` });
    }
  }
  return problems;
}

export type PolicySource = 'default' | 'global' | 'tenant';

export interface EffectivePolicy {
  values: PolicyValues;
  sources: Record<PolicyKey, PolicySource>;
}

/** The effective policy: the tenant's override over the global policy over the defaults. */
export function effectivePolicy(defaults: PolicyValues, global: PolicyDocument, tenant: PolicyDocument | null): EffectivePolicy {
  const values = { ...defaults } as Record<PolicyKey, unknown>;
  const sources = {} as Record<PolicyKey, PolicySource>;
  for (const key of POLICY_KEYS) {
    sources[key] = 'default';
    if (global[key] !== undefined) {
      values[key] = global[key];
      sources[key] = 'global';
    }
    if (tenant && tenant[key] !== undefined) {
      values[key] = tenant[key];
      sources[key] = 'tenant';
    }
  }
  // Signal actions merge per event: a level names only the events it changes.
  values.signalActions = { ...defaults.signalActions, ...global.signalActions, ...tenant?.signalActions };
  return { values: values as unknown as PolicyValues, sources };
}

/** The keys whose value differs between two policies (what a change changed). */
export function changedKeys(before: PolicyDocument, after: PolicyDocument): PolicyKey[] {
  // Absent (inherited) and an explicit null ("no limit") are different settings.
  return POLICY_KEYS.filter((k) => k in before !== k in after || JSON.stringify(before[k]) !== JSON.stringify(after[k]));
}

/** What a consent may ask of a provider under a policy: `allowed` null is no restriction. */
export interface ConsentScopePolicy {
  allowed: string[] | null;
  forbidden: string[];
}

export function consentScopePolicy(policy: PolicyValues, providerId: string): ConsentScopePolicy {
  return { allowed: policy.allowedScopes[providerId] ?? null, forbidden: policy.forbiddenScopes[providerId] ?? [] };
}

/** What a refresh asks for under a policy (narrowing), and how long "used recently" reaches back. */
export interface RefreshScopePolicy {
  narrow: boolean;
  keep: string[];
  windowDays: number;
}

export function refreshScopePolicy(policy: PolicyValues): RefreshScopePolicy {
  return { narrow: policy.narrowScopesOnRefresh, keep: policy.keepScopes, windowDays: policy.scopeUsageWindowDays };
}
