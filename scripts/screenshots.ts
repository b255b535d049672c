/**
 * Screenshots of the console for docs/screenshots/ (README): `npx tsx scripts/screenshots.ts`.
 *
 * Seeds a small, realistic data set into a temporary SQLite Custody (three customers, three
 * issuers, two dozen tokens in every state, gateway usage, a sweep's findings, two alerts), serves
 * the console already built in dist/web (or CUSTODY_CONSOLE_DIR: it builds nothing), and captures
 * at 1280×800 with Debian's Chromium: the overview (light and dark), the inventory and a token's
 * detail. Not part of `npm test`. The credentials it registers are made-up strings.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startRuntime } from '../src/app/runtime.ts';
import { systemPrincipal } from '../src/auth/roles.ts';
import { loadConfig } from '../src/config/config.ts';
import { consoleDir } from '../src/http/console.ts';
import { createLogger } from '../src/shared/logger.ts';
import { usageEvent } from '../test/support/usage.ts';
import { createUsageStores, packEvents, writeUsageBatch } from '../src/gateway/usage-writer.ts';
import { Secret } from '../src/shared/secret.ts';
import type { UsageEvent } from '../src/gateway/gateway.types.ts';

const OUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'screenshots');
const DAY = 86_400_000;
const CHROMIUM = process.env.CUSTODY_CHROMIUM ?? '/usr/bin/chromium';

/** A Custody on a fresh SQLite file in a temporary directory, listening on 127.0.0.1 (the test harness needs vitest). */
async function startServer() {
  const dir = process.env.CUSTODY_CONSOLE_DIR ?? consoleDir();
  if (!existsSync(path.join(dir, 'index.html'))) throw new Error(`The console is not built at ${dir}: run \`npm run build\` first.`);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'custody-screenshots-'));
  const config = loadConfig({
    CUSTODY_ENV: 'test',
    CUSTODY_DATABASE_URL: path.join(tmp, 'custody.db'),
    CUSTODY_KEYRING: `1:${randomBytes(32).toString('base64')}`,
    CUSTODY_LOG_LEVEL: 'warn',
    CUSTODY_CONSOLE_DIR: dir,
  });
  const logger = createLogger('warn', new Writable({ write: (_c, _e, cb) => cb() }));
  const runtime = await startRuntime(config, { logger, listen: false, background: false, enforceAfterChanges: false });
  await runtime.app.listen({ host: '127.0.0.1', port: 0 });
  const address = runtime.app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    custody: runtime.custody,
    url,
    async close() {
      await runtime.stop();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'] });
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const server = await startServer();
  const browser = await launchBrowser();
  try {
    const h = { custody: server.custody };
    const admin = systemPrincipal('screenshots');
    const now = Date.now();
    const iso = (msAgo: number) => new Date(now - msAgo).toISOString();

    const tenants: Awaited<ReturnType<typeof h.custody.tenants.create>>[] = [];
    for (const name of ['Acme Manufacturing', 'Globex Retail', 'Initech Health']) tenants.push(await h.custody.tenants.create(admin, { name }));
    const provider = (name: string, host: string, revocation: boolean) =>
      h.custody.providers.create(admin, {
        name,
        tokenEndpoint: `https://${host}/oauth/token`,
        ...(revocation ? { revocationEndpoint: `https://${host}/oauth/revoke` } : {}),
        clientId: 'custody-platform',
        clientSecret: 'made-up-client-secret',
        apiBaseUrls: [`https://api.${host}/v2`],
      });
    const crm = await provider('Atlas CRM', 'atlas-crm.example', true);
    const books = await provider('Ledgerly Accounting', 'ledgerly.example', true);
    const files = await provider('Nimbus Files', 'nimbus-files.example', false);
    for (const [name, kind] of [
      ['team-integrations', 'team'],
      ['team-billing', 'team'],
      ['maria.keller', 'person'],
    ] as const)
      await h.custody.directory.createOwner(admin, { name, kind, contact: `${name}@platform.example` });

    const plan: { tenant: number; provider: typeof crm; owner: string; approver?: string; purpose?: string; scopes: string[]; workloads: string[] }[] = [];
    const owners = ['team-integrations', 'team-billing', 'maria.keller', 'team-growth'];
    const purposes = ['Sync customer contacts nightly', 'Post invoices to the ledger', 'Archive signed contracts', 'Weekly revenue report', undefined];
    for (let i = 0; i < 24; i++) {
      const p = [crm, books, files][i % 3]!;
      const scopes = p === crm ? ['contacts.read', 'deals.read', ...(i % 4 === 0 ? ['contacts.write'] : [])] : p === books ? ['invoices.read', 'invoices.write'] : ['files.read', ...(i % 5 === 0 ? ['files.admin'] : [])];
      plan.push({
        tenant: i % 3,
        provider: p,
        owner: owners[i % 4]!,
        ...(i % 7 === 3 ? {} : { approver: ['it-admin@acme.example', 'ops@globex.example', 'cio@initech.example'][i % 3]! }),
        ...(purposes[i % 5] ? { purpose: purposes[i % 5]! } : {}),
        scopes,
        workloads: p === crm ? ['crm-sync'] : p === books ? ['billing-sync'] : ['archiver'],
      });
    }
    const ids: string[] = [];
    for (const [i, t] of plan.entries()) {
      const token = await h.custody.tokens.register(admin, {
        tenantId: tenants[t.tenant]!.id,
        providerId: t.provider.id,
        owner: t.owner,
        ...(t.approver ? { approver: { subject: t.approver.split('@')[0]!, email: t.approver, approvedAt: iso((40 + i) * DAY) } } : {}),
        ...(t.purpose ? { purpose: t.purpose } : {}),
        reviewDueAt: new Date(now + (i % 5 === 0 ? -5 : 60) * DAY).toISOString(),
        workloads: t.workloads,
        scopes: t.scopes,
        accessToken: new Secret(`made-up-access-token-${i}`),
        ...(i % 2 ? { refreshToken: new Secret(`made-up-refresh-token-${i}`), accessExpiresAt: new Date(now + 3600_000).toISOString() } : {}),
        issuedAt: iso((60 + i * 3) * DAY),
      });
      ids.push(token.id);
    }

    // Gateway usage over the last weeks for most tokens (the first one busiest: it is the detail shown).
    const events: UsageEvent[] = [];
    let n = 0;
    for (const [i, id] of ids.entries()) {
      if (i % 6 === 5) continue;
      const t = plan[i]!;
      const perDay = i === 0 ? 14 : 3;
      for (let d = 27; d >= 0; d--) {
        const calls = Math.max(0, Math.round(perDay + Math.sin(d / 2 + i) * perDay * 0.6));
        for (let c = 0; c < calls; c++)
          events.push(
            usageEvent(id, n++, {
              atMs: now - d * DAY - c * 60_000,
              tenantId: tenants[t.tenant]!.id,
              workload: t.workloads[0]!,
              scope: t.scopes[c % Math.max(1, t.scopes.length - 1)]!,
              host: new URL(`https://api.${t.provider.name.toLowerCase().replace(/ /g, '-')}.example`).host,
              ...(c === 5 && d % 4 === 0 ? { outcome: 'denied', errorCode: 'scope_not_granted', status: 403 } : {}),
            }),
          );
      }
    }
    await writeUsageBatch(h.custody.storage.db, createUsageStores(), packEvents(events));

    await h.custody.tokens.transition(admin, ids[4]!, 'suspend', 'Unusual call volume from an unknown address');
    await h.custody.tokens.transition(admin, ids[10]!, 'suspend', 'Owner on leave, pending review');
    for (const i of [7, 13, 20]) await h.custody.tokens.transition(admin, ids[i]!, 'revoke', 'Integration retired by the customer');
    // Two issuers whose revocation was confirmed by introspection before (so their tokens can pass the practical test).
    await h.custody.storage.db.updateTable('providers').set({ revocation_verified_at: iso(20 * DAY) }).where('id', 'in', [crm.id, books.id]).execute();
    await h.custody.findings.sweep();
    // Four weeks of platform snapshots before today's (the sweep took today's): the share rising as owners fixed findings.
    const today = await h.custody.storage.db.selectFrom('trend_snapshots').selectAll().where('scope', '=', '*').executeTakeFirstOrThrow();
    for (let d = 28; d >= 1; d--) {
      const managed = Math.max(0, Math.round(today.managed * (0.45 + 0.55 * ((28 - d) / 28)) + (d % 3) - 1));
      await h.custody.storage.db
        .insertInto('trend_snapshots')
        .values({ ...today, day: new Date(now - d * DAY).toISOString().slice(0, 10), managed: Math.min(today.tokens, managed), taken_at: iso(d * DAY) })
        .execute();
    }
    await h.custody.storage.db.transaction().execute(async (trx) => {
      await h.custody.alerts.raise(trx, { kind: 'use_after_revoke', severity: 'high', tenantId: tenants[1]!.id, subjectId: ids[7]!, message: 'A revoked token was presented to the gateway.' }, new Date());
      await h.custody.alerts.raise(trx, { kind: 'upstream_revocation_failed', severity: 'medium', tenantId: tenants[2]!.id, subjectId: ids[20]!, message: 'The issuer did not confirm the revocation.' }, new Date());
    });

    const { key } = await h.custody.apiKeys.create(admin, { role: 'security', name: 'screenshots' });
    const shoot = async (colorScheme: 'light' | 'dark', to: string, file: string, ready: (page: Page) => Promise<void>) => {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme, baseURL: server.url });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
      page.on('pageerror', (e) => problems.push(e.message));
      page.on('requestfailed', (r) => problems.push(`${r.url()}: ${r.failure()?.errorText}`));
      await page.goto('/');
      await page.getByLabel('API key').fill(key);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('button', { name: 'Sign out' }).waitFor();
      await page.waitForLoadState('networkidle');
      await page.goto(to);
      await ready(page);
      await page.waitForLoadState('networkidle');
      await page.screenshot({ path: path.join(OUT, file) });
      problems.splice(0, problems.length, ...problems.filter((p) => !p.endsWith('net::ERR_ABORTED')));
      if (problems.length) console.warn(`${file}: ${problems.join('; ')}`);
      process.stdout.write(`wrote docs/screenshots/${file}\n`);
      await context.close();
    };
    await shoot('light', '/', 'overview.png', async (p) => {
      await p.getByTestId('managed-share').waitFor();
      await p.getByRole('table', { name: 'Kill time distribution' }).waitFor();
      await p.getByRole('table', { name: 'Tokens by provider and state' }).waitFor();
    });
    await shoot('dark', '/', 'overview-dark.png', async (p) => {
      await p.getByTestId('managed-share').waitFor();
      await p.getByRole('table', { name: 'Kill time distribution' }).waitFor();
    });
    await shoot('light', '/inventory?sort=risk', 'inventory.png', (p) => p.getByRole('table', { name: 'Tokens' }).waitFor());
    await shoot('light', `/tokens/${ids[0]}`, 'token.png', (p) => p.getByRole('heading', { name: 'Who and why' }).waitFor());
  } finally {
    await browser.close();
    await server.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
