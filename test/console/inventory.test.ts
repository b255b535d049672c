import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openPage, seriousAxeViolations, signIn, startConsoleServer, type ConsoleServer } from '../support/browser.ts';
import { bearer, keyFor, seed, type Seeded } from '../support/harness.ts';
import { Secret } from '../../src/shared/secret.ts';

const NO_PROBLEMS = { consoleErrors: [], pageErrors: [], foreignRequests: [], failedRequests: [] };

/** The full ids of the token rows the inventory shows now (each row's link carries the id in its title). */
async function rowIds(page: Page): Promise<string[]> {
  const links = await page.locator('table[aria-label="Tokens"] tbody tr td:first-child a').all();
  return Promise.all(links.map(async (a) => (await a.getAttribute('title')) ?? ''));
}

describe('console inventory (Chromium)', () => {
  let server: ConsoleServer;
  let browser: Browser;
  let s: Seeded;
  let key: string;
  const api = async (url: string) => {
    const r = await server.h.app.inject({ method: 'GET', url, headers: bearer(key) });
    expect(r.statusCode).toBe(200);
    return r.json() as { items: { id: string; tenantId: string; state: string }[]; nextCursor: string | null };
  };

  beforeAll(async () => {
    server = await startConsoleServer('sqlite');
    browser = await launchBrowser();
    const { h } = server;
    s = await seed(h);
    // Tenant A: six more tokens, two of them suspended and one revoked; tenant B: one suspended.
    const more: string[] = [];
    for (let i = 0; i < 6; i++) {
      const t = await h.custody.tokens.register(h.admin, {
        tenantId: s.tenantA,
        providerId: s.providerId,
        owner: i % 2 ? 'team-data' : 'team-integrations',
        approver: { subject: `approver-${i}`, email: `approver${i}@customer.example` },
        purpose: `purpose ${i}`,
        workloads: ['billing-sync'],
        scopes: ['invoices.read', `reports.${i}`],
        accessToken: new Secret(`at-inventory-${i}`),
      });
      more.push(t.id);
    }
    await h.custody.tokens.transition(h.admin, more[1]!, 'suspend', 'test');
    await h.custody.tokens.transition(h.admin, more[3]!, 'suspend', 'test');
    await h.custody.tokens.transition(h.admin, more[5]!, 'revoke', 'test');
    await h.custody.tokens.transition(h.admin, s.tokenB, 'suspend', 'test');
    key = await keyFor(h, 'admin');
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('filters by tenant and state on the server, keeps the filter in the URL across a reload, and pages', async () => {
    const { context, page, problems } = await openPage(browser, server.url);
    await signIn(page, key);
    await page.getByRole('link', { name: 'Inventory' }).click();
    await page.getByRole('heading', { name: 'Inventory' }).waitFor();

    // Unfiltered: the first page equals the API's.
    const all = await api('/v1/tokens?limit=50');
    expect(all.items.length).toBe(8);
    await expect.poll(() => rowIds(page)).toEqual(all.items.map((t) => t.id));
    expect(await seriousAxeViolations(page)).toEqual([]);

    // Filter: tenant A, suspended. The rows are exactly what GET /v1/tokens answers for that filter.
    const tenantName = (await server.h.custody.tenants.list(server.h.admin)).find((t) => t.id === s.tenantA)!.name;
    await page.getByLabel('Tenant').selectOption({ label: tenantName });
    await page.getByLabel('State').selectOption('suspended');
    await expect.poll(() => new URL(page.url()).searchParams.get('state')).toBe('suspended');
    expect(new URL(page.url()).searchParams.get('tenantId')).toBe(s.tenantA);
    const filtered = await api(`/v1/tokens?tenantId=${s.tenantA}&state=suspended&limit=50`);
    expect(filtered.items.length).toBe(2);
    expect(filtered.items.every((t) => t.tenantId === s.tenantA && t.state === 'suspended')).toBe(true);
    await expect.poll(() => rowIds(page)).toEqual(filtered.items.map((t) => t.id));

    // A reload (or a shared link) shows the same list and the same controls.
    await page.reload();
    await page.getByRole('heading', { name: 'Inventory' }).waitFor();
    await expect.poll(() => rowIds(page)).toEqual(filtered.items.map((t) => t.id));
    expect(await page.getByLabel('State').inputValue()).toBe('suspended');
    expect(await page.getByLabel('Tenant').inputValue()).toBe(s.tenantA);

    // Search on the server (q), applied with the form.
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.getByLabel('Search').fill('approver3@');
    await page.getByRole('button', { name: 'Apply' }).click();
    const searched = await api('/v1/tokens?q=approver3%40&limit=50');
    expect(searched.items.length).toBe(1);
    await expect.poll(() => rowIds(page)).toEqual(searched.items.map((t) => t.id));

    // Paging: two a page, following the API's cursor.
    await page.goto(`/inventory?tenantId=${s.tenantA}&limit=2`);
    const p1 = await api(`/v1/tokens?tenantId=${s.tenantA}&limit=2`);
    await expect.poll(() => rowIds(page)).toEqual(p1.items.map((t) => t.id));
    await page.getByRole('button', { name: 'Next page' }).click();
    const p2 = await api(`/v1/tokens?tenantId=${s.tenantA}&limit=2&cursor=${encodeURIComponent(p1.nextCursor!)}`);
    await expect.poll(() => rowIds(page)).toEqual(p2.items.map((t) => t.id));
    expect(p2.items.map((t) => t.id)).not.toEqual(p1.items.map((t) => t.id));
    // How many match in all, as the counts route gives them for the tenant.
    const counts = (await server.h.app.inject({ method: 'GET', url: `/v1/tokens/counts?tenantId=${s.tenantA}`, headers: bearer(key) })).json() as { items: { count: number }[] };
    const ofA = counts.items.reduce((n, r) => n + r.count, 0);
    expect(ofA).toBeGreaterThan(2);
    await expect.poll(async () => (await page.getByTestId('inventory-total').textContent()) ?? '').toContain(`${ofA.toLocaleString('en')} tokens match in all`);
    await page.getByRole('button', { name: 'First page' }).click();
    await expect.poll(() => rowIds(page)).toEqual(p1.items.map((t) => t.id));

    // A row opens the token.
    await page.getByRole('link', { name: `…${p1.items[0]!.id.slice(-8)}`, exact: true }).click();
    await page.getByRole('heading', { name: `Token ${p1.items[0]!.id}` }).waitFor();
    expect(problems).toEqual(NO_PROBLEMS);
    await context.close();
  });

  it('sorts by risk and reads well in dark mode', async () => {
    const { context, page, problems } = await openPage(browser, server.url, { colorScheme: 'dark' });
    await signIn(page, key);
    await server.h.custody.findings.sweep();
    await page.goto('/inventory?sort=risk');
    const byRisk = await api('/v1/tokens?sort=risk&limit=50');
    await expect.poll(() => rowIds(page)).toEqual(byRisk.items.map((t) => t.id));
    expect(await page.getByLabel('Sort').inputValue()).toBe('risk');
    expect(await seriousAxeViolations(page)).toEqual([]);
    expect(problems).toEqual(NO_PROBLEMS);
    await context.close();
  });
});
