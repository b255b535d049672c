import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openPage, seriousAxeViolations, signIn, startConsoleServer, type ConsoleServer } from '../support/browser.ts';
import { keyFor } from '../support/harness.ts';

describe('console sign-in (Chromium)', () => {
  let server: ConsoleServer;
  let browser: Browser;
  beforeAll(async () => {
    server = await startConsoleServer('sqlite');
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('signs in with an API key, keeps no key in the page, and signs out', async () => {
    const key = await keyFor(server.h, 'admin');
    const { context, page, problems } = await openPage(browser, server.url);
    expect(await seriousAxeViolations((await page.goto('/'), page))).toEqual([]);
    await signIn(page, key);
    const cookies = await context.cookies();
    expect(cookies).toEqual([expect.objectContaining({ name: 'custody_session', httpOnly: true, sameSite: 'Strict' })]);
    const stored = await page.evaluate('JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage } })');
    expect(stored).not.toContain('cus_');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    expect(problems).toEqual({ consoleErrors: [], pageErrors: [], foreignRequests: [], failedRequests: [] });
    await context.close();
  });
});
