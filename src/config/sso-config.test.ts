import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

const CWD = path.resolve('/srv/custody');
const VALID = {
  CUSTODY_SSO_ISSUER: 'https://login.example.com/',
  CUSTODY_SSO_CLIENT_ID: 'custody-console',
  CUSTODY_SSO_CLIENT_SECRET: 'sso-client-secret',
  CUSTODY_SSO_ROLES: JSON.stringify({ 'custody-security': { role: 'security' }, 'acme-admins': { role: 'tenant_admin', tenantId: 'ten_acme' } }),
};

function problemsOf(input: Record<string, string>): string[] {
  try {
    loadConfig(input, CWD);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected loadConfig to refuse the input');
}

describe('single sign-on configuration (CUSTODY_SSO_*)', () => {
  it('is off when no CUSTODY_SSO_* is set', () => {
    expect(loadConfig({}, CWD).sso).toBeNull();
  });

  it('reads the issuer, client, claim (groups by default) and the role mapping, in order, keeping the secret out of its printed form', () => {
    const sso = loadConfig(VALID, CWD).sso!;
    expect(sso).toMatchObject({ issuer: 'https://login.example.com', clientId: 'custody-console', roleClaim: 'groups' });
    expect(sso.roles).toEqual([
      { value: 'custody-security', role: 'security', tenantId: null },
      { value: 'acme-admins', role: 'tenant_admin', tenantId: 'ten_acme' },
    ]);
    expect(sso.clientSecret?.reveal()).toBe('sso-client-secret');
    expect(JSON.stringify(sso)).not.toContain('sso-client-secret');
    expect(Object.isFrozen(sso)).toBe(true);
    expect(loadConfig({ ...VALID, CUSTODY_SSO_ROLE_CLAIM: 'roles', CUSTODY_SSO_CLIENT_SECRET: '' }, CWD).sso).toMatchObject({ roleClaim: 'roles', clientSecret: null });
  });

  it('keeps the written order of whole-number claim values only in the ordered form, and refuses them in an object', () => {
    const ordered = JSON.stringify([
      { value: '2001', role: 'auditor' },
      { value: '1001', role: 'admin' },
    ]);
    expect(loadConfig({ ...VALID, CUSTODY_SSO_ROLES: ordered }, CWD).sso!.roles.map((r) => r.value)).toEqual(['2001', '1001']);
    expect(problemsOf({ ...VALID, CUSTODY_SSO_ROLES: '{"2001":{"role":"auditor"},"1001":{"role":"admin"}}' })).toEqual([expect.stringMatching(/whole numbers \(1001, 2001\).*ordered form/)]);
    expect(problemsOf({ ...VALID, CUSTODY_SSO_ROLES: '[{"role":"admin"}]' })).toEqual([expect.stringMatching(/\[0\]: must be an object \{"value"/), expect.stringMatching(/maps no claim value/)]);
  });

  it('allows plain http only on loopback', () => {
    expect(loadConfig({ ...VALID, CUSTODY_SSO_ISSUER: 'http://127.0.0.1:9000' }, CWD).sso?.issuer).toBe('http://127.0.0.1:9000');
    expect(problemsOf({ ...VALID, CUSTODY_SSO_ISSUER: 'http://login.example.com' })).toEqual(['CUSTODY_SSO_ISSUER: must be https (plain http only on loopback, for tests)']);
  });

  it('reports every problem at once: missing settings, unknown or workload roles, tenant rules, bad JSON', () => {
    expect(problemsOf({ CUSTODY_SSO_ROLE_CLAIM: 'groups' })).toEqual([
      'CUSTODY_SSO_ISSUER: required when single sign-on is configured (any CUSTODY_SSO_* is set)',
      'CUSTODY_SSO_CLIENT_ID: required when single sign-on is configured',
      expect.stringMatching(/^CUSTODY_SSO_ROLES: required: a JSON object mapping claim values to roles/),
    ]);
    const roles = JSON.stringify({
      a: { role: 'workload', tenantId: 'ten_x' },
      b: { role: 'root' },
      c: { role: 'tenant_admin' },
      d: { role: 'auditor', tenantId: 'ten_x' },
      e: { role: 'admin', extra: true },
      f: 'admin',
    });
    expect(problemsOf({ ...VALID, CUSTODY_SSO_ROLES: roles, CUSTODY_PORT: 'x' })).toEqual([
      'CUSTODY_PORT: must be a whole number between 0 and 65535 (got "x")',
      'CUSTODY_SSO_ROLES["a"]: the workload role cannot sign in to the console',
      'CUSTODY_SSO_ROLES["b"]: role must be one of admin, security, auditor, tenant_admin (got "root")',
      'CUSTODY_SSO_ROLES["c"]: the tenant_admin role is bound to one tenant: give its tenantId',
      'CUSTODY_SSO_ROLES["d"]: the auditor role is not bound to a tenant: remove tenantId',
      'CUSTODY_SSO_ROLES["e"]: unknown field(s) extra (only role and tenantId)',
      'CUSTODY_SSO_ROLES["f"]: must be an object {"role": …, "tenantId"?: …}',
    ]);
    expect(problemsOf({ ...VALID, CUSTODY_SSO_ROLES: '{nope' })).toEqual(['CUSTODY_SSO_ROLES: must be a JSON object (it does not parse as JSON)']);
    expect(problemsOf({ ...VALID, CUSTODY_SSO_ROLES: '[]' })).toEqual(['CUSTODY_SSO_ROLES: maps no claim value: nobody could sign in']);
    expect(problemsOf({ ...VALID, CUSTODY_SSO_ROLES: '{}' })).toEqual(['CUSTODY_SSO_ROLES: maps no claim value: nobody could sign in']);
    expect(problemsOf({ ...VALID, CUSTODY_SSO_ROLE_CLAIM: 'a b' })).toEqual(['CUSTODY_SSO_ROLE_CLAIM: must be a claim name such as groups (got "a b")']);
  });
});
