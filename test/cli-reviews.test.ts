import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.ts';
import { keyFor, seed, startHarness, type Harness, type Seeded } from './support/harness.ts';

/**
 * `custody reviews create|list|show|items|decide` against a real server. The CLI speaks only HTTP
 * (the contract the server mounts), so one database suffices here; the routes run on both in
 * src/reviews/reviews.test.ts.
 */
describe('the access reviews CLI', () => {
  let h: Harness;
  let s: Seeded;
  let env: Record<string, string>;

  beforeAll(async () => {
    h = await startHarness('sqlite');
    s = await seed(h);
    await h.custody.directory.createOwner(h.admin, { name: 'team-integrations', kind: 'team' });
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    env = { CUSTODY_URL: `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`, CUSTODY_API_KEY: await keyFor(h, 'tenant_admin', s.tenantA) };
  });
  afterAll(async () => {
    await h?.close();
  });

  it('starts a campaign, lists and shows it, lists its items, and keeps a token', async () => {
    const created = await runCli(['reviews', 'create', '--name', 'Q1 review', '--tenant', s.tenantA, '--due', '14d', '--json'], env);
    expect(created.code, created.stderr).toBe(0);
    const campaign = JSON.parse(created.stdout);
    expect(campaign).toMatchObject({ tenantId: s.tenantA, status: 'open', progress: { total: 1 } });

    const list = await runCli(['reviews', 'list'], env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain(campaign.id);
    expect(list.stdout).toContain('0/1');

    const items = await runCli(['reviews', 'items', campaign.id, '--json'], env);
    expect(items.code, items.stderr).toBe(0);
    const [item] = JSON.parse(items.stdout).items;
    expect(item).toMatchObject({ tokenId: s.tokenA, reviewer: { kind: 'owner', name: 'team-integrations' }, status: 'open' });

    const kept = await runCli(['reviews', 'decide', campaign.id, item.id, 'keep', '--justification', 'still syncs invoices nightly'], env);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).toMatch(new RegExp(`Token ${s.tokenA} kept; its review is now due \\d{4}-`));

    const shown = await runCli(['reviews', 'show', campaign.id], env);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('1/1 decided (kept 1, revoked 0, reassigned 0)');
    expect(shown.stdout).toContain('closed');
  });

  it('says what is wrong, with the exit code of its kind', async () => {
    const noScope = await runCli(['reviews', 'create', '--name', 'x', '--due', '14d'], env);
    expect(noScope.code).toBe(2);
    expect(noScope.stderr).toContain('--tenant, --owner and/or --provider');
    const badDue = await runCli(['reviews', 'create', '--name', 'x', '--tenant', s.tenantA, '--due', 'tomorrow'], env);
    expect(badDue.code).toBe(2);
    expect(badDue.stderr).toContain('--due must be');
    const foreign = await runCli(['reviews', 'create', '--name', 'x', '--tenant', s.tenantB, '--due', '14d', '--json'], env);
    expect(foreign.code).toBe(3);
    expect(JSON.parse(foreign.stderr).error.code).toBe('tenant_not_found');
    const missing = await runCli(['reviews', 'show', 'rvw_01J00000000000000000000000'], env);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('No access review campaign');
  });
});
