import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { prng } from '../../test/support/prng.ts';
import type { FindingSeverity, FindingType } from './finding.types.ts';
import { FINDING_TYPES } from './finding.types.ts';
import { DEFAULT_SEVERITY } from './finding.mappings.ts';
import { defaultPolicy } from './policy.rules.ts';
import { catalogueLookup, judgeRisk, RISK_COMPONENTS, riskCutoffs, RISK_WEIGHTS, riskScore, type RiskComponentName, type RiskInput } from './risk.rules.ts';

/**
 * The risk score as a rule (fixed clock): the worked examples of docs/risk.md exactly, each
 * component's reading of the data, and the properties that make it a ranking people can trust —
 * more of anything risky never lowers it, it stays within 0–100, and it does not move from one
 * day to the next unless a bucket changes.
 */
const NOW = new Date('2026-11-28T08:00:00.000Z');
const DAY = 86_400_000;
const ago = (days: number, from = NOW) => new Date(from.getTime() - days * DAY).toISOString();
const catalogue = catalogueLookup([
  { name: 'contacts.read', sensitivity: 'read' },
  { name: 'contacts.write', sensitivity: 'write' },
  { name: 'admin.users', sensitivity: 'admin' },
]);
const policy = defaultPolicy(90);

function input(over: Partial<RiskInput['token']> = {}, rest: Partial<Omit<RiskInput, 'token'>> = {}): RiskInput {
  return {
    token: {
      state: 'active',
      tenantId: 'ten_A',
      providerId: 'prv_crm',
      grantedScopes: ['openid', 'contacts.read'],
      usageChannel: 'gateway',
      lastUsedAt: ago(3),
      issuedAt: ago(40),
      approvedAt: ago(40),
      hasRefreshToken: true,
      accessIssuedAt: ago(0.01),
      accessExpiresAt: new Date(NOW.getTime() + 30 * 60_000).toISOString(),
      workloads: ['billing-sync'],
      servedTenants: [],
      upstreamRevocation: 'rfc7009',
      revocationVerified: true,
      ...over,
    },
    policy,
    catalogue,
    findings: [],
    now: NOW,
    ...rest,
  };
}
const finding = (type: FindingType, excepted = false) => ({ type, severity: DEFAULT_SEVERITY[type], excepted });
const points = (i: RiskInput) => Object.fromEntries(riskScore(i)!.components.map((c) => [c.name, c.points])) as Record<RiskComponentName, number>;

describe('the risk score (rules)', () => {
  it('has six components whose maxima sum to 100, in a fixed order', () => {
    expect(Object.values(RISK_WEIGHTS).reduce((a, b) => a + b, 0)).toBe(100);
    expect(riskScore(input())!.components.map((c) => [c.name, c.max])).toEqual(RISK_COMPONENTS.map((n) => [n, RISK_WEIGHTS[n]]));
  });

  it('scores the worked example of a well-kept token 6 (docs/risk.md, example A)', () => {
    const r = riskScore(input())!;
    expect(r.score).toBe(6);
    expect(points(input())).toEqual({ scope_sensitivity: 6, open_findings: 0, dormancy: 0, credential_age: 0, exposure: 0, revocation_path: 0 });
    expect(r.components[0]!.reason).toBe('Holds read contacts.read. 6 for the most sensitive (read).');
    expect(r.components[2]!.reason).toBe('In use: used or approved within the last 45 days (half the 90 days the policy allows without use).');
  });

  it('is what docs/risk.md says: each component’s maximum, and example A’s points and reasons word for word', () => {
    const doc = fs.readFileSync(fileURLToPath(new URL('../../docs/risk.md', import.meta.url)), 'utf8');
    // The first table after a heading: its rows below the | --- | line.
    const rows = (section: string) => {
      const lines = doc.slice(doc.indexOf(section)).split('\n');
      const start = lines.findIndex((l) => l.startsWith('| ---')) + 1;
      const end = lines.findIndex((l, i) => i >= start && !l.startsWith('|'));
      return lines.slice(start, end).map((l) => l.split('|').map((c) => c.trim()).slice(1, 4));
    };
    expect(rows('## The components').map(([name, max]) => [name!.replace(/`/g, ''), Number(max)])).toEqual(RISK_COMPONENTS.map((n) => [n, RISK_WEIGHTS[n]]));
    expect(rows('**A. A well-kept token').map(([name, pts, reason]) => [name, Number(pts), reason])).toEqual(riskScore(input())!.components.map((c) => [c.name, c.points, c.reason]));
  });

  it('scores the worked example of a risky token 69 (docs/risk.md, example B)', () => {
    const i = input(
      {
        grantedScopes: ['contacts.read', 'contacts.write', 'admin.users', 'billing.export'],
        lastUsedAt: ago(120),
        issuedAt: ago(400),
        approvedAt: ago(400),
        workloads: ['billing-sync', 'reports', 'crm-export'],
        servedTenants: ['ten_B'],
        revocationVerified: false,
      },
      { findings: ['unmanaged', 'dormant', 'no_owner', 'overprivileged', 'reauthorization_due', 'long_lived_credential', 'revocation_unverified', 'shared_token'].map((t) => finding(t as FindingType)) },
    );
    expect(points(i)).toEqual({ scope_sensitivity: 28, open_findings: 9, dormancy: 10, credential_age: 10, exposure: 7, revocation_path: 5 });
    const r = riskScore(i)!;
    expect(r.score).toBe(69);
    const reason = Object.fromEntries(r.components.map((c) => [c.name, c.reason]));
    expect(reason.scope_sensitivity).toBe("Holds admin admin.users; write contacts.write; not in the provider's scope catalogue, counted as write: billing.export; read contacts.read. 24 for the most sensitive (admin), plus 4 for 2 further scopes at write or above.");
    expect(reason.open_findings).toBe('3 open findings: no_owner (medium), overprivileged (medium), reauthorization_due (medium).');
    expect(reason.dormancy).toBe(`Dormant. Not used since ${ago(120).slice(0, 10)}; the policy allows 90 days without use.`);
    expect(reason.credential_age).toBe(`Refresh token granted ${ago(400).slice(0, 10)}: older than the 365 days the policy allows.`);
    expect(reason.exposure).toBe('May be used by 3 workloads (billing-sync, crm-export, reports); serves 1 other tenant (ten_B).');
  });

  it('scores the worked example of a standing credential used outside the gateway 53 (docs/risk.md, example C)', () => {
    const i = input(
      { grantedScopes: ['files.write'], usageChannel: 'direct', lastUsedAt: null, hasRefreshToken: false, accessIssuedAt: null, accessExpiresAt: null, workloads: [], upstreamRevocation: 'none', revocationVerified: false },
      { catalogue: new Map(), findings: ['unmanaged', 'unobserved', 'no_purpose', 'no_approver', 'long_lived_credential', 'no_revocation_path'].map((t) => finding(t as FindingType)) },
    );
    expect(points(i)).toEqual({ scope_sensitivity: 14, open_findings: 6, dormancy: 8, credential_age: 15, exposure: 0, revocation_path: 10 });
    expect(riskScore(i)!.score).toBe(53);
  });

  it('has no score for a revoked or expired token: it holds no privilege', () => {
    expect(riskScore(input({ state: 'revoked' }))).toBeNull();
    expect(riskScore(input({ state: 'expired' }))).toBeNull();
    expect(riskScore(input({ state: 'suspended' }))).not.toBeNull();
  });

  it('counts a scope missing from the catalogue as write, and sign-in scopes not at all', () => {
    expect(points(input({ grantedScopes: ['openid', 'email', 'offline_access'] })).scope_sensitivity).toBe(0);
    // No scope recorded at all: unknown reach, counted as write (not as "reaches nothing").
    const unrecorded = riskScore(input({ grantedScopes: [] }))!.components[0]!;
    expect(unrecorded.points).toBe(14);
    expect(unrecorded.reason).toContain('No scopes recorded: what it can reach is unknown');
    expect(points(input({ grantedScopes: ['mystery'] })).scope_sensitivity).toBe(14);
    expect(points(input({ grantedScopes: ['contacts.write'] })).scope_sensitivity).toBe(14);
    // Breadth: each further scope at write or above adds 2, up to 6.
    expect(points(input({ grantedScopes: ['admin.users', 'a', 'b', 'c', 'd', 'e'] })).scope_sensitivity).toBe(30);
  });

  it('leaves out findings under an exception and those another component scores, and caps the rest at 20', () => {
    const excepted = riskScore(input({}, { findings: [finding('no_owner', true), finding('no_purpose')] }))!.components[1]!;
    expect(excepted.points).toBe(3);
    expect(excepted.reason).toBe('1 open finding: no_purpose (medium). Under an exception, not counted: no_owner.');
    expect(points(input({}, { findings: ['unmanaged', 'dormant', 'unobserved', 'long_lived_credential', 'no_revocation_path', 'revocation_unverified', 'shared_token'].map((t) => finding(t as FindingType)) })).open_findings).toBe(0);
    const many = riskScore(input({}, { findings: [finding('forbidden_scope'), finding('owner_orphaned'), finding('approver_inactive'), finding('no_owner')] }))!.components[1]!;
    expect(many.points).toBe(20);
    expect(many.reason).toContain('(25, capped at 20)');
  });

  it('judges dormancy in buckets of the policy’s dormantAfterDays, and use outside the gateway as unknown', () => {
    const at = (days: number) => points(input({ lastUsedAt: ago(days), issuedAt: ago(500) })).dormancy;
    expect([at(1), at(44), at(46), at(89), at(91), at(179), at(181), at(400)]).toEqual([0, 0, 5, 5, 10, 10, 15, 15]);
    // Never used: judged from when it was issued (or last approved).
    expect(points(input({ lastUsedAt: null, issuedAt: ago(100) })).dormancy).toBe(10);
    expect(points(input({ usageChannel: 'direct' })).dormancy).toBe(8);
    // A tenant's own limit: 30 days.
    expect(points(input({ lastUsedAt: ago(40), issuedAt: ago(500) }, { policy: { ...policy, dormantAfterDays: 30 } })).dormancy).toBe(10);
  });

  it('judges the grant’s age against maxRefreshTokenAgeDays (365 when the policy sets none), a standing credential as the worst, and an over-long access token', () => {
    const at = (days: number, max: number | null = 365) => points(input({ approvedAt: ago(days), issuedAt: ago(days) }, { policy: { ...policy, maxRefreshTokenAgeDays: max } })).credential_age;
    expect([at(100), at(200), at(400), at(800)]).toEqual([0, 5, 10, 15]);
    expect([at(100, null), at(200, null), at(400, null)]).toEqual([0, 5, 10]);
    expect(at(100, 150)).toBe(5);
    expect(points(input({ hasRefreshToken: false, accessExpiresAt: null })).credential_age).toBe(15);
    expect(points(input({ hasRefreshToken: false })).credential_age).toBe(0);
    const longAccess = riskScore(input({ accessIssuedAt: ago(2), accessExpiresAt: NOW.toISOString() }))!.components[3]!;
    expect(longAccess.points).toBe(5);
    expect(longAccess.reason).toContain('lives 2880 minutes; the policy allows 1440');
  });

  it('weighs exposure by the workloads that may use it and the other tenants it serves', () => {
    const e = (workloads: string[], servedTenants: string[] = []) => points(input({ workloads, servedTenants })).exposure;
    expect([e([]), e(['a']), e(['a', 'b']), e(['a', 'b', 'c']), e(['a', 'b', 'c', 'd', 'e'])]).toEqual([0, 0, 2, 4, 5]);
    // Its own tenant in the list does not count; two or more others are the most.
    expect([e(['a'], ['ten_A']), e(['a'], ['ten_B']), e(['a'], ['ten_B', 'ten_C']), e(['a', 'b', 'c', 'd', 'e'], ['ten_B', 'ten_C'])]).toEqual([0, 3, 5, 10]);
  });

  it('scores the revocation path: none 10, not verified 5, verified 0', () => {
    expect(points(input({ upstreamRevocation: 'none', revocationVerified: false })).revocation_path).toBe(10);
    expect(points(input({ revocationVerified: false })).revocation_path).toBe(5);
    expect(points(input()).revocation_path).toBe(0);
  });

  it('does not change from one day to the next while no bucket changes, and changes when one does', () => {
    const i = input({ lastUsedAt: ago(10), grantedScopes: ['contacts.write', 'x'] }, { findings: [finding('no_owner')] });
    const same = JSON.stringify(riskScore(i));
    for (const d of [1, 7, 20, 34]) {
      expect(JSON.stringify(riskScore({ ...i, now: new Date(NOW.getTime() + d * DAY) }))).toBe(same);
      expect(judgeRisk({ ...i, now: new Date(NOW.getTime() + d * DAY) })!.key).toBe(judgeRisk(i)!.key);
    }
    // 36 days on, it has been idle 46 days: over half the dormancy limit.
    const later = riskScore({ ...i, now: new Date(NOW.getTime() + 36 * DAY) })!;
    expect(later.score).toBe(riskScore(i)!.score + 5);
  });

  describe('properties over random tokens', () => {
    const r = prng(20261128);
    const SCOPES = ['contacts.read', 'contacts.write', 'admin.users', 'openid', 'offline_access', 'x.one', 'x.two', 'files.write'];
    const SEVERITIES: FindingSeverity[] = ['low', 'medium', 'high', 'critical'];
    const random = (): RiskInput => {
      const issued = r.int(900);
      const scopes = SCOPES.filter(() => r.next() < 0.35);
      return input(
        {
          grantedScopes: scopes,
          usageChannel: r.next() < 0.15 ? 'direct' : 'gateway',
          issuedAt: ago(issued),
          approvedAt: r.next() < 0.5 ? ago(issued) : null,
          lastUsedAt: r.next() < 0.2 ? null : ago(r.int(issued + 1)),
          hasRefreshToken: r.next() < 0.8,
          accessExpiresAt: r.next() < 0.1 ? null : new Date(NOW.getTime() + r.int(48) * 3_600_000).toISOString(),
          accessIssuedAt: ago(r.next() * 2),
          workloads: ['w1', 'w2', 'w3', 'w4', 'w5', 'w6'].slice(0, r.int(7)),
          servedTenants: ['ten_B', 'ten_C', 'ten_D'].slice(0, r.int(4)),
          upstreamRevocation: r.next() < 0.2 ? 'none' : 'rfc7009',
          revocationVerified: r.next() < 0.6,
        },
        {
          policy: { ...policy, dormantAfterDays: r.pick([30, 90, 180]), maxRefreshTokenAgeDays: r.pick([90, 365, null]), maxAccessTokenTtlMinutes: r.pick([60, 1440, null]) },
          findings: FINDING_TYPES.filter(() => r.next() < 0.2).map((type) => ({ type, severity: r.pick(SEVERITIES), excepted: r.next() < 0.2 })),
        },
      );
    };
    const score = (i: RiskInput) => riskScore(i)!.score;
    const cases = Array.from({ length: 400 }, random);

    it('stays within 0–100, each component within its maximum, the score their sum', () => {
      for (const i of cases) {
        const s = riskScore(i)!;
        expect(s.score).toBeGreaterThanOrEqual(0);
        expect(s.score).toBeLessThanOrEqual(100);
        expect(s.score).toBe(s.components.reduce((a, c) => a + c.points, 0));
        // Judged with the policy's cutoffs computed once (as a sweep does), it is the same.
        expect(judgeRisk({ ...i, cutoffs: riskCutoffs(i.policy, i.now) })!.key).toBe(judgeRisk(i)!.key);
        for (const c of s.components) expect(c.points >= 0 && c.points <= c.max && Number.isInteger(c.points), JSON.stringify(c)).toBe(true);
      }
    });

    it('moves its key (what a sweep compares instead of the text) exactly when a component moves, whatever changes', () => {
      let steady = 0;
      let moved = 0;
      const check = (a: RiskInput, b: RiskInput, what: string) => {
        const [ja, jb] = [judgeRisk(a)!, judgeRisk(b)!];
        const same = JSON.stringify(ja.components()) === JSON.stringify(jb.components());
        expect(ja.key === jb.key, `${what}: ${JSON.stringify(ja.components())} → ${JSON.stringify(jb.components())}`).toBe(same);
        if (same) steady++;
        else moved++;
      };
      const earlier = (iso: string | null, days: number) => (iso === null ? null : new Date(Date.parse(iso) - days * DAY).toISOString());
      const token = (i: RiskInput, over: Partial<RiskInput['token']>): RiskInput => ({ ...i, token: { ...i.token, ...over } });
      for (const i of cases) {
        // What happens every day: time passes, the token is used, its access token refreshed. These must not move it unless a bucket does.
        for (const d of [1, 3, 10, 30, 45, 90, 200, 400]) check(i, { ...i, now: new Date(NOW.getTime() + d * DAY) }, `${d} days on`);
        check(i, token(i, { lastUsedAt: ago(1 / 24) }), 'a use');
        const ttl = i.token.accessExpiresAt && i.token.accessIssuedAt ? Date.parse(i.token.accessExpiresAt) - Date.parse(i.token.accessIssuedAt) : null;
        if (ttl !== null) check(i, token(i, { accessIssuedAt: ago(1 / 1440), accessExpiresAt: new Date(NOW.getTime() - 60_000 + ttl).toISOString() }), 'a refresh');
        // Every other input, changed a little: the key must move whenever a reason or a point does.
        check(i, token(i, { lastUsedAt: earlier(i.token.lastUsedAt, 1) }), 'last used a day earlier');
        check(i, token(i, { approvedAt: earlier(i.token.approvedAt, 1), issuedAt: earlier(i.token.issuedAt, 1)! }), 'granted a day earlier');
        check(i, token(i, { approvedAt: null }), 'no approval date');
        check(i, token(i, { providerId: 'prv_other' }), 'another provider');
        check(i, token(i, { workloads: [...i.token.workloads, 'w9'] }), 'another workload');
        check(i, token(i, { servedTenants: [...i.token.servedTenants, 'ten_Z'] }), 'another tenant served');
        check(i, token(i, { grantedScopes: [...i.token.grantedScopes, 'openid', 'contacts.read'] }), 'more scopes');
        check(i, token(i, { revocationVerified: !i.token.revocationVerified }), 'verification flipped');
        check(i, token(i, { hasRefreshToken: !i.token.hasRefreshToken }), 'refresh token flipped');
        check(i, { ...i, catalogue: new Map() }, 'no catalogue');
        check(i, { ...i, policy: { ...i.policy, dormantAfterDays: i.policy.dormantAfterDays + 1 } }, 'another dormancy limit');
        check(i, { ...i, policy: { ...i.policy, maxRefreshTokenAgeDays: i.policy.maxRefreshTokenAgeDays === null ? 365 : null } }, 'another grant limit');
        check(i, { ...i, policy: { ...i.policy, maxAccessTokenTtlMinutes: 30 } }, 'another access lifetime');
        if (i.findings.length > 0) {
          check(i, { ...i, findings: i.findings.map((f, k) => (k === 0 ? { ...f, excepted: !f.excepted } : f)) }, 'an exception');
          check(i, { ...i, findings: i.findings.map((f, k) => (k === 0 ? { ...f, severity: f.severity === 'low' ? ('high' as const) : ('low' as const) } : f)) }, 'a severity');
        }
      }
      // Both directions are exercised: many changes leave the components as they were, many move them.
      expect(steady).toBeGreaterThan(cases.length * 3);
      expect(moved).toBeGreaterThan(cases.length * 3);
    });

    it('never goes down when a scope is added to those recorded, least of all an admin scope', () => {
      // (A token with no scope recorded counts as write: recording a read scope may lower it, rightly.)
      for (const i of cases.filter((c) => c.token.grantedScopes.length > 0)) {
        for (const scope of ['admin.users', 'contacts.read', 'new.unknown', 'openid']) {
          const more = { ...i, token: { ...i.token, grantedScopes: [...new Set([...i.token.grantedScopes, scope])] } };
          expect(score(more), `${scope} added to ${i.token.grantedScopes.join(' ')}`).toBeGreaterThanOrEqual(score(i));
        }
        const admin = { ...i, token: { ...i.token, grantedScopes: [...new Set([...i.token.grantedScopes, 'admin.users'])] } };
        expect(points(admin).scope_sensitivity).toBeGreaterThanOrEqual(24);
      }
    });

    it('never goes down when a finding opens, an exception ends, or a finding grows more severe', () => {
      for (const i of cases) {
        const opened = { ...i, findings: [...i.findings, { type: 'no_owner' as const, severity: 'medium' as const, excepted: false }] };
        expect(score(opened)).toBeGreaterThanOrEqual(score(i));
        const unexcepted = { ...i, findings: i.findings.map((f) => ({ ...f, excepted: false })) };
        expect(score(unexcepted)).toBeGreaterThanOrEqual(score(i));
        const critical = { ...i, findings: i.findings.map((f) => ({ ...f, severity: 'critical' as const })) };
        expect(score(critical)).toBeGreaterThanOrEqual(score(i));
      }
    });

    it('never goes down as the token goes unused longer or its grant gets older', () => {
      for (const i of cases) {
        for (const d of [1, 30, 100, 400]) {
          const later = { ...i, now: new Date(NOW.getTime() + d * DAY) };
          expect(points(later).dormancy).toBeGreaterThanOrEqual(points(i).dormancy);
          expect(points(later).credential_age).toBeGreaterThanOrEqual(points(i).credential_age);
        }
      }
    });

    it('never goes down with more workloads, more tenants served, or a weaker revocation path', () => {
      for (const i of cases) {
        const wider = { ...i, token: { ...i.token, workloads: [...i.token.workloads, 'another'], servedTenants: [...i.token.servedTenants, 'ten_Z'] } };
        expect(score(wider)).toBeGreaterThanOrEqual(score(i));
        const unverified = { ...i, token: { ...i.token, revocationVerified: false } };
        expect(score(unverified)).toBeGreaterThanOrEqual(score(i));
        const none = { ...i, token: { ...i.token, upstreamRevocation: 'none' as const, revocationVerified: false } };
        expect(score(none)).toBeGreaterThanOrEqual(score(unverified));
      }
    });
  });
});
