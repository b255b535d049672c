import { ROLES, TENANT_BOUND_ROLES, type Role } from '../auth/roles.ts';
import { Secret } from '../shared/secret.ts';

/**
 * Single sign-on to the console through an OpenID Connect issuer (CUSTODY_SSO_*), parsed with the
 * rest of the configuration: every problem is reported at start-up, none at the first sign-in.
 */
export interface SsoConfig {
  /** The issuer identifier (its discovery document is read from it): https, or http on loopback. */
  readonly issuer: string;
  readonly clientId: string;
  /** The client secret; null for a public client (PKCE only). */
  readonly clientSecret: Secret | null;
  /** The ID token claim whose value (or values, for an array) selects the role (default `groups`). */
  readonly roleClaim: string;
  /** Claim value → role and tenant, in the order given: the first value that maps wins. */
  readonly roles: readonly SsoRoleMapping[];
}

export interface SsoRoleMapping {
  readonly value: string;
  readonly role: Exclude<Role, 'workload'>;
  readonly tenantId: string | null;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const SSO_NAMES = ['CUSTODY_SSO_ISSUER', 'CUSTODY_SSO_CLIENT_ID', 'CUSTODY_SSO_CLIENT_SECRET', 'CUSTODY_SSO_ROLE_CLAIM', 'CUSTODY_SSO_ROLES'];

/** Null when no CUSTODY_SSO_* is set; otherwise the settings, with each problem pushed to `problems`. */
export function parseSsoConfig(get: (name: string) => string | undefined, problems: string[]): SsoConfig | null {
  if (SSO_NAMES.every((n) => get(n) === undefined)) return null;
  const issuer = get('CUSTODY_SSO_ISSUER');
  const clientId = get('CUSTODY_SSO_CLIENT_ID');
  const roleClaim = get('CUSTODY_SSO_ROLE_CLAIM') ?? 'groups';
  const before = problems.length;
  if (issuer === undefined) problems.push('CUSTODY_SSO_ISSUER: required when single sign-on is configured (any CUSTODY_SSO_* is set)');
  else {
    let url: URL | null = null;
    try {
      url = new URL(issuer);
    } catch {
      problems.push(`CUSTODY_SSO_ISSUER: must be an absolute URL such as https://login.example.com (got "${issuer}")`);
    }
    if (url && url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
      problems.push('CUSTODY_SSO_ISSUER: must be https (plain http only on loopback, for tests)');
    }
    if (url && (url.search !== '' || url.hash !== '')) problems.push('CUSTODY_SSO_ISSUER: must not carry a query or fragment');
  }
  if (clientId === undefined) problems.push('CUSTODY_SSO_CLIENT_ID: required when single sign-on is configured');
  if (!/^[A-Za-z0-9_.:-]{1,200}$/.test(roleClaim)) problems.push(`CUSTODY_SSO_ROLE_CLAIM: must be a claim name such as groups (got "${roleClaim}")`);
  const roles = parseRoles(get('CUSTODY_SSO_ROLES'), problems);
  if (problems.length > before) return null;
  return Object.freeze({ issuer: issuer!.replace(/\/+$/, ''), clientId: clientId!, clientSecret: secretOf(get('CUSTODY_SSO_CLIENT_SECRET')), roleClaim, roles });
}

function parseRoles(raw: string | undefined, problems: string[]): readonly SsoRoleMapping[] {
  const name = 'CUSTODY_SSO_ROLES';
  if (raw === undefined) {
    problems.push(`${name}: required: a JSON object mapping claim values to roles, e.g. {"custody-security":{"role":"security"},"acme-admins":{"role":"tenant_admin","tenantId":"ten_…"}}`);
    return [];
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    problems.push(`${name}: must be a JSON object (it does not parse as JSON)`);
    return [];
  }
  let entries: [string, unknown][];
  if (Array.isArray(parsed)) {
    // The ordered form: [{"value": "2001", "role": …, "tenantId"?: …}, …] — the first match wins, in this order.
    entries = [];
    for (const [i, item] of parsed.entries()) {
      if (typeof item !== 'object' || item === null || Array.isArray(item) || typeof (item as { value?: unknown }).value !== 'string') {
        problems.push(`${name}[${i}]: must be an object {"value": "<claim value>", "role": …, "tenantId"?: …}`);
        continue;
      }
      const { value, ...target } = item as Record<string, unknown>;
      entries.push([value as string, target]);
    }
  } else if (typeof parsed === 'object' && parsed !== null) {
    entries = Object.entries(parsed as Record<string, unknown>);
    // JavaScript puts integer-like keys first, in ascending order, whatever order they were written
    // in: with more than one mapping, "the first that matches wins" would silently not be the first written.
    const numeric = entries.map(([k]) => k).filter((k) => /^(0|[1-9]\d*)$/.test(k));
    if (numeric.length > 0 && entries.length > 1) {
      problems.push(`${name}: claim values that are whole numbers (${numeric.join(', ')}) lose their written order in a JSON object; use the ordered form [{"value": "${numeric[0]}", "role": …}, …]`);
      return [];
    }
  } else {
    problems.push(`${name}: must be a JSON object mapping claim values to {"role": …, "tenantId"?: …}, or an ordered list of {"value", "role", "tenantId"?}`);
    return [];
  }
  const out: SsoRoleMapping[] = [];
  if (entries.length === 0) problems.push(`${name}: maps no claim value: nobody could sign in`);
  for (const [value, target] of entries) {
    const at = `${name}["${value}"]`;
    if (typeof target !== 'object' || target === null || Array.isArray(target)) {
      problems.push(`${at}: must be an object {"role": …, "tenantId"?: …}`);
      continue;
    }
    const { role, tenantId, ...rest } = target as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length > 0) problems.push(`${at}: unknown field(s) ${extra.join(', ')} (only role and tenantId)`);
    if (role === 'workload') {
      problems.push(`${at}: the workload role cannot sign in to the console`);
      continue;
    }
    if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) {
      problems.push(`${at}: role must be one of ${ROLES.filter((r) => r !== 'workload').join(', ')} (got ${JSON.stringify(role)})`);
      continue;
    }
    const bound = TENANT_BOUND_ROLES.includes(role as Role);
    if (tenantId !== undefined && tenantId !== null && (typeof tenantId !== 'string' || tenantId.trim() === '')) {
      problems.push(`${at}: tenantId must be a tenant id string`);
      continue;
    }
    if (bound && !tenantId) {
      problems.push(`${at}: the ${role} role is bound to one tenant: give its tenantId`);
      continue;
    }
    if (!bound && tenantId) {
      problems.push(`${at}: the ${role} role is not bound to a tenant: remove tenantId`);
      continue;
    }
    out.push(Object.freeze({ value, role: role as SsoRoleMapping['role'], tenantId: bound ? (tenantId as string) : null }));
  }
  return Object.freeze(out);
}

function secretOf(raw: string | undefined): Secret | null {
  return raw === undefined ? null : new Secret(raw);
}
