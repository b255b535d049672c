import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openPage, signIn, startConsoleServer, type ConsoleServer, type PageProblems } from '../support/browser.ts';
import { bearer, keyFor, seed, type Seeded } from '../support/harness.ts';

/** The governance pages against a real Custody: what the console does, the API then shows. */
describe('console governance pages (Chromium)', () => {
  let server: ConsoleServer;
  let browser: Browser;
  let s: Seeded;
  let adminKey: string;
  let page: Page;
  let problems: PageProblems;

  const api = async <T = unknown>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${server.url}${path}`, { method, headers: { ...bearer(adminKey), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const json = (await res.json()) as T;
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };

  beforeAll(async () => {
    server = await startConsoleServer('sqlite');
    browser = await launchBrowser();
    s = await seed(server.h);
    adminKey = await keyFor(server.h, 'admin');
    ({ page, problems } = await openPage(browser, server.url));
    page.setDefaultTimeout(10_000);
    await signIn(page, adminKey);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('acknowledges an alert, and the API shows it acknowledged with the reason', async () => {
    const { h } = server;
    const { id } = await h.custody.storage.db.transaction().execute((trx) =>
      h.custody.alerts.raise(trx, { kind: 'use_after_revoke', severity: 'high', tenantId: s.tenantA, subjectId: s.tokenA, message: 'A revoked token was presented' }, new Date()),
    );
    await page.goto('/alerts');
    const row = page.locator(`tr[data-alert="${id}"]`);
    await expect.poll(() => row.getByText('open', { exact: true }).count()).toBe(1);
    await row.getByRole('button', { name: `Acknowledge alert ${id}` }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Reason (recorded in the ledger)').fill('looking into it');
    await dialog.getByRole('button', { name: 'Acknowledge' }).click();
    await row.getByText('acknowledged', { exact: true }).waitFor();
    const alert = await api<{ status: string; acknowledgement: { reason: string; by: string } | null }>('GET', `/v1/alerts/${id}`);
    expect(alert.status).toBe('acknowledged');
    expect(alert.acknowledgement?.reason).toBe('looking into it');
    // The page offers resolve next, not acknowledge again.
    await expect.poll(() => row.getByRole('button', { name: `Acknowledge alert ${id}` }).count()).toBe(0);
    expect(await row.getByRole('button', { name: `Resolve alert ${id}` }).count()).toBe(1);
  });

  it('decides a review item in place (keep with a justification), and the API shows it decided', async () => {
    const campaign = await server.h.custody.reviews.create(server.h.admin, { name: 'Q4 review of acme', tenantId: s.tenantA, dueAt: new Date(Date.now() + 14 * 86_400_000).toISOString() });
    await page.goto(`/reviews?campaign=${campaign.id}`);
    // The campaign's progress: 0 of 1 decided.
    await page.getByRole('row', { name: /Q4 review of acme/ }).getByText('0 / 1').waitFor();
    await page.getByRole('button', { name: `Decide token ${s.tokenA}` }).click();
    const form = page.getByRole('form', { name: `Decide token ${s.tokenA}` });
    const save = form.getByRole('button', { name: 'Save decision: keep' });
    await form.getByLabel(/Justification/).fill('too short');
    expect(await save.isDisabled()).toBe(true); // under the 10 characters the API requires
    await form.getByLabel(/Justification/).fill('still syncs invoices for acme nightly');
    await save.click();
    const item = (await api<{ items: { id: string; status: string; justification: string | null; tokenId: string }[] }>('GET', `/v1/reviews/${campaign.id}/items`)).items;
    await expect.poll(async () => (await api<{ items: { status: string }[] }>('GET', `/v1/reviews/${campaign.id}/items`)).items[0]?.status).toBe('kept');
    const decided = (await api<{ items: { status: string; justification: string | null; tokenId: string }[] }>('GET', `/v1/reviews/${campaign.id}/items`)).items[0]!;
    expect(decided).toMatchObject({ tokenId: s.tokenA, status: 'kept', justification: 'still syncs invoices for acme nightly' });
    expect(item).toHaveLength(1);
    // The page shows it decided, and the campaign's progress moved.
    await page.locator('tr[data-item]').getByText('kept', { exact: true }).waitFor();
    await page.getByRole('row', { name: /Q4 review of acme/ }).getByText('1 / 1').waitFor();
    expect(await page.getByRole('button', { name: `Decide token ${s.tokenA}` }).count()).toBe(0);
  });

  it('shows which third parties are connected to which tenants, on request, as the compliance report counts them', async () => {
    await page.goto('/providers');
    await page.getByRole('button', { name: /Show the connected tenants/ }).click();
    const report = await api<{ report: { connections: { items: { tenantId: string; providerId: string; liveTokens: number }[] } } }>('GET', `/v1/reports/compliance`);
    const pair = report.report.connections.items.find((c) => c.tenantId === s.tenantA && c.providerId === s.providerId)!;
    expect(pair.liveTokens).toBeGreaterThan(0);
    const row = page.getByRole('row', { name: new RegExp(s.tenantA) }).filter({ hasText: s.providerId });
    await row.first().waitFor();
    expect(await row.first().getByRole('cell').nth(2).innerText()).toBe(pair.liveTokens.toLocaleString('en'));
  });

  it('runs ledger verify and shows the result the API gives', async () => {
    await page.goto('/ledger');
    await page.getByRole('button', { name: 'Verify now' }).click();
    const result = page.getByTestId('verify-result');
    await result.waitFor({ timeout: 20_000 });
    const shown = await result.innerText();
    const verify = await api<{ ok: boolean; entries: number; lastSeq: number }>('GET', '/v1/ledger/verify');
    expect(verify.ok).toBe(true);
    expect(shown).toContain('Ledger intact');
    // Entries written since the page verified only add to the count: the page's count is at most the API's.
    const pageEntries = Number(/([\d,]+) entries up to seq/.exec(shown)![1]!.replaceAll(',', ''));
    expect(pageEntries).toBeGreaterThan(0);
    expect(pageEntries).toBeLessThanOrEqual(verify.entries);
    // The entries list shows the newest entry the API has.
    const newest = (await api<{ items: { seq: number; action: string }[] }>('GET', '/v1/ledger?limit=1')).items[0]!;
    await page.goto(`/ledger?action=${encodeURIComponent(newest.action)}`);
    await page.getByRole('cell', { name: newest.seq.toLocaleString('en'), exact: true }).first().waitFor();
  });

  it('shows the progress the server reports while a verification runs', async () => {
    // The server's side of the progress route is tested in src/ledger/ledger.test.ts; a ledger this
    // small verifies in milliseconds, so here the answer is held back and the progress the route
    // would give mid-walk is served, to see the page draw it.
    await page.route('**/v1/ledger/verify', async (route) => {
      const res = await route.fetch();
      await new Promise((r) => setTimeout(r, 1_500));
      await route.fulfill({ response: res });
    });
    try {
      await page.goto('/ledger');
      await page.getByRole('button', { name: 'Verify now' }).click();
      await page.route('**/v1/ledger/verify/progress', (route) =>
        route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ running: true, startedAt: new Date().toISOString(), checked: 1234, total: 5000, last: null }) }),
      );
      await page.getByTestId('verify-progress').getByText('1,234 of 5,000 entries (24 %)').waitFor();
      expect(await page.getByRole('progressbar', { name: 'Verifying the ledger' }).getAttribute('value')).toBe('1234');
      // The progress route still says "running" (served above): the result came, so the page shows it.
      await page.unroute('**/v1/ledger/verify/progress');
      await page.getByTestId('verify-result').waitFor({ timeout: 20_000 });
      expect(await page.getByTestId('verify-progress').count()).toBe(0);
    } finally {
      await page.unrouteAll();
    }
    // Opened again later: how the last verification on this server ended, without running it again.
    await page.goto('/overview-does-not-matter');
    await page.goto('/ledger');
    const last = page.getByTestId('verify-last');
    await last.waitFor();
    expect(await last.textContent()).toContain('Ledger intact at the last verification');
    expect(await page.getByRole('button', { name: 'Verify now' }).isEnabled()).toBe(true);
  });

  it('edits the global policy: each validation problem the API names is shown, and a valid change is saved', async () => {
    await page.goto('/policies');
    await page.getByRole('button', { name: 'Edit global policy' }).click();
    const editor = page.getByLabel(/Global policy \(values set globally/);
    await editor.fill(JSON.stringify({ dormantAfterDays: 0, graceDays: 9999 }));
    await page.getByRole('button', { name: 'Save global policy' }).click();
    const banner = page.locator('main .banner.error');
    await banner.waitFor();
    const shown = await banner.innerText();
    // The same body sent to the API directly: every detail it gives is on the page.
    const res = await fetch(`${server.url}/v1/policy`, { method: 'PUT', headers: { ...bearer(adminKey), 'content-type': 'application/json' }, body: JSON.stringify({ dormantAfterDays: 0, graceDays: 9999 }) });
    const error = ((await res.json()) as { error: { code: string; details?: { path: string; message: string }[] } }).error;
    expect(res.status).toBe(400);
    expect(shown).toContain(error.code);
    // The browser logs the refused PUT (the one 400 this test causes); nothing else.
    expect(problems.consoleErrors).toEqual([expect.stringContaining('status of 400')]);
    problems.consoleErrors.length = 0;
    expect(error.details?.length).toBeGreaterThanOrEqual(2);
    for (const d of error.details!) expect(shown).toContain(d.path);
    await editor.fill(JSON.stringify({ dormantAfterDays: 45 }));
    await page.getByRole('button', { name: 'Save global policy' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved: version 1' }).waitFor();
    const policy = await api<{ values: { dormantAfterDays: number }; sources: Record<string, string> }>('GET', '/v1/policy');
    expect(policy.values.dormantAfterDays).toBe(45);
    expect(policy.sources.dormantAfterDays).toBe('global');
    await page.getByRole('row', { name: /dormantAfterDays/ }).getByText('global', { exact: true }).waitFor();
    // What the version is of, and who changed it (an API key by its name, for a role that lists keys).
    const meta = page.locator('section[aria-labelledby="global-policy-h"] p.small.muted').first();
    await expect.poll(() => meta.innerText()).toMatch(/^Global policy version 1 · last changed .+ by .+ \(admin key\)$/);
  });

  it('shows a new API key once, then lists it without its secret', async () => {
    await page.goto('/api-keys');
    await page.getByRole('button', { name: 'Create API key' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name').fill('ci-reader');
    await dialog.getByLabel('Role').selectOption('auditor');
    await dialog.getByRole('button', { name: 'Create key' }).click();
    const secret = page.getByTestId('once-secret');
    await secret.waitFor();
    const key = (await secret.innerText()).trim();
    expect(key).toMatch(/^cus_/);
    // It is a real key of the role asked for.
    const session = await fetch(`${server.url}/v1/ledger?limit=1`, { headers: bearer(key) });
    expect(session.status).toBe(200);
    const listed = (await api<{ items: { id: string; name: string; role: string }[] }>('GET', '/v1/api-keys')).items.find((k) => k.name === 'ci-reader');
    expect(listed?.role).toBe('auditor');
    await page.getByRole('button', { name: 'I have stored it' }).click();
    await page.locator(`tr[data-key="${listed!.id}"]`).waitFor();
    expect(await page.content()).not.toContain(key);
    await page.reload();
    await page.locator(`tr[data-key="${listed!.id}"]`).getByText('auditor').waitFor();
    expect(await page.content()).not.toContain(key);
    // page.goto from page to page aborts calls still in flight (net::ERR_ABORTED): not a failure of a page.
    expect({ ...problems, failedRequests: problems.failedRequests.filter((r) => !r.endsWith('net::ERR_ABORTED')) }).toEqual({ consoleErrors: [], pageErrors: [], foreignRequests: [], failedRequests: [] });
  });
});
