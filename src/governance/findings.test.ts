import { afterAll, beforeAll, expect, it } from 'vitest';
import { fixedClock } from '../shared/clock.ts';
import { Secret } from '../shared/secret.ts';
import { createTokenUsageRecorder } from '../tokens/token-usage.ts';
import type { RegisterTokenInput } from '../tokens/token.types.ts';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { bearer, keyFor, startHarness, type Harness } from '../../test/support/harness.ts';
import type { FindingType } from './finding.types.ts';

/**
 * Governance I on a scripted dataset (both databases, fixed clock): each finding type appears
 * exactly where expected and nowhere else, resolves when its cause is fixed, is suppressed by an
 * exception and reopens when it expires; an owner's deactivation and reassignment; a tenant
 * override changes that tenant only; use outside the gateway is `unobserved`, never dormant; the
 * summary equals counts over the inventory; a second sweep changes nothing.
 */
const NOW = new Date('2026-11-01T00:00:00.000Z');
const DAY = 86_400_000;
const ago = (days: number) => new Date(NOW.getTime() - days * DAY).toISOString();
const ahead = (days: number) => new Date(NOW.getTime() + days * DAY).toISOString();

describeEachDatabase('governance findings', (kind) => {
  const clock = fixedClock(NOW);
  let h: Harness;
  let A: string;
  let B: string;
  let verified: string;
  let unverified: string;
  let noEndpoint: string;
  let securityKey: string;
  const ids: Record<string, string> = {};
  const usage = createTokenUsageRecorder();

  const useToken = async (id: string, at: string, scopes: string[] = ['read'], workload = 'billing-sync') => {
    const db = h.custody.storage.db;
    await usage.recordUse(db, id, at, workload);
    for (const s of scopes) await usage.recordScopeUse(db, id, s, at);
    await usage.recordWorkloadUse(db, id, workload, at);
  };

  /** A token with nothing wrong, changed by `over`. */
  const token = async (name: string, over: Partial<RegisterTokenInput> & { lastUsedAt?: string | null } = {}) => {
    const { lastUsedAt = ago(1), ...input } = over;
    const issuedAt = input.issuedAt ?? ago(10);
    const record = await h.custody.tokens.register(h.admin, {
      tenantId: A,
      providerId: verified,
      owner: 'alice',
      approver: { subject: `approver-${name}`, approvedAt: ago(10) },
      purpose: 'sync invoices',
      reviewDueAt: ahead(90),
      workloads: ['billing-sync'],
      scopes: ['read'],
      accessToken: new Secret(`at-${name}`),
      refreshToken: new Secret(`rt-${name}`),
      issuedAt,
      accessExpiresAt: new Date(NOW.getTime() + 30 * 60_000).toISOString(),
      ...input,
    });
    if (lastUsedAt) await useToken(record.id, lastUsedAt, input.scopes ?? ['read']);
    ids[name] = record.id;
    return record.id;
  };

  const typesOf = async (id: string): Promise<string[]> => {
    await h.custody.findings.settled();
    const { items } = await h.custody.findingQueries.list(h.admin, { tokenId: id, limit: 100 });
    return items.map((f) => f.type).sort();
  };
  const findingOf = async (id: string, type: FindingType) => (await h.custody.findingQueries.list(h.admin, { tokenId: id, type, limit: 1 })).items[0];

  beforeAll(async () => {
    h = await startHarness(kind, { clock });
    securityKey = await keyFor(h, 'security');
    A = (await h.custody.tenants.create(h.admin, { name: 'acme' })).id;
    B = (await h.custody.tenants.create(h.admin, { name: 'globex' })).id;
    const provider = (name: string, revocationEndpoint?: string) =>
      h.custody.providers.create(h.admin, { name, tokenEndpoint: 'https://issuer.example.com/token', ...(revocationEndpoint ? { revocationEndpoint } : {}), clientId: 'c', apiBaseUrls: ['https://api.example.com'] });
    verified = (await provider('verified', 'https://issuer.example.com/revoke')).id;
    unverified = (await provider('unverified', 'https://issuer.example.com/revoke')).id;
    noEndpoint = (await provider('no-endpoint')).id;
    // What a confirmed revocation at the issuer records (the outbox does this in production).
    await h.custody.storage.db.updateTable('providers').set({ revocation_verified_at: ago(30) }).where('id', '=', verified).execute();

    for (const name of ['alice', 'bob']) await h.custody.directory.createOwner(h.admin, { name, kind: 'person' });
    await h.custody.directory.createWorkload(h.admin, { name: 'billing-sync', owner: 'alice', purpose: 'invoices' });
    await h.custody.directory.createWorkload(h.admin, { name: 'reports', tenantId: A, owner: 'bob' });
    await h.custody.policy.putGlobal(h.admin, { forbiddenScopes: { [verified]: ['admin'] }, maxRefreshTokenAgeDays: 500 });

    await token('clean');
    await token('noRevocationPath', { providerId: noEndpoint });
    await token('revocationUnverified', { providerId: unverified });
    await token('noApprover', { approver: undefined });
    await token('approverInactive');
    await token('noPurpose', { purpose: undefined });
    await token('reviewOverdue', { reviewDueAt: ago(1) });
    await token('dormant', { issuedAt: ago(200), approver: { subject: 'x', approvedAt: ago(120) }, lastUsedAt: ago(100) });
    await token('unobserved', { usageChannel: 'direct', issuedAt: ago(200), approver: { subject: 'x', approvedAt: ago(120) }, lastUsedAt: null });
    await token('overprivileged', { scopes: ['read', 'write'], approver: { subject: 'x', approvedAt: ago(60) }, issuedAt: ago(60), lastUsedAt: null });
    await useToken(ids.overprivileged!, ago(2), ['read']);
    await token('reauthorizationDue', { issuedAt: ago(400), approver: { subject: 'x', approvedAt: ago(400) } });
    await token('noOwner', { owner: 'carol' });
    await token('ownerOrphaned', { owner: 'bob' });
    await token('longLived', { accessExpiresAt: ahead(2) });
    await token('forbiddenScope', { scopes: ['read', 'admin'] });
    await token('sharedByWorkloads', { workloads: ['billing-sync', 'reports'] });
    await useToken(ids.sharedByWorkloads!, ago(1), ['read'], 'reports');
    await token('sharedByTenants', { servedTenants: [B] });
    await token('unknownWorkload', { workloads: ['ghost'] });
    await token('inB', { tenantId: B, issuedAt: ago(100), lastUsedAt: ago(60) });
    await token('inA60', { issuedAt: ago(100), lastUsedAt: ago(60) });
    // The approver left the customer (recorded by the approver signals of a later issue).
    await h.custody.storage.db.updateTable('tokens').set({ approver_active: 0 }).where('id', '=', ids.approverInactive!).execute();
    await h.custody.findings.sweep();
  });
  afterAll(() => h.close());

  const EXPECTED: Record<string, string[]> = {
    clean: [],
    noRevocationPath: ['no_revocation_path', 'unmanaged'],
    revocationUnverified: ['revocation_unverified', 'unmanaged'],
    noApprover: ['no_approver', 'unmanaged'],
    approverInactive: ['approver_inactive', 'unmanaged'],
    noPurpose: ['no_purpose', 'unmanaged'],
    reviewOverdue: ['review_overdue', 'unmanaged'],
    dormant: ['dormant', 'unmanaged'],
    unobserved: ['unobserved'],
    overprivileged: ['overprivileged'],
    reauthorizationDue: ['reauthorization_due'],
    noOwner: ['no_owner'],
    ownerOrphaned: [],
    longLived: ['long_lived_credential'],
    forbiddenScope: ['forbidden_scope'],
    sharedByWorkloads: ['shared_token'],
    sharedByTenants: ['shared_token'],
    unknownWorkload: ['unknown_workload'],
    inB: [],
    inA60: [],
  };

  it('raises each finding type exactly where the dataset puts it, and nowhere else', async () => {
    const actual: Record<string, string[]> = {};
    for (const name of Object.keys(EXPECTED)) actual[name] = await typesOf(ids[name]!);
    expect(actual).toEqual(EXPECTED);
  });

  it('gives reasons a person can act on, with the data behind them, and the framework mappings', async () => {
    const over = (await findingOf(ids.overprivileged!, 'overprivileged'))!;
    expect(over.reasons[0]!.data).toMatchObject({ unusedScopes: ['write'], lastUsed: { write: null } });
    expect(over.reasons[0]!.message).toMatch(/write \(never used\)/);
    expect(over.mappings.owaspNhi.map((m) => m.id)).toContain('NHI5');
    const unmanaged = (await findingOf(ids.dormant!, 'unmanaged'))!;
    expect(unmanaged.reasons.map((r) => r.code)).toEqual(['justified']);
    expect(unmanaged.reasons[0]).toMatchObject({ message: expect.stringMatching(/not justified by current business need \(dormant\)/), data: { checks: ['dormant'] } });
    const long = (await findingOf(ids.longLived!, 'long_lived_credential'))!;
    expect(long.reasons).toEqual([expect.objectContaining({ code: 'access_ttl_too_long', data: { ttlMinutes: 2880 } })]);
  });

  it('calls a token used only outside the gateway unobserved, never dormant or overprivileged, and still managed', async () => {
    expect(await typesOf(ids.unobserved!)).toEqual(['unobserved']);
    expect((await h.custody.tokens.get(h.admin, ids.unobserved!)).managed).toBe(true);
  });

  it('never duplicates: a second sweep opens and resolves nothing', async () => {
    const before = (await h.custody.findingQueries.list(h.admin, { limit: 1000 })).items.map((f) => f.id).sort();
    const again = await h.custody.findings.sweep();
    expect({ opened: again.opened, resolved: again.resolved }).toEqual({ opened: 0, resolved: 0 });
    expect((await h.custody.findingQueries.list(h.admin, { limit: 1000 })).items.map((f) => f.id).sort()).toEqual(before);
  });

  it('in audit mode writes what enforcement would do to the ledger, once, and changes no token', async () => {
    // The sweep in beforeAll ran the enforcement pass: would-be notices, and for a forbidden scope a would-be suspension at once.
    await h.custody.findings.sweep();
    const entries = await h.custody.ledger.list({ subjectId: ids.dormant!, order: 'asc', limit: 100 });
    const wouldAct = entries.filter((e) => e.action.startsWith('policy.would_'));
    expect(wouldAct).toEqual([expect.objectContaining({ action: 'policy.would_notify', actor: 'policy', data: expect.objectContaining({ findingType: 'dormant', mode: 'audit', deadline: ahead(14) }) })]);
    const forbidden = await h.custody.ledger.list({ subjectId: ids.forbiddenScope!, order: 'asc', limit: 100 });
    expect(forbidden.filter((e) => e.action.startsWith('policy.would_')).map((e) => e.action)).toEqual(['policy.would_notify', 'policy.would_suspend']);
    expect((await h.custody.tokens.get(h.admin, ids.dormant!)).state).toBe('active');
    expect((await h.custody.tokens.get(h.admin, ids.forbiddenScope!)).state).toBe('active');
    expect((await h.custody.notices.list(h.admin, { limit: 10 })).items).toEqual([]);
  });

  it('computes findings on registration and on a change, without waiting for a sweep, and resolves them when the cause clears', async () => {
    const id = await token('fresh', { purpose: undefined });
    expect(await typesOf(id)).toEqual(['no_purpose', 'unmanaged']);
    const finding = (await findingOf(id, 'no_purpose'))!;
    await h.custody.tokens.patch(h.admin, id, { purpose: 'sync invoices' });
    expect(await typesOf(id)).toEqual([]);
    expect((await h.custody.findingQueries.get(h.admin, finding.id)).status).toBe('resolved');
    // A fixed cause from the directory side: the unknown workload is registered, the unknown owner added.
    await h.custody.directory.createWorkload(h.admin, { name: 'ghost', tenantId: A });
    await h.custody.directory.createOwner(h.admin, { name: 'carol', kind: 'person' });
    await waitFor(async () => (await typesOf(ids.unknownWorkload!)).length === 0 && (await typesOf(ids.noOwner!)).length === 0);
    // Dormancy clears with use (seen by the next sweep).
    await useToken(ids.dormant!, ago(0));
    await h.custody.findings.sweep();
    expect(await typesOf(ids.dormant!)).toEqual([]);
    // A revoked token holds no privilege: all its findings resolve.
    await h.custody.tokens.transition(h.admin, ids.noRevocationPath!, 'revoke', 'test');
    expect(await typesOf(ids.noRevocationPath!)).toEqual([]);
  });

  it('suppresses a finding under an exception and reopens it when the exception expires', async () => {
    const ex = await h.custody.exceptions.create(h.admin, { tenantId: A, tokenId: ids.longLived!, findingType: 'long_lived_credential', approvedBy: 'ciso@acme', reason: 'vendor cannot shorten tokens before Q1', expiresAt: ahead(7) });
    await h.custody.findings.settled();
    const excepted = (await findingOf(ids.longLived!, 'long_lived_credential'))!;
    expect(excepted).toMatchObject({ status: 'excepted', exception: { id: ex.id, expiresAt: ahead(7) }, enforcement: { nextActionAt: null } });
    clock.set(new Date(NOW.getTime() + 8 * DAY));
    try {
      await h.custody.findings.sweep();
      const reopened = (await findingOf(ids.longLived!, 'long_lived_credential'))!;
      expect({ id: reopened.id, status: reopened.status, exception: reopened.exception }).toEqual({ id: excepted.id, status: 'open', exception: null });
    } finally {
      clock.set(NOW);
    }
  });

  it("raises owner_orphaned on exactly the deactivated owner's tokens and workloads, and reassignment clears it", async () => {
    const bob = (await h.custody.directory.listOwners()).find((o) => o.name === 'bob')!;
    await h.custody.directory.patchOwner(h.admin, bob.id, { active: false });
    await waitFor(async () => (await typesOf(ids.ownerOrphaned!)).includes('owner_orphaned'));
    const orphaned = (await h.custody.findingQueries.list(h.admin, { type: 'owner_orphaned', limit: 100 })).items;
    const reports = (await h.custody.directory.listWorkloads(h.admin)).find((w) => w.name === 'reports')!;
    expect(orphaned.map((f) => f.tokenId ?? f.workloadId).sort()).toEqual([ids.ownerOrphaned!, reports.id].sort());
    const moved = await h.custody.directory.reassign(h.admin, { fromOwner: 'bob', toOwner: 'alice' });
    expect(moved).toEqual({ tokens: 1, workloads: 1 });
    await waitFor(async () => (await h.custody.findingQueries.list(h.admin, { type: 'owner_orphaned', limit: 100 })).items.length === 0);
    expect((await h.custody.tokens.get(h.admin, ids.ownerOrphaned!)).owner).toBe('alice');
    const ledger = await h.custody.ledger.list({ subjectId: ids.ownerOrphaned!, action: 'token.owner_changed', order: 'asc', limit: 10 });
    expect(ledger.map((e) => e.data)).toEqual([expect.objectContaining({ from: 'bob', to: 'alice' })]);
  });

  it("changes findings for the tenant whose policy it overrides, and no other", async () => {
    await h.custody.policy.putTenant(h.admin, B, { dormantAfterDays: 45 });
    await waitFor(async () => (await typesOf(ids.inB!)).includes('dormant'));
    expect(await typesOf(ids.inB!)).toEqual(['dormant', 'unmanaged']);
    expect(await typesOf(ids.inA60!)).toEqual([]);
    const effective = await h.custody.policy.effective(h.admin, B);
    expect(effective.sources).toMatchObject({ dormantAfterDays: 'tenant', forbiddenScopes: 'global', graceDays: 'default' });
    // The inventory's managed filter follows the override too.
    expect((await h.custody.tokens.list(h.admin, { tenantId: B, managed: false, limit: 10 })).items.map((t) => t.id)).toEqual([ids.inB]);
  });

  it('sums up to the same numbers as counting the inventory and the findings themselves', async () => {
    await h.custody.findings.sweep();
    const r = await h.app.inject({ method: 'GET', url: '/v1/findings/summary', headers: bearer(securityKey) });
    expect(r.statusCode).toBe(200);
    const summary = r.json();
    const all = (await h.custody.findingQueries.list(h.admin, { limit: 1000 })).items;
    const byType: Record<string, number> = {};
    for (const f of all) byType[f.type] = (byType[f.type] ?? 0) + 1;
    expect(summary.byType).toEqual(byType);
    expect(summary.findings).toBe(all.length);
    const count = async (managed?: boolean) => (await h.custody.tokens.list(h.admin, { ...(managed === undefined ? {} : { managed }), limit: 1000 })).items.filter((t) => t.managed !== null).length;
    const live = await count();
    expect(summary.managed).toEqual({ live, managed: await count(true), unmanaged: await count(false), share: (await count(true)) / live });
    const owasp = all.flatMap((f) => f.mappings.owaspNhi.map((m) => m.id));
    expect(summary.byOwaspNhi.NHI5).toBe(owasp.filter((x) => x === 'NHI5').length);
    // A tenant's own summary covers that tenant only.
    const forB = (await h.app.inject({ method: 'GET', url: `/v1/findings/summary?tenantId=${B}`, headers: bearer(securityKey) })).json();
    expect(forB.tenants.map((t: { tenantId: string }) => t.tenantId)).toEqual([B]);
  });

  it('refuses a bad policy with every problem named', async () => {
    const r = await h.app.inject({ method: 'PUT', url: '/v1/policy', headers: bearer(await keyFor(h, 'admin')), payload: { graceDays: 400, dormantAfterDays: 0, mode: 'sometimes' } });
    expect(r.statusCode).toBe(400);
    expect(r.json().error.code).toBe('validation_failed');
    expect(r.json().error.details.map((d: { path: string }) => d.path).sort()).toEqual(['body/dormantAfterDays', 'body/graceDays', 'body/mode']);
    const cross = await h.app.inject({ method: 'PUT', url: '/v1/policy', headers: bearer(await keyFor(h, 'admin')), payload: { graceDays: 30, dormantAfterDays: 20, forbiddenScopes: { prv_00000000000000000000000000: ['x'] } } });
    expect(cross.statusCode).toBe(400);
    expect(cross.json().error.code).toBe('policy_invalid');
    expect(cross.json().error.details.map((d: { path: string }) => d.path).sort()).toEqual(['body/dormantAfterDays', 'body/forbiddenScopes/prv_00000000000000000000000000']);
  });

  it('tells an explicit null from an inherited value, and changes nothing (no version, no entry) when nothing changes', async () => {
    const before = await h.custody.policy.getGlobal();
    const cleared = await h.custody.policy.putGlobal(h.admin, { ...before.set, reauthorizeEveryDays: null });
    const [entry] = await h.custody.ledger.list({ action: 'policy.changed', order: 'desc', limit: 1 });
    expect(entry!.data).toMatchObject({ version: cleared.version, changed: ['reauthorizeEveryDays'] });
    const same = await h.custody.policy.putGlobal(h.admin, { ...cleared.set });
    expect(same.version).toBe(cleared.version);
    expect((await h.custody.ledger.list({ action: 'policy.changed', order: 'desc', limit: 1 }))[0]!.seq).toBe(entry!.seq);
    await h.custody.policy.putGlobal(h.admin, before.set);
  });

  it('matches owner names without regard to case, and says when a token names a retired workload', async () => {
    const id = await token('caseOwner', { owner: 'ALICE' });
    expect(await typesOf(id)).toEqual([]);
    const retiredId = await token('retiredWorkload', { workloads: ['legacy-sync'] });
    const legacy = await h.custody.directory.createWorkload(h.admin, { name: 'legacy-sync', tenantId: A });
    await waitFor(async () => (await typesOf(retiredId)).length === 0);
    await h.custody.directory.patchWorkload(h.admin, legacy.id, { active: false });
    await waitFor(async () => (await typesOf(retiredId)).includes('unknown_workload'));
    expect((await findingOf(retiredId, 'unknown_workload'))!.reasons).toEqual([expect.objectContaining({ code: 'retired', data: { workloads: ['legacy-sync'] } })]);
    await expect(h.custody.directory.createOwner(h.admin, { name: 'Alice', kind: 'person' })).rejects.toMatchObject({ code: 'owner_exists' });
  });

  it('lets only platform staff say a token serves other tenants, and only tenants that exist', async () => {
    const tenantAdmin = await keyFor(h, 'tenant_admin', A);
    const r = await h.app.inject({ method: 'PATCH', url: `/v1/tokens/${ids.clean}`, headers: bearer(tenantAdmin), payload: { servedTenants: [B] } });
    expect({ status: r.statusCode, code: r.json().error.code }).toEqual({ status: 403, code: 'forbidden' });
    const missing = await h.app.inject({ method: 'PATCH', url: `/v1/tokens/${ids.clean}`, headers: bearer(securityKey), payload: { servedTenants: ['ten_00000000000000000000000000'] } });
    expect({ status: missing.statusCode, code: missing.json().error.code }).toEqual({ status: 400, code: 'validation_failed' });
    expect((await h.custody.tokens.get(h.admin, ids.clean!)).servedTenants).toEqual([]);
  });

  it('versions each policy change in the ledger with the old and new values', async () => {
    const before = await h.custody.policy.getGlobal();
    const after = await h.custody.policy.putGlobal(h.admin, { ...before.set, scopeUsageWindowDays: 45 });
    expect(after.version).toBe(before.version + 1);
    const entries = await h.custody.ledger.list({ action: 'policy.changed', order: 'desc', limit: 1 });
    expect(entries[0]!.data).toMatchObject({ scope: 'global', version: after.version, changed: ['scopeUsageWindowDays'], from: before.set, to: { ...before.set, scopeUsageWindowDays: 45 } });
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

