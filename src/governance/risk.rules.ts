import type { ScopeCatalogueEntry } from '../providers/provider.types.ts';
import type { TokenFacts } from '../tokens/token.facts.ts';
import { holdsPrivilege } from '../tokens/token.practical-test.ts';
import type { FindingSeverity, FindingType } from './finding.types.ts';
import type { PolicyValues } from './policy.rules.ts';

/**
 * The risk score of a token (issue 16): 0–100, the sum of six components, each with the points it
 * adds, its maximum and a reason in plain words naming the data behind it, so anyone can see why a
 * token ranks where it does. A plain function over plain data: the governance evaluation (the
 * change path and the sweep) computes it with the findings and stores it on the token when it
 * changes; docs/risk.md is the table and the worked examples.
 *
 * Stability is part of the rule: a sweep writes only changes, so nothing here may change from one
 * day to the next unless the points do. Ages are therefore judged in buckets (a token's dormancy
 * and its grant's age change bucket a few times in its life, not daily), and reasons name dates
 * that are fixed while a bucket holds (the last use of a token that is not in use, the grant's
 * date), never "N days ago".
 *
 * Cheap to re-judge: a sweep judges every live token, and the text is most of the cost. So
 * `judgeRisk` computes the points and a key of every input the reasons are made from (bucketed
 * ages, levels, findings, names — never the raw last use of a token in use) in one pass, and each
 * reason is a function of its component's facts alone (REASONS), built only when asked: a sweep
 * compares the key's digest with the stored one and makes the text only for tokens whose key moved.
 */

export const RISK_COMPONENTS = ['scope_sensitivity', 'open_findings', 'dormancy', 'credential_age', 'exposure', 'revocation_path'] as const;
export type RiskComponentName = (typeof RISK_COMPONENTS)[number];

/** Each component's maximum: they sum to 100. */
export const RISK_WEIGHTS: Record<RiskComponentName, number> = {
  scope_sensitivity: 30,
  open_findings: 20,
  dormancy: 15,
  credential_age: 15,
  exposure: 10,
  revocation_path: 10,
};

/**
 * Part of every digest: change it whenever a reason's wording changes without its facts changing,
 * so the next sweep rewrites every stored reason once (weights and buckets change points, which the
 * digest covers anyway).
 */
export const RISK_RULES_VERSION = 1;

export interface RiskComponent {
  name: RiskComponentName;
  points: number;
  max: number;
  reason: string;
}

export interface RiskScore {
  score: number;
  components: RiskComponent[];
}

export type ScopeSensitivity = ScopeCatalogueEntry['sensitivity'];

/** What the score is computed from: the token's facts, its tenant's policy, its provider's catalogue, its findings now. */
export interface RiskInput {
  token: Pick<
    TokenFacts,
    | 'state'
    | 'tenantId'
    | 'providerId'
    | 'grantedScopes'
    | 'usageChannel'
    | 'lastUsedAt'
    | 'issuedAt'
    | 'approvedAt'
    | 'hasRefreshToken'
    | 'accessIssuedAt'
    | 'accessExpiresAt'
    | 'workloads'
    | 'servedTenants'
    | 'upstreamRevocation'
    | 'revocationVerified'
  > &
    Partial<Pick<TokenFacts, 'inventoryOnly'>>;
  policy: Pick<PolicyValues, 'dormantAfterDays' | 'maxRefreshTokenAgeDays' | 'maxAccessTokenTtlMinutes'>;
  /** The provider's scope catalogue, scope → sensitivity (empty: none declared). */
  catalogue: ReadonlyMap<string, ScopeSensitivity>;
  /** The token's findings now (what the findings table is being brought to), and whether an exception covers each. */
  findings: readonly { type: FindingType; severity: FindingSeverity; excepted: boolean }[];
  now: Date;
  /** The policy's bucket instants at `now` (riskCutoffs), when the caller judges many tokens under one policy. */
  cutoffs?: RiskCutoffs;
}

const DAY_MS = 86_400_000;

/**
 * OpenID Connect's own scopes reach no API (they name the approver, or keep the grant
 * refreshable, which credential_age judges): not scored unless the catalogue lists them.
 */
export const IDENTITY_SCOPES: ReadonlySet<string> = new Set(['openid', 'email', 'profile', 'offline_access']);

/** Points of the most sensitive scope held; a scope not in the catalogue counts as write. */
const SCOPE_POINTS = { admin: 24, write: 14, read: 6 } as const;
/** Each further scope at write or admin (or unknown) adds this, up to BREADTH_MAX. */
const BREADTH_POINTS = 2;
const BREADTH_MAX = 6;

/** Findings scored by another component (or, `unmanaged`, a roll-up of others): not counted again. */
export const SCORED_ELSEWHERE: ReadonlySet<FindingType> = new Set<FindingType>(['unmanaged', 'dormant', 'unobserved', 'long_lived_credential', 'no_revocation_path', 'revocation_unverified', 'shared_token']);
export const SEVERITY_POINTS: Record<FindingSeverity, number> = { critical: 10, high: 6, medium: 3, low: 1 };

/** A grant's age is judged against this when the policy sets no maximum (maxRefreshTokenAgeDays null). */
export const REFERENCE_GRANT_DAYS = 365;
/** Use outside the gateway is not observed: dormancy cannot be judged, and the unknown counts this much. */
const UNOBSERVED_POINTS = 8;
/** An access token living longer than the policy allows (maxAccessTokenTtlMinutes). */
const ACCESS_TTL_POINTS = 5;
/** Points of an age bucket: under half the limit, to the limit, to twice it, beyond. */
const AGE_POINTS = [0, 5, 10, 15] as const;

/** At most `n` names, then how many more. */
function list(names: readonly string[], n = 5): string {
  return names.length <= n ? names.join(', ') : `${names.slice(0, n).join(', ')} and ${names.length - n} more`;
}
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const days = (d: number) => `${Number.isInteger(d) ? d : d.toFixed(1)} days`;
const dateOf = (iso: string) => iso.slice(0, 10);

// Each component's facts: exactly what its reason names, and nothing that changes while its points and reason do not.
interface ScopeFacts {
  admin: string[];
  write: string[];
  unknown: string[];
  read: string[];
  /** When no scope is scored: the scopes held (sign-in scopes only). */
  held: string[];
  /** No scope recorded at all: reach unknown, scored as write. */
  unrecorded: boolean;
  base: number;
  breadth: number;
}
interface FindingFacts {
  counted: string[];
  excepted: string[];
  raw: number;
}
type DormancyFacts = { kind: 'unobserved' } | { kind: 'in_use'; limit: number; used: boolean } | { kind: 'idle'; bucket: 1 | 2 | 3; limit: number; since: string; used: boolean; approved: boolean };
interface CredentialFacts {
  kind: 'standing' | 'access_only' | 'grant' | 'not_held';
  bucket: 0 | 1 | 2 | 3;
  limit: number;
  /** The policy sets no maximum: judged against REFERENCE_GRANT_DAYS. */
  reference: boolean;
  /** The grant's date (buckets 1–3 only: under half the limit, the reason names no date). */
  since: string | null;
  /** An access token living longer than the policy allows: its lifetime and the maximum. */
  ttl: [number, number] | null;
}
interface ExposureFacts {
  workloads: string[];
  others: string[];
}
type RevocationFacts = { kind: 'none' | 'unverified'; providerId: string } | { kind: 'verified' | 'not_held' };

interface FactsOf {
  scope_sensitivity: ScopeFacts;
  open_findings: FindingFacts;
  dormancy: DormancyFacts;
  credential_age: CredentialFacts;
  exposure: ExposureFacts;
  revocation_path: RevocationFacts;
}

/** Each component's reason, from its facts alone. */
const REASONS: { [N in RiskComponentName]: (f: FactsOf[N]) => string } = {
  scope_sensitivity(f) {
    if (f.unrecorded) return `No scopes recorded: what it can reach is unknown, so it counts as a write scope (${f.base}). Record its scopes (PATCH the token, or a consent) to score what it holds.`;
    if (f.base === 0) return `Only sign-in scopes (${list(f.held)}): they reach no API.`;
    const parts: string[] = [];
    if (f.admin.length > 0) parts.push(`admin ${list(f.admin)}`);
    if (f.write.length > 0) parts.push(`write ${list(f.write)}`);
    if (f.unknown.length > 0) parts.push(`not in the provider's scope catalogue, counted as write: ${list(f.unknown)}`);
    if (f.read.length > 0) parts.push(`read ${list(f.read)}`);
    const strong = f.admin.length + f.write.length + f.unknown.length;
    const most = f.admin.length > 0 ? 'admin' : strong > 0 ? 'write' : 'read';
    const extra = f.breadth > 0 ? `, plus ${f.breadth} for ${plural(strong - 1, 'further scope')} at write or above` : '';
    return `Holds ${parts.join('; ')}. ${f.base} for the most sensitive (${most})${extra}.`;
  },
  open_findings(f) {
    const excepted = f.excepted.length > 0 ? ` Under an exception, not counted: ${list(f.excepted)}.` : '';
    if (f.counted.length === 0) return `No open findings beyond those the other components score.${excepted}`;
    const capped = f.raw > RISK_WEIGHTS.open_findings ? ` (${f.raw}, capped at ${RISK_WEIGHTS.open_findings})` : '';
    return `${plural(f.counted.length, 'open finding')}: ${list(f.counted, 8)}${capped}.${excepted}`;
  },
  dormancy(f) {
    if (f.kind === 'unobserved') return 'Used outside the gateway: its use is not observed, so whether it is dormant cannot be judged.';
    if (f.kind === 'in_use') {
      return f.used
        ? `In use: used or approved within the last ${days(f.limit / 2)} (half the ${days(f.limit)} the policy allows without use).`
        : `Not used yet: issued or approved within the last ${days(f.limit / 2)} (half the ${days(f.limit)} the policy allows without use).`;
    }
    const what = f.used ? `Not used since ${f.since}` : `Not used since it was ${f.approved ? 'last approved' : 'issued'} (${f.since})`;
    if (f.bucket === 1) return `${what}: over half the ${days(f.limit)} the policy allows without use.`;
    if (f.bucket === 2) return `Dormant. ${what}; the policy allows ${days(f.limit)} without use.`;
    return `Dormant for over twice the ${days(f.limit)} the policy allows without use. ${what}.`;
  },
  credential_age(f) {
    let reason: string;
    if (f.kind === 'not_held') reason = 'Imported without credentials: Custody holds none, so its age and expiry are unknown (counted as a standing credential).';
    else if (f.kind === 'standing') reason = 'No expiry and no refresh token: a standing credential.';
    else if (f.kind === 'access_only') reason = 'An access token that expires, and no refresh token: no long-lived grant.';
    else {
      const of = f.reference ? `the ${days(f.limit)} Custody judges grants by (the policy sets no maximum)` : `the ${days(f.limit)} the policy allows`;
      reason = [
        `Refresh token granted within the last ${days(f.limit / 2)}: under half ${of}.`,
        `Refresh token granted ${f.since}: over half ${of}.`,
        `Refresh token granted ${f.since}: older than ${of}.`,
        `Refresh token granted ${f.since}: over twice ${of}.`,
      ][f.bucket]!;
    }
    return f.ttl ? `${reason} Its access token lives ${f.ttl[0]} minutes; the policy allows ${f.ttl[1]} (+${ACCESS_TTL_POINTS}).` : reason;
  },
  exposure(f) {
    const who = f.workloads.length === 0 ? 'No workload may use it' : `May be used by ${plural(f.workloads.length, 'workload')} (${list(f.workloads)})`;
    const served = f.others.length === 0 ? 'serves its own tenant only' : `serves ${plural(f.others.length, 'other tenant')} (${list(f.others)})`;
    return `${who}; ${served}.`;
  },
  revocation_path(f) {
    if (f.kind === 'not_held') return 'Imported without credentials: Custody can neither block it in the gateway nor revoke it at the issuer.';
    if (f.kind === 'none') return `Provider ${f.providerId} has no revocation endpoint: it can be blocked in the gateway, but stays valid at the issuer.`;
    if (f.kind === 'unverified') return `Provider ${f.providerId}'s revocation endpoint has not been verified by a revocation confirmed at the issuer.`;
    return 'Revocable at the issuer, verified.';
  },
};

/** The instants a policy's age buckets start at, at `now` (ISO strings compare as the instants they name): computed once per policy. */
export interface RiskCutoffs {
  /** A last use (or approval) after [0] is in use; after [1], over half the dormancy limit; after [2], dormant; else twice dormant. */
  dormancy: readonly [string, string, string];
  /** The same for the grant's date against maxRefreshTokenAgeDays (or REFERENCE_GRANT_DAYS). */
  grant: readonly [string, string, string];
}

export function riskCutoffs(policy: RiskInput['policy'], now: Date): RiskCutoffs {
  const at = (days: number) => new Date(now.getTime() - days * DAY_MS).toISOString();
  const steps = (limit: number) => [at(limit / 2), at(limit), at(2 * limit)] as const;
  return { dormancy: steps(policy.dormantAfterDays), grant: steps(policy.maxRefreshTokenAgeDays ?? REFERENCE_GRANT_DAYS) };
}

/** 0: under half the limit; 1: half to the limit; 2: the limit to twice it; 3: beyond (a date newer than a cutoff is younger than it). */
const bucketOf = (since: string, c: readonly [string, string, string]): 0 | 1 | 2 | 3 => (since > c[0] ? 0 : since > c[1] ? 1 : since > c[2] ? 2 : 3);
const LEVEL_CODE = { admin: 'a', write: 'w', read: 'r' } as const;

/** A token's risk judged: its score, a key of everything its components are made from, and the components themselves on demand. */
export interface RiskJudgement {
  score: number;
  /** The points and the inputs every reason is made from (not their text): equal keys, equal components. */
  key: string;
  components(): RiskComponent[];
}

/**
 * The token's risk now; null for a revoked or expired token (it holds no privilege: nothing to
 * rank). Two stages: the points and the key from the inputs in one cheap pass (what every sweep
 * does for every token), and the components' facts and reasons only when asked (when the key moved).
 */
export function judgeRisk(input: RiskInput): RiskJudgement | null {
  const { token: t, policy, catalogue } = input;
  if (!holdsPrivilege(t.state)) return null;
  const cut = input.cutoffs ?? riskCutoffs(policy, input.now);

  // Scopes: each one's level (a: admin, w: write, r: read, u: not catalogued, i: sign-in).
  let admin = 0;
  let strong = 0;
  let read = 0;
  let scopeKey = '';
  for (const s of t.grantedScopes) {
    const level = catalogue.get(s);
    const code = level ? LEVEL_CODE[level] : IDENTITY_SCOPES.has(s) ? 'i' : 'u';
    if (code === 'i') continue;
    if (code === 'a') admin++;
    if (code === 'a' || code === 'w' || code === 'u') strong++;
    else read++;
    scopeKey += `${s}\u0002${code}\u0003`;
  }
  // No scope recorded at all: what it reaches is unknown, which counts as write (as a scope the
  // catalogue does not know does); only sign-in scopes reach no API.
  const unrecorded = t.grantedScopes.length === 0;
  const base = admin > 0 ? SCOPE_POINTS.admin : strong > 0 || unrecorded ? SCOPE_POINTS.write : read > 0 ? SCOPE_POINTS.read : 0;
  // Sign-in scopes are named only when nothing else is held.
  if (base === 0) scopeKey = t.grantedScopes.join(' ');
  if (unrecorded) scopeKey = '\u0004unrecorded';
  const breadth = Math.min(BREADTH_MAX, Math.max(0, strong - 1) * BREADTH_POINTS);

  // Findings, in the order the rules give them (a fixed order for the same findings).
  let raw = 0;
  let findingKey = '';
  for (const x of input.findings) {
    if (SCORED_ELSEWHERE.has(x.type)) continue;
    if (x.excepted) findingKey += `${x.type}!,`;
    else {
      raw += SEVERITY_POINTS[x.severity];
      findingKey += `${x.type}:${x.severity},`;
    }
  }

  // Dormancy: the newer of the last use and the last (re)approval, as the dormant finding judges it.
  const direct = t.usageChannel === 'direct';
  const used = t.lastUsedAt !== null && t.lastUsedAt > t.issuedAt;
  const idleSince = used ? t.lastUsedAt! : t.issuedAt;
  const idle = direct ? 0 : bucketOf(idleSince, cut.dormancy);
  // In use, the reason names no date: a new use changes nothing.
  // …but whether it was ever used (its first use changes the reason once).
  const dormancyKey = direct ? 'direct' : `${policy.dormantAfterDays}:${idle === 0 ? `0:${t.lastUsedAt !== null ? 1 : 0}` : `${idle}:${idleSince}:${used ? 1 : 0}:${t.lastUsedAt !== null ? 1 : 0}`}`;

  // Credential: a standing credential, an access token alone, or a grant of some age; and the access token's lifetime.
  const kind: CredentialFacts['kind'] = t.inventoryOnly ? 'not_held' : !t.hasRefreshToken ? (t.accessExpiresAt === null ? 'standing' : 'access_only') : 'grant';
  const grantSince = t.approvedAt ?? t.issuedAt;
  const grant = kind === 'grant' ? bucketOf(grantSince, cut.grant) : 0;
  let ttl: [number, number] | null = null;
  const maxTtl = policy.maxAccessTokenTtlMinutes;
  if (maxTtl !== null && t.accessIssuedAt && t.accessExpiresAt) {
    const minutes = Math.round((Date.parse(t.accessExpiresAt) - Date.parse(t.accessIssuedAt)) / 60_000);
    if (minutes > maxTtl) ttl = [minutes, maxTtl];
  }
  const credentialKey = `${kind}:${kind === 'grant' ? `${policy.maxRefreshTokenAgeDays}:${grant}:${grant === 0 ? '' : grantSince}` : ''}:${ttl ? ttl.join('/') : ''}`;

  // Exposure: distinct workloads, and other tenants served.
  const workloads = t.workloads.length > 1 ? new Set(t.workloads).size : t.workloads.length;
  let others = 0;
  if (t.servedTenants.length > 0) for (const id of new Set(t.servedTenants)) if (id !== t.tenantId) others++;

  const points: Record<RiskComponentName, number> = {
    scope_sensitivity: Math.min(RISK_WEIGHTS.scope_sensitivity, base + breadth),
    open_findings: Math.min(RISK_WEIGHTS.open_findings, raw),
    dormancy: direct ? UNOBSERVED_POINTS : AGE_POINTS[idle],
    credential_age: kind === 'standing' || kind === 'not_held' ? RISK_WEIGHTS.credential_age : Math.min(RISK_WEIGHTS.credential_age, AGE_POINTS[grant] + (ttl ? ACCESS_TTL_POINTS : 0)),
    exposure: (workloads <= 1 ? 0 : workloads === 2 ? 2 : workloads <= 4 ? 4 : 5) + (others === 0 ? 0 : others === 1 ? 3 : 5),
    revocation_path: t.upstreamRevocation === 'none' ? 10 : t.revocationVerified ? 0 : 5,
  };
  let score = 0;
  for (const name of RISK_COMPONENTS) score += points[name];
  const exposureKey = `${t.workloads.join(',')}|${t.servedTenants.length > 0 ? `${t.servedTenants.join(',')}|${t.tenantId}` : ''}`;
  const revocationKey = t.inventoryOnly ? 'not_held' : t.upstreamRevocation === 'none' ? `none:${t.providerId}` : t.revocationVerified ? 'verified' : `unverified:${t.providerId}`;
  const key = [RISK_RULES_VERSION, score, scopeKey, findingKey, dormancyKey, credentialKey, exposureKey, revocationKey].join('\u0001');

  const facts = (): FactsOf => {
    const limit = policy.dormantAfterDays;
    const grantLimit = policy.maxRefreshTokenAgeDays ?? REFERENCE_GRANT_DAYS;
    return {
      scope_sensitivity: scopeFacts(t.grantedScopes, catalogue, base, breadth),
      open_findings: findingFacts(input.findings, raw),
      dormancy: direct
        ? { kind: 'unobserved' }
        : idle === 0
          ? { kind: 'in_use', limit, used: t.lastUsedAt !== null }
          : { kind: 'idle', bucket: idle, limit, since: dateOf(idleSince), used, approved: t.lastUsedAt !== null },
      credential_age: { kind, bucket: grant, limit: grantLimit, reference: policy.maxRefreshTokenAgeDays === null, since: grant === 0 ? null : dateOf(grantSince), ttl },
      exposure: { workloads: [...new Set(t.workloads)].sort(), others: [...new Set(t.servedTenants)].filter((id) => id !== t.tenantId).sort() },
      revocation_path: t.inventoryOnly ? { kind: 'not_held' } : t.upstreamRevocation === 'none' ? { kind: 'none', providerId: t.providerId } : t.revocationVerified ? { kind: 'verified' } : { kind: 'unverified', providerId: t.providerId },
    };
  };
  return {
    score,
    key,
    components() {
      const f = facts();
      return RISK_COMPONENTS.map((name) => ({ name, points: points[name], max: RISK_WEIGHTS[name], reason: (REASONS[name] as (x: unknown) => string)(f[name]) }));
    },
  };
}

function scopeFacts(scopes: readonly string[], catalogue: RiskInput['catalogue'], base: number, breadth: number): ScopeFacts {
  const f: ScopeFacts = { admin: [], write: [], unknown: [], read: [], held: base === 0 ? [...scopes] : [], base, breadth, unrecorded: scopes.length === 0 };
  for (const s of scopes) {
    const level = catalogue.get(s);
    if (level) f[level].push(s);
    else if (!IDENTITY_SCOPES.has(s)) f.unknown.push(s);
  }
  return f;
}

function findingFacts(findings: RiskInput['findings'], raw: number): FindingFacts {
  const counted: { type: string; severity: FindingSeverity }[] = [];
  const excepted: string[] = [];
  for (const x of findings) {
    if (SCORED_ELSEWHERE.has(x.type)) continue;
    if (x.excepted) excepted.push(x.type);
    else counted.push(x);
  }
  // Most severe first, then by type, so the same findings always read the same.
  counted.sort((a, b) => SEVERITY_POINTS[b.severity] - SEVERITY_POINTS[a.severity] || (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
  return { counted: counted.map((x) => `${x.type} (${x.severity})`), excepted: excepted.sort(), raw };
}

/** The token's risk now, with every component's reason; null for a revoked or expired token. */
export function riskScore(input: RiskInput): RiskScore | null {
  const j = judgeRisk(input);
  return j && { score: j.score, components: j.components() };
}

/** A provider's catalogue as the rule reads it. */
export function catalogueLookup(entries: readonly { name: string; sensitivity: ScopeSensitivity }[] | undefined): ReadonlyMap<string, ScopeSensitivity> {
  return new Map((entries ?? []).map((e) => [e.name, e.sensitivity]));
}
