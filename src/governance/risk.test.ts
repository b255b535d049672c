import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../../test/support/cli.ts';
import { fixedClock } from '../shared/clock.ts';
import { Secret } from '../shared/secret.ts';
import { createTokenUsageRecorder } from '../tokens/token-usage.ts';
import type { RegisterTokenInput, TokenRecord } from '../tokens/token.types.ts';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { bearer, keyFor, startHarness, type Harness } from '../../test/support/harness.ts';

/**
 * The risk score end to end (both databases, fixed clock): on the record after registration and
 * after a change that moves a component, stored only when it changes (a steady sweep writes
 * nothing; a sweep after a bucket changed writes just those tokens, and not as a change of the
 * token), and the inventory sorted and filtered by it, page by page.
 */
const NOW = new Date('2026-11-01T00:00:00.000Z');
const DAY = 86_400_000;
const ago = (days: number) => new Date(NOW.getTime() - days * DAY).toISOString();

describeEachDatabase('risk score', (kind) => {
  const clock = fixedClock(NOW);
  let h: Harness;
  let A: string;
  let B: string;
  let crm: string;
  let tenantKey: string;
  let securityKey: string;
  const usage = createTokenUsageRecorder();
  const ids: Record<string, string> = {};

  const register = async (name: string, over: Partial<RegisterTokenInput> = {}, lastUsedDaysAgo = 1) => {
    const t = await h.custody.tokens.register(h.admin, {
      tenantId: A,
      providerId: crm,
      owner: 'alice',
      approver: { subject: `approver-${name}`, approvedAt: ago(20) },
      purpose: 'sync contacts',
      workloads: ['crm-sync'],
      scopes: ['contacts.read'],
      accessToken: new Secret(`at-${name}`),
      refreshToken: new Secret(`rt-${name}`),
      issuedAt: ago(20),
      accessExpiresAt: new Date(NOW.getTime() + 30 * 60_000).toISOString(),
      ...over,
    });
    await usage.recordUse(h.custody.storage.db, t.id, ago(lastUsedDaysAgo), 'crm-sync');
    ids[name] = t.id;
    return t.id;
  };
  const record = async (id: string): Promise<TokenRecord> => {
    await h.custody.findings.settled();
    return h.custody.tokens.get(h.admin, id);
  };
  const component = (t: TokenRecord, name: string) => t.risk!.components.find((c) => c.name === name)!;
  const rowOf = (id: string) => h.custody.storage.db.selectFrom('tokens').select(['risk_score', 'risk_components', 'updated_at']).where('id', '=', id).executeTakeFirstOrThrow();

  beforeAll(async () => {
    h = await startHarness(kind, { clock });
    A = (await h.custody.tenants.create(h.admin, { name: 'acme' })).id;
    B = (await h.custody.tenants.create(h.admin, { name: 'globex' })).id;
    crm = (
      await h.custody.providers.create(h.admin, {
        name: 'crm',
        tokenEndpoint: 'https://issuer.example.com/token',
        revocationEndpoint: 'https://issuer.example.com/revoke',
        clientId: 'c',
        apiBaseUrls: ['https://api.example.com'],
        scopeCatalogue: [
          { name: 'contacts.read', sensitivity: 'read' },
          { name: 'contacts.write', sensitivity: 'write' },
          { name: 'admin.users', sensitivity: 'admin' },
        ],
      })
    ).id;
    await h.custody.storage.db.updateTable('providers').set({ revocation_verified_at: ago(30) }).where('id', '=', crm).execute();
    await h.custody.directory.createOwner(h.admin, { name: 'alice', kind: 'person' });
    await h.custody.directory.createWorkload(h.admin, { name: 'crm-sync', owner: 'alice' });
    tenantKey = await keyFor(h, 'tenant_admin', A);
    securityKey = await keyFor(h, 'security');

    await register('clean');
    await register('admin', { scopes: ['contacts.read', 'contacts.write', 'admin.users'] });
    await register('unknownScope', { scopes: ['billing.export'] });
    await register('noPurpose', { purpose: undefined });
    await register('quiet', { issuedAt: ago(60), approver: { subject: 'x', approvedAt: ago(60) } }, 50);
    await register('dormant', { issuedAt: ago(200), approver: { subject: 'x', approvedAt: ago(200) } }, 190);
    await register('wide', { workloads: ['crm-sync', 'a', 'b'], servedTenants: [B] });
    await register('standing', { refreshToken: undefined, accessExpiresAt: undefined });
    await register('inB', { tenantId: B, scopes: ['admin.users'] });
    await register('revoked');
    await h.custody.findings.settled();
    await h.custody.tokens.transition(h.admin, ids.revoked!, 'revoke', 'no longer needed');
    // Gateway use is not a change of the token: a sweep sees it (as the dormant finding does);
    // here the same judgement, by the change path, for the tokens at hand.
    await h.custody.findings.evaluateTokens(Object.values(ids));
  });
  afterAll(() => h.close());

  it('shows the score and its six components on the record once the token is registered', async () => {
    const t = await record(ids.clean!);
    expect(t.risk!.components.map((c) => c.name)).toEqual(['scope_sensitivity', 'open_findings', 'dormancy', 'credential_age', 'exposure', 'revocation_path']);
    expect(t.risk!.components.map((c) => c.max)).toEqual([30, 20, 15, 15, 10, 10]);
    expect(t.risk!.score).toBe(6);
    expect(component(t, 'scope_sensitivity').reason).toBe('Holds read contacts.read. 6 for the most sensitive (read).');
    // Through the API, as a tenant administrator of its tenant.
    const r = await h.app.inject({ method: 'GET', url: `/v1/tokens/${ids.clean}`, headers: bearer(tenantKey) });
    expect(r.statusCode).toBe(200);
    expect(r.json().risk).toEqual(t.risk);
  });

  it('reads each component from the token: scopes by the catalogue, dormancy, credential, exposure', async () => {
    // admin.users, and one further scope at write or above (contacts.write).
    expect(component(await record(ids.admin!), 'scope_sensitivity').points).toBe(24 + 2);
    expect(component(await record(ids.unknownScope!), 'scope_sensitivity')).toMatchObject({ points: 14, reason: expect.stringContaining("not in the provider's scope catalogue, counted as write: billing.export") });
    expect(component(await record(ids.quiet!), 'dormancy').points).toBe(5);
    expect(component(await record(ids.dormant!), 'dormancy').points).toBe(15);
    expect(component(await record(ids.standing!), 'credential_age').points).toBe(15);
    expect(component(await record(ids.wide!), 'exposure')).toMatchObject({ points: 4 + 3, reason: `May be used by 3 workloads (a, b, crm-sync); serves 1 other tenant (${B}).` });
    const noPurpose = await record(ids.noPurpose!);
    expect(component(noPurpose, 'open_findings')).toMatchObject({ points: 3, reason: '1 open finding: no_purpose (medium).' });
  });

  it('has no score for a revoked token (it holds no privilege)', async () => {
    expect((await record(ids.revoked!)).risk).toBeNull();
    expect((await rowOf(ids.revoked!)).risk_score).toBeNull();
  });

  it('moves the score when a component changes: a finding resolved, a scope catalogued', async () => {
    const before = await record(ids.noPurpose!);
    await h.custody.tokens.patch(h.admin, ids.noPurpose!, { purpose: 'sync contacts nightly' });
    const after = await record(ids.noPurpose!);
    expect(component(after, 'open_findings').points).toBe(0);
    expect(after.risk!.score).toBe(before.risk!.score - 3);
  });

  it('writes only changes: a steady sweep writes no score; one after a bucket changed writes just those tokens (not as a change of the token), and fills in a missing one', async () => {
    await h.custody.findings.settled();
    const steady = await h.custody.findings.sweep();
    expect(steady.riskChanged).toBe(0);
    const quietBefore = await rowOf(ids.quiet!);
    const cleanBefore = await rowOf(ids.clean!);
    const dormantBefore = await rowOf(ids.dormant!);
    // A score the table lacks (as after the migration) is filled in by the next sweep.
    await h.custody.storage.db.updateTable('tokens').set({ risk_score: null, risk_components: null }).where('id', '=', ids.dormant!).execute();
    expect((await h.custody.tokens.get(h.admin, ids.dormant!)).risk).toBeNull();
    // 45 days on: "quiet" (last used 50 days ago) passes the 90-day dormancy limit; the tokens used
    // a day ago pass half of it. "dormant" (190 days) was past twice the limit already, and no
    // grant crosses half of the 365 days: nothing else moves.
    clock.set(new Date(NOW.getTime() + 45 * DAY));
    try {
      const moved = await h.custody.findings.sweep();
      const crossed = Object.keys(ids).filter((n) => !['revoked', 'dormant'].includes(n));
      expect(moved.riskChanged).toBe(crossed.length + 1);
      const quiet = await h.custody.tokens.get(h.admin, ids.quiet!);
      expect(component(quiet, 'dormancy').points).toBe(10);
      // Stored as derived data: the token's own updated_at does not move.
      expect((await rowOf(ids.quiet!)).updated_at).toBe(quietBefore.updated_at);
      expect((await rowOf(ids.clean!)).risk_components).not.toBe(cleanBefore.risk_components);
      expect(await rowOf(ids.dormant!)).toEqual(dormantBefore);
    } finally {
      clock.set(NOW);
      await h.custody.findings.evaluateTokens(Object.values(ids));
    }
  });

  it('sorts the inventory by risk, highest first, ties by id, page by page with a cursor', async () => {
    await h.custody.findings.settled();
    const all = (await h.custody.tokens.list(h.admin, { limit: 100 })).items.filter((t) => t.risk !== null);
    const expected = [...all].sort((a, b) => b.risk!.score - a.risk!.score || (a.id < b.id ? -1 : 1)).map((t) => [t.risk!.score, t.id]);
    const seen: [number, string][] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const r = await h.app.inject({ method: 'GET', url: `/v1/tokens?sort=risk&limit=3${cursor ? `&cursor=${cursor}` : ''}`, headers: bearer(securityKey) });
      expect(r.statusCode, r.body).toBe(200);
      const page = r.json() as { items: TokenRecord[]; nextCursor: string | null };
      seen.push(...page.items.map((t) => [t.risk!.score, t.id] as [number, string]));
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor && pages < 20);
    expect(seen).toEqual(expected);
    expect(pages).toBe(Math.ceil(expected.length / 3));
    // Scores repeat (several tokens share one), so some page boundary fell inside a score.
    expect(new Set(expected.map(([s]) => s)).size).toBeLessThan(expected.length);
  });

  it('filters by minRisk and maxRisk, combined with the tenant and the order', async () => {
    const all = (await h.custody.tokens.list(h.admin, { limit: 100 })).items.filter((t) => t.risk !== null);
    const scores = all.map((t) => t.risk!.score).sort((a, b) => a - b);
    const mid = scores[Math.floor(scores.length / 2)]!;
    const r = await h.app.inject({ method: 'GET', url: `/v1/tokens?minRisk=${mid}&limit=100`, headers: bearer(securityKey) });
    expect(r.statusCode).toBe(200);
    expect((r.json().items as TokenRecord[]).map((t) => t.id).sort()).toEqual(all.filter((t) => t.risk!.score >= mid).map((t) => t.id).sort());
    // With the state and provider filters (written so the risk index keeps the order): the same tokens.
    const active = await h.app.inject({ method: 'GET', url: `/v1/tokens?sort=risk&state=active&providerId=${crm}&minRisk=${mid}&limit=100`, headers: bearer(securityKey) });
    expect((active.json().items as TokenRecord[]).map((t) => t.id).sort()).toEqual(all.filter((t) => t.risk!.score >= mid && t.state === 'active').map((t) => t.id).sort());
    expect((await h.app.inject({ method: 'GET', url: '/v1/tokens?sort=risk&state=revoked&limit=100', headers: bearer(securityKey) })).json().items).toEqual([]);
    const below = await h.app.inject({ method: 'GET', url: `/v1/tokens?sort=risk&maxRisk=${mid - 1}&limit=100`, headers: bearer(securityKey) });
    expect((below.json().items as TokenRecord[]).every((t) => t.risk!.score < mid)).toBe(true);
    expect(below.json().items.length).toBe(all.filter((t) => t.risk!.score < mid).length);
    // A tenant administrator's list is its tenant's, in risk order too: tenant B's admin-scope token is not there.
    const mine = await h.app.inject({ method: 'GET', url: '/v1/tokens?sort=risk&minRisk=0&limit=100', headers: bearer(tenantKey) });
    const items = mine.json().items as TokenRecord[];
    expect(items.every((t) => t.tenantId === A)).toBe(true);
    expect(items.map((t) => t.id)).not.toContain(ids.inB);
    expect(items.map((t) => t.risk!.score)).toEqual([...items.map((t) => t.risk!.score)].sort((a, b) => b - a));
  });

  it('refuses a bad risk query with a 400 a person can act on', async () => {
    const call = (q: string) => h.app.inject({ method: 'GET', url: `/v1/tokens?${q}`, headers: bearer(securityKey) });
    const inverted = await call('minRisk=60&maxRisk=10');
    expect([inverted.statusCode, inverted.json().error.code]).toEqual([400, 'validation_failed']);
    expect(inverted.json().error.message).toMatch(/minRisk \(60\) is above maxRisk \(10\)/);
    expect((await call('minRisk=101')).statusCode).toBe(400);
    expect((await call('sort=danger')).statusCode).toBe(400);
    // A cursor continues only the order it was issued in.
    const first = (await call('sort=risk&limit=1')).json();
    const mixed = await call(`limit=1&cursor=${first.nextCursor}`);
    expect([mixed.statusCode, mixed.json().error.code]).toEqual([400, 'invalid_cursor']);
    const idCursor = (await call('limit=1')).json().nextCursor;
    const wrong = await call(`sort=risk&limit=1&cursor=${idCursor}`);
    expect([wrong.statusCode, wrong.json().error.code]).toEqual([400, 'invalid_cursor']);
  });

  // The CLI speaks only HTTP (the contract above, on both databases): one database suffices for it.
  it.runIf(kind === 'sqlite')('lists by risk and shows each component with custody tokens (CLI)', async () => {
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    const env = { CUSTODY_URL: `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`, CUSTODY_API_KEY: securityKey };
    const list = await runCli(['tokens', 'list', '--sort', 'risk', '--min-risk', '20', '--json'], env);
    expect(list.code, list.stderr).toBe(0);
    const items = JSON.parse(list.stdout).items as TokenRecord[];
    expect(items.length).toBeGreaterThan(0);
    expect(items.every((t) => t.risk!.score >= 20)).toBe(true);
    expect(items.map((t) => t.risk!.score)).toEqual([...items.map((t) => t.risk!.score)].sort((a, b) => b - a));
    const show = await runCli(['tokens', 'show', ids.wide!], env);
    expect(show.code, show.stderr).toBe(0);
    const wide = await h.custody.tokens.get(h.admin, ids.wide!);
    expect(show.stdout).toContain(`risk        ${wide.risk!.score}/100`);
    expect(show.stdout).toMatch(/exposure\s+7\/10 {2}May be used by 3 workloads/);
  });
});
