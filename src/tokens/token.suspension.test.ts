import { describe, expect, it } from 'vitest';
import { consentMayLift, DEFAULT_SUSPENSION_POLICY, suspensionKindFor } from './token.suspension.ts';

describe('who may lift a suspension', () => {
  it('names a hand-made suspension by the role that made it', () => {
    expect(suspensionKindFor('security')).toBe('security');
    expect(suspensionKindFor('admin')).toBe('security');
    expect(suspensionKindFor('tenant_admin')).toBe('customer');
  });

  it('lets a customer’s consent lift its own and a policy’s suspension, not the security team’s or a signal’s', () => {
    expect(consentMayLift('customer', 'tenant_admin', DEFAULT_SUSPENSION_POLICY).ok).toBe(true);
    expect(consentMayLift('policy', 'tenant_admin', DEFAULT_SUSPENSION_POLICY).ok).toBe(true);
    expect(consentMayLift('security', 'tenant_admin', DEFAULT_SUSPENSION_POLICY)).toMatchObject({ ok: false, reason: expect.stringContaining('security team') });
    expect(consentMayLift('signal', 'tenant_admin', DEFAULT_SUSPENSION_POLICY).ok).toBe(false);
  });

  it('lets a consent started by a role that may resume lift any kind', () => {
    for (const kind of ['security', 'signal', 'policy', 'customer'] as const) expect(consentMayLift(kind, 'security', DEFAULT_SUSPENSION_POLICY).ok).toBe(true);
  });

  it('reads a suspension from before kinds, and an unknown starter, in the safest way', () => {
    expect(consentMayLift(null, 'tenant_admin', DEFAULT_SUSPENSION_POLICY).ok).toBe(false);
    expect(consentMayLift('security', null, DEFAULT_SUSPENSION_POLICY).ok).toBe(false);
  });

  it('follows the policy', () => {
    expect(consentMayLift('security', 'tenant_admin', { consentLifts: ['security'] }).ok).toBe(true);
    expect(consentMayLift('policy', 'tenant_admin', { consentLifts: [] }).ok).toBe(false);
  });
});
