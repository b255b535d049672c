import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openPage, seriousAxeViolations, signIn, startConsoleServer, type ConsoleServer } from '../support/browser.ts';
import { bearer, keyFor, seed, type Seeded } from '../support/harness.ts';
import { Secret } from '../../src/shared/secret.ts';

async function rowIds(page: Page): Promise<string[]> {
  const links = await page.locator('table[aria-label="Tokens"] tbody tr td:first-child a').all();
  return Promise.all(links.map(async (a) => (await a.getAttribute('title')) ?? ''));
}

describe('console tenant isolation (Chromium)', () => {
  let server: ConsoleServer;
  let browser: Browser;
  let s: Seeded;
  let suspendedA: string;
  let key: string;

  beforeAll(async () => {
    server = await startConsoleServer('sqlite');
    browser = await launchBrowser();
    const { h } = server;
    s = await seed(h);
    for (const tenantId of [s.tenantA, s.tenantB, s.tenantB]) {
      const t = await h.custody.tokens.register(h.admin, { tenantId, providerId: s.providerId, owner: 'team-x', scopes: ['files.read'], accessToken: new Secret(`at-isolation-${Math.random()}`) });
      if (tenantId === s.tenantA) suspendedA = t.id;
    }
    await h.custody.tokens.transition(h.admin, suspendedA, 'suspend', 'security hold');
    key = await keyFor(h, 'tenant_admin', s.tenantA);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("shows a tenant administrator only their tenant's tokens, and another tenant's token as not found", async () => {
    const { context, page, problems } = await openPage(browser, server.url);
    await signIn(page, key);
    await page.getByRole('link', { name: 'Inventory' }).click();
    await page.getByRole('heading', { name: 'Inventory' }).waitFor();

    const r = await server.h.app.inject({ method: 'GET', url: '/v1/tokens?limit=50', headers: bearer(key) });
    const mine = (r.json() as { items: { id: string; tenantId: string }[] }).items;
    expect(mine.map((t) => t.tenantId)).toEqual([s.tenantA, s.tenantA]);
    await expect.poll(() => rowIds(page)).toEqual(mine.map((t) => t.id));
    expect(await rowIds(page)).not.toContain(s.tokenB);
    // No tenant filter or column: there is only one tenant to see.
    expect(await page.getByLabel('Tenant').count()).toBe(0);
    expect(await page.getByRole('columnheader', { name: 'Tenant' }).count()).toBe(0);
    expect(await seriousAxeViolations(page)).toEqual([]);

    // Their own token: revoke offered; resume is not (only security lifts a security hold); the
    // reauthorisation card says why no link can be made (this provider runs no customer consent).
    await page.getByRole('link', { name: `…${suspendedA.slice(-8)}`, exact: true }).click();
    await page.getByRole('heading', { name: `Token ${suspendedA}` }).waitFor();
    await page.getByRole('button', { name: 'Revoke' }).waitFor();
    expect(await page.getByRole('button', { name: 'Resume' }).count()).toBe(0);
    expect(await page.getByTestId('reauth-unavailable').textContent()).toContain('cannot run a customer consent: it was registered without an issuer and an authorization endpoint');
    expect(await page.getByRole('button', { name: 'Send reauthorisation link' }).count()).toBe(0);

    // Typing the URL of tenant B's token: the API answers 404 and the page says not found, showing nothing of it.
    const api = await server.h.app.inject({ method: 'GET', url: `/v1/tokens/${s.tokenB}`, headers: bearer(key) });
    expect(api.statusCode).toBe(404);
    const answered = page.waitForResponse((res) => res.url().endsWith(`/v1/tokens/${s.tokenB}`));
    await page.goto(`/tokens/${s.tokenB}`);
    expect((await answered).status()).toBe(404);
    await page.getByRole('heading', { name: 'Token not found' }).waitFor();
    expect(await page.locator('main').textContent()).not.toContain('team-integrations');
    expect(await page.getByRole('button', { name: 'Revoke' }).count()).toBe(0);
    expect(await seriousAxeViolations(page)).toEqual([]);

    // Chromium itself logs every 4xx fetch as a console error: that one 404 is the only one allowed.
    expect(problems.consoleErrors.filter((m) => !m.includes('status of 404'))).toEqual([]);
    expect(problems.consoleErrors.length).toBeLessThanOrEqual(1);
    // Typing a URL is a full page load: requests of the page left behind are aborted by Chromium, which is not a failure.
    const failed = problems.failedRequests.filter((r) => !r.endsWith('net::ERR_ABORTED'));
    expect({ ...problems, consoleErrors: [], failedRequests: failed }).toEqual({ consoleErrors: [], pageErrors: [], foreignRequests: [], failedRequests: [] });
    await context.close();
  });
});
