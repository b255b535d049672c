/**
 * Roles and what each may do (DESIGN §6), as plain data. Routes name a permission; this table
 * says which roles hold it. Tenant visibility is separate: a tenant-bound principal sees only its
 * tenant's objects, and everything else answers 404.
 */
export const ROLES = ['admin', 'security', 'auditor', 'tenant_admin', 'workload'] as const;
export type Role = (typeof ROLES)[number];

export const TENANT_BOUND_ROLES: readonly Role[] = ['tenant_admin', 'workload'];

export const PERMISSIONS = {
  'tenants.create': ['admin'],
  'tenants.read': ['admin', 'security', 'auditor', 'tenant_admin'],
  'providers.manage': ['admin'],
  'providers.read': ['admin', 'security', 'auditor', 'tenant_admin'],
  'tokens.read': ['admin', 'security', 'auditor', 'tenant_admin'],
  'tokens.register': ['admin', 'security', 'tenant_admin'],
  'tokens.update': ['admin', 'security', 'tenant_admin'],
  'tokens.suspend': ['admin', 'security', 'tenant_admin'],
  'tokens.resume': ['admin', 'security'],
  'tokens.revoke': ['admin', 'security', 'tenant_admin'],
  'tokens.bulk_revoke': ['admin', 'security', 'tenant_admin'],
  // Import (src/imports): a tenant administrator imports rows of its own tenant only (a row naming another tenant is invalid).
  'tokens.import': ['admin', 'security', 'tenant_admin'],
  'ledger.read': ['admin', 'security', 'auditor', 'tenant_admin'],
  'ledger.verify': ['admin', 'security', 'auditor'],
  'apikeys.manage': ['admin'],
  'policy.read': ['admin', 'security', 'auditor', 'tenant_admin'],
  'policy.manage': ['admin'],
  'owners.read': ['admin', 'security', 'auditor'],
  'owners.manage': ['admin', 'security'],
  'workloads.read': ['admin', 'security', 'auditor', 'tenant_admin'],
  'workloads.manage': ['admin', 'security'],
  'tokens.reassign': ['admin', 'security'],
  'findings.read': ['admin', 'security', 'auditor', 'tenant_admin'],
  'findings.acknowledge': ['admin', 'security'],
  'exceptions.read': ['admin', 'security', 'auditor', 'tenant_admin'],
  'exceptions.manage': ['admin', 'security'],
  'sweeps.run': ['admin', 'security'],
  'tokens.reauthorize': ['admin', 'security', 'tenant_admin'],
  'tokens.justify': ['admin', 'security'],
  'notices.read': ['admin', 'security', 'auditor', 'tenant_admin'],
  'alerts.read': ['admin', 'security', 'auditor', 'tenant_admin'],
  'alerts.manage': ['admin', 'security'],
  'usage.read': ['admin', 'security', 'auditor', 'tenant_admin'],
  // Platform-wide subscriptions: admin and security; a tenant administrator manages its own tenant's (webhook.service.ts).
  'webhooks.read': ['admin', 'security', 'auditor', 'tenant_admin'],
  'webhooks.manage': ['admin', 'security', 'tenant_admin'],
  'events.read': ['admin', 'security', 'auditor', 'tenant_admin'],
  'leaks.reporters.read': ['admin', 'security', 'auditor'],
  'leaks.reporters.manage': ['admin'],
  'leaks.check': ['admin', 'security'],
  // Shared Signals (src/signals): who configures the transmitters Custody trusts, and approver offboarding.
  'ssf.transmitters.read': ['admin', 'security', 'auditor'],
  'ssf.transmitters.manage': ['admin', 'security'],
  'approvers.read': ['admin', 'security', 'auditor', 'tenant_admin'],
  'approvers.deactivate': ['admin', 'security', 'tenant_admin'],
  // The SSF transmitter's streams (src/streams): a tenant administrator manages its own tenant's, admin and security any tenant's.
  'ssf.streams.read': ['admin', 'security', 'auditor', 'tenant_admin'],
  'ssf.streams.manage': ['admin', 'security', 'tenant_admin'],
  // Access reviews (src/reviews): a tenant administrator creates, reads and decides its own tenant's campaigns only (review.service.ts).
  'reviews.read': ['admin', 'security', 'auditor', 'tenant_admin'],
  'reviews.manage': ['admin', 'security', 'tenant_admin'],
  'reviews.decide': ['admin', 'security', 'tenant_admin'],
  // Reports (src/reports, src/trends): a tenant administrator reads its own tenant's only.
  'reports.read': ['admin', 'security', 'auditor', 'tenant_admin'],
  'gateway.use': ['workload'],
} as const satisfies Record<string, readonly Role[]>;

export type Permission = keyof typeof PERMISSIONS;

export function roleHas(role: Role, permission: Permission): boolean {
  return (PERMISSIONS[permission] as readonly Role[]).includes(role);
}

/** The authenticated caller. `actor` is how the ledger names them. */
export interface Principal {
  keyId: string | null;
  name: string;
  role: Role;
  tenantId: string | null;
  workload: string | null;
  actor: string;
}

/** The CLI working directly on the database (bootstrap, migrate, key rotation). */
export function systemPrincipal(name: string): Principal {
  return { keyId: null, name, role: 'admin', tenantId: null, workload: null, actor: `system:${name}` };
}

/** Whether the principal may see an object of that tenant (global objects pass tenantId null). */
export function canSeeTenant(p: Principal, tenantId: string | null): boolean {
  return p.tenantId === null || p.tenantId === tenantId;
}
