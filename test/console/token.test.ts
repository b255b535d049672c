import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openPage, seriousAxeViolations, startConsoleServer, type ConsoleServer } from '../support/browser.ts';
import { bearer, keyFor, seed, type Seeded } from '../support/harness.ts';
import { startTestIssuer, type TestIssuer } from '../support/oidc.ts';
import { Secret } from '../../src/shared/secret.ts';

/** Opens a URL and signs in on the sign-in page it shows: the console then shows that URL (no overview loaded first). */
async function signInAt(page: Page, apiKey: string, to: string): Promise<void> {
  await page.goto(to);
  await page.getByLabel('API key').fill(apiKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

const NO_PROBLEMS = { consoleErrors: [], pageErrors: [], foreignRequests: [], failedRequests: [] };

describe('console token detail (Chromium)', () => {
  let server: ConsoleServer;
  let browser: Browser;
  let s: Seeded;
  let key: string;
  let consentToken: string;
  let issuer: TestIssuer;
  const api = async <T,>(url: string): Promise<T> => {
    const r = await server.h.app.inject({ method: 'GET', url, headers: bearer(key) });
    expect(r.statusCode).toBe(200);
    return r.json() as T;
  };

  beforeAll(async () => {
    server = await startConsoleServer('sqlite');
    browser = await launchBrowser();
    const { h } = server;
    s = await seed(h);
    // A provider that runs customer consent, so its tokens can be reauthorised.
    issuer = await startTestIssuer({ redirectUris: ['http://127.0.0.1/oauth/callback'] });
    const consent = await h.custody.providers.create(h.admin, {
      name: 'crm-consent',
      issuer: issuer.issuer,
      development: true,
      clientId: issuer.clientId,
      clientSecret: issuer.clientSecret,
      apiBaseUrls: ['https://api.example.com/v1'],
    });
    consentToken = (
      await h.custody.tokens.register(h.admin, {
        tenantId: s.tenantA,
        providerId: consent.id,
        owner: 'team-crm',
        approver: { subject: 'bob', email: 'bob@customer.example' },
        purpose: 'sync contacts',
        scopes: ['contacts.read'],
        accessToken: new Secret('CANARY-SECRET-reauth-token'),
      })
    ).id;
    key = await keyFor(h, 'security');
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await issuer?.close();
  });

  it('shows the identity card, revokes with typed confirmation and a reason, and shows the new state, kill time and ledger entry', async () => {
    const { context, page, problems } = await openPage(browser, server.url);
    await signInAt(page, key, `/tokens/${s.tokenA}`);
    await page.getByRole('heading', { name: `Token ${s.tokenA}` }).waitFor();
    // The identity card, as the API has it.
    const before = await api<{ owner: string; purpose: string; state: string; approver: { email: string } }>(`/v1/tokens/${s.tokenA}`);
    const who = page.locator('section[aria-labelledby="tk-who"]');
    await expect.poll(() => who.textContent()).toContain(before.approver.email);
    expect(await who.textContent()).toContain(before.owner);
    expect(await who.textContent()).toContain(before.purpose);
    expect(await page.getByRole('table', { name: 'Scopes', exact: true }).textContent()).toContain('invoices.read');
    await page.getByRole('heading', { name: 'Ledger' }).waitFor();
    expect(await seriousAxeViolations(page)).toEqual([]);

    // Revoke: the button stays disabled until the word is typed and a reason given.
    await page.getByRole('button', { name: 'Revoke' }).click();
    const dialog = page.getByRole('dialog', { name: 'Revoke this token' });
    await dialog.waitFor();
    expect(await seriousAxeViolations(page)).toEqual([]);
    const confirm = dialog.getByRole('button', { name: 'Revoke' });
    expect(await confirm.isDisabled()).toBe(true);
    await dialog.getByLabel('Reason (recorded in the ledger)').fill('offboarded in the console test');
    expect(await confirm.isDisabled()).toBe(true);
    await dialog.getByLabel('Type revoke to confirm').fill('revoke');
    await confirm.click();
    await dialog.waitFor({ state: 'hidden' });

    // The API: revoked, with a kill time and a token.revoked ledger entry carrying the reason.
    const after = await api<{ state: string; revocation: { requestedAt: string; locallyEffectiveAt: string; upstream: string } }>(`/v1/tokens/${s.tokenA}`);
    expect(after.state).toBe('revoked');
    expect(after.revocation.locallyEffectiveAt).toBeTruthy();
    const ledger = await api<{ items: { seq: number; action: string; data: { reason?: string } }[] }>(`/v1/ledger?tokenId=${s.tokenA}&order=desc&limit=5`);
    const entry = ledger.items.find((e) => e.action === 'token.revoked')!;
    expect(entry.data.reason).toBe('offboarded in the console test');

    // The page shows it at once, without a reload.
    await page.getByRole('status').filter({ hasText: 'Token revoked' }).waitFor();
    expect(await page.locator('.page-header .badge').first().textContent()).toBe('revoked');
    const kill = page.getByTestId('kill-time');
    await kill.waitFor();
    expect(await kill.textContent()).toContain('Refused by the gateway');
    expect(await kill.textContent()).toContain(after.revocation.upstream);
    expect(await kill.textContent()).not.toContain('pending after');
    const first = page.getByTestId('ledger-entry').first();
    await expect.poll(() => first.textContent()).toContain('token.revoked');
    expect(await first.textContent()).toContain(`#${entry.seq}`);
    expect(await first.textContent()).toContain('offboarded in the console test');
    // A revoked token offers no lifecycle action.
    expect(await page.getByRole('button', { name: 'Revoke' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Suspend' }).count()).toBe(0);
    expect(await seriousAxeViolations(page)).toEqual([]);
    expect(problems).toEqual(NO_PROBLEMS);
    await context.close();
  });

  it('sends a reauthorisation link and shows it (never the token), in dark mode', async () => {
    const { context, page, problems } = await openPage(browser, server.url, { colorScheme: 'dark' });
    await signInAt(page, key, `/tokens/${consentToken}`);
    await page.getByRole('heading', { name: `Token ${consentToken}` }).waitFor();
    await page.getByRole('button', { name: 'Send reauthorisation link' }).click();
    const shown = page.getByTestId('reauth-link');
    await shown.waitFor({ timeout: 5000 }).catch(async (e: unknown) => {
      throw new Error(`no link: ${await page.locator('main').textContent()} ${String(e)}`);
    });
    const url = await shown.getByLabel(/Link for the customer/).inputValue();
    // The link the API made (listed without its code) is the one shown.
    const links = await api<{ items: { id: string; tokenId: string | null; status: string }[] }>(`/v1/connect-links?tenantId=${s.tenantA}`);
    const link = links.items.find((l) => l.tokenId === consentToken)!;
    expect(link.status).toBe('pending');
    expect(url).toMatch(/^https?:\/\/.+\/connect\/.+/);
    expect(await shown.textContent()).toContain('contacts.read');
    const html = await page.content();
    expect(html).not.toContain('CANARY-SECRET');
    expect(html).not.toContain(issuer.clientSecret);
    expect(await seriousAxeViolations(page)).toEqual([]);
    expect(problems).toEqual(NO_PROBLEMS);
    await context.close();
  });

  it('suspends and resumes, each visible at once', async () => {
    const { context, page, problems } = await openPage(browser, server.url);
    await signInAt(page, key, `/tokens/${s.tokenB}`);
    await page.getByRole('heading', { name: `Token ${s.tokenB}` }).waitFor();
    await page.getByRole('button', { name: 'Suspend' }).click();
    const dialog = page.getByRole('dialog', { name: 'Suspend this token' });
    await dialog.getByLabel('Reason (recorded in the ledger)').fill('investigating');
    await dialog.getByLabel('Type suspend to confirm').fill('suspend');
    await dialog.getByRole('button', { name: 'Suspend' }).click();
    await page.getByRole('button', { name: 'Resume' }).waitFor();
    expect((await api<{ state: string }>(`/v1/tokens/${s.tokenB}`)).state).toBe('suspended');
    await expect.poll(() => page.getByTestId('ledger-entry').first().textContent()).toContain('token.suspended');
    await page.getByRole('button', { name: 'Resume' }).click();
    const resume = page.getByRole('dialog', { name: 'Resume this token' });
    await resume.getByLabel('Reason (recorded in the ledger)').fill('cleared');
    // Easily undone: a reason, no typed word.
    expect(await resume.getByLabel('Type resume to confirm').count()).toBe(0);
    await resume.getByRole('button', { name: 'Resume' }).click();
    await page.getByRole('button', { name: 'Suspend' }).waitFor();
    expect((await api<{ state: string }>(`/v1/tokens/${s.tokenB}`)).state).toBe('active');
    await expect.poll(() => page.getByTestId('ledger-entry').first().textContent()).toContain('token.resumed');
    expect(problems).toEqual(NO_PROBLEMS);
    await context.close();
  });
});
