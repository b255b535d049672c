import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openPage, seriousAxeViolations, signIn, startConsoleServer, type ConsoleServer } from '../support/browser.ts';
import { bearer, keyFor, seed, type Seeded } from '../support/harness.ts';
import { Secret } from '../../src/shared/secret.ts';
import { OWASP_NHI_2025 } from '../../src/governance/finding.mappings.ts';

const NO_PROBLEMS = { consoleErrors: [], pageErrors: [], foreignRequests: [], failedRequests: [] };

interface Summary {
  findings: number;
  byOwaspNhi: Record<string, number>;
  managed: { live: number; managed: number; unmanaged: number; share: number | null };
}

/** The value of each row of a bar chart (label → number), as the page shows it. */
async function bars(page: Page, name: string): Promise<Record<string, number>> {
  const rows = await page.getByRole('table', { name, exact: true }).getByRole('row').all();
  const out: Record<string, number> = {};
  for (const r of rows) {
    const label = (await r.locator('th').textContent()) ?? '';
    out[label] = Number(((await r.locator('td.num').textContent()) ?? '').replace(/,/g, ''));
  }
  return out;
}

const pct = (x: number | null) => (x === null ? '—' : `${(x * 100).toFixed(1)} %`);

describe('console overview (Chromium)', () => {
  let server: ConsoleServer;
  let browser: Browser;
  let s: Seeded;
  const get = async <T,>(key: string, url: string): Promise<T> => {
    const r = await server.h.app.inject({ method: 'GET', url, headers: bearer(key) });
    expect(r.statusCode).toBe(200);
    return r.json() as T;
  };

  beforeAll(async () => {
    server = await startConsoleServer('sqlite');
    browser = await launchBrowser();
    const { h } = server;
    s = await seed(h);
    for (let i = 0; i < 4; i++) {
      await h.custody.tokens.register(h.admin, {
        tenantId: i < 3 ? s.tenantA : s.tenantB,
        providerId: s.providerId,
        owner: 'team-data',
        ...(i % 2 ? { approver: { subject: `a${i}` }, purpose: 'reporting' } : {}),
        scopes: ['files.read'],
        accessToken: new Secret(`at-overview-${i}`),
      });
    }
    await h.custody.tokens.transition(h.admin, s.tokenB, 'revoke', 'offboarded');
    await h.custody.findings.sweep();
    await h.custody.storage.db
      .transaction()
      .execute((trx) => h.custody.alerts.raise(trx, { kind: 'use_after_revoke', severity: 'high', tenantId: s.tenantB, subjectId: s.tokenB, message: 'A revoked token was used.' }, new Date()));
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("shows the platform's managed share, live tokens, findings by OWASP NHI item, open alerts and kill times as the API counts them", async () => {
    const key = await keyFor(server.h, 'security');
    const { context, page, problems } = await openPage(browser, server.url);
    await signIn(page, key);
    const summary = await get<Summary>(key, '/v1/findings/summary');
    expect(summary.managed.live).toBe(5);
    expect(summary.findings).toBeGreaterThan(0);

    await page.getByTestId('managed-share').waitFor();
    expect(await page.getByTestId('managed-share').textContent()).toBe(pct(summary.managed.share));
    expect(await page.getByTestId('live-count').textContent()).toBe(String(summary.managed.live));
    expect(await page.getByTestId('managed-count').textContent()).toBe(String(summary.managed.managed));
    expect(await bars(page, 'Live tokens, managed and unmanaged')).toEqual({ 'Live, managed': summary.managed.managed, 'Live, unmanaged': summary.managed.unmanaged });
    const nhi = Object.fromEntries(
      Object.entries(summary.byOwaspNhi)
        .filter(([, v]) => v > 0)
        .map(([id, v]) => [`${id} ${OWASP_NHI_2025[id]}`, v]),
    );
    expect(await bars(page, 'Live findings by OWASP NHI item')).toEqual(nhi);
    const alerts = await get<{ items: unknown[] }>(key, '/v1/alerts?status=open&limit=100');
    expect(alerts.items.length).toBe(1);
    await expect.poll(() => page.getByTestId('open-alerts').textContent()).toBe('1');
    // The trend has the snapshot the sweep took.
    const trends = await get<{ points: { managedShare: number | null }[] }>(key, '/v1/reports/trends');
    expect(trends.points.length).toBeGreaterThan(0);
    expect(await page.locator('.sparkline svg').getAttribute('aria-label')).toContain(pct(trends.points.at(-1)!.managedShare));
    expect(await seriousAxeViolations(page)).toEqual([]);

    // Tokens by state and by provider, as the counts route gives them.
    const counts = await get<{ items: { providerId: string; state: string; count: number }[] }>(key, '/v1/tokens/counts');
    const byState = (st: string) => counts.items.filter((r) => r.state === st).reduce((t, r) => t + r.count, 0);
    expect(byState('revoked')).toBe(1);
    await page.getByRole('table', { name: 'Tokens by state' }).waitFor();
    expect(await bars(page, 'Tokens by state')).toEqual({ active: byState('active'), suspended: byState('suspended'), expired: byState('expired'), revoked: byState('revoked') });
    const providerRow = page.getByRole('table', { name: 'Tokens by provider and state' }).getByRole('row').nth(1);
    expect(await providerRow.getByRole('cell').nth(0).textContent()).toBe(String(byState('active')));
    expect(await providerRow.getByRole('cell').nth(3).textContent()).toBe(String(byState('revoked')));

    // Kill times of the last 30 days, as the kill-times route gives them: summary and distribution.
    await page.getByRole('table', { name: 'Kill time distribution' }).waitFor();
    const kill = await get<{ revocations: number; locallyEffective: { count: number; buckets: { underMs: number | null; count: number }[] }; upstreamOutcomes: Record<string, number> }>(key, '/v1/reports/kill-times');
    expect(kill.revocations).toBe(1);
    const row = page.getByRole('table', { name: 'Kill time distribution' }).getByRole('row', { name: /refused locally/ });
    expect(await row.locator('td').first().textContent()).toBe(String(kill.locallyEffective.count));
    const local = await bars(page, 'Time until the gateway refused the token');
    expect(Object.values(local)).toEqual(kill.locallyEffective.buckets.map((b) => b.count));
    expect(local['<\u00a010\u00a0ms']).toBe(kill.locallyEffective.buckets[0]!.count);
    const outcomes = await bars(page, 'Upstream revocation outcomes');
    expect(outcomes.pending).toBe(kill.upstreamOutcomes.pending);
    expect(await seriousAxeViolations(page)).toEqual([]);
    expect(problems).toEqual(NO_PROBLEMS);
    await context.close();
  });

  it("shows a tenant administrator their tenant's figures, in dark mode", async () => {
    const key = await keyFor(server.h, 'tenant_admin', s.tenantA);
    const { context, page, problems } = await openPage(browser, server.url, { colorScheme: 'dark' });
    await signIn(page, key);
    const summary = await get<Summary>(key, '/v1/findings/summary');
    expect(summary.managed.live).toBe(4);
    await page.getByTestId('managed-share').waitFor();
    expect(await page.getByTestId('managed-share').textContent()).toBe(pct(summary.managed.share));
    expect(await page.getByTestId('live-count').textContent()).toBe('4');
    expect(await bars(page, 'Live tokens, managed and unmanaged')).toEqual({ 'Live, managed': summary.managed.managed, 'Live, unmanaged': summary.managed.unmanaged });
    // Tenant B's alert is not theirs.
    await expect.poll(() => page.getByTestId('open-alerts').textContent()).toBe('0');
    // Their records only: tenant B's revoked token is not counted.
    await page.getByRole('table', { name: 'Tokens by state' }).waitFor();
    expect(await bars(page, 'Tokens by state')).toEqual({ active: 4, suspended: 0, expired: 0, revoked: 0 });
    await page.getByText('No token was revoked in the period.').waitFor();
    expect(await seriousAxeViolations(page)).toEqual([]);
    expect(problems).toEqual(NO_PROBLEMS);
    await context.close();
  });
});
