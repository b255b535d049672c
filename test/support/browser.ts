import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { consoleDir } from '../../src/http/console.ts';
import { startHarness, type Harness, type HarnessOptions } from './harness.ts';
import type { DatabaseKind } from './databases.ts';

/**
 * The console's end-to-end tests drive Debian's Chromium (apt `chromium`, STACK.md) with
 * playwright-core against a real Custody listening on 127.0.0.1. Nothing is downloaded.
 */
export const CHROMIUM = process.env.CUSTODY_CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (.ci/run does), or set CUSTODY_CHROMIUM.`);
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
}

export interface ConsoleServer {
  h: Harness;
  /** http://127.0.0.1:<port> */
  url: string;
  close(): Promise<void>;
}

/** A Custody (harness: migrated database, no background work) listening on 127.0.0.1, serving the built console. */
export async function startConsoleServer(kind: DatabaseKind = 'sqlite', options: HarnessOptions = {}): Promise<ConsoleServer> {
  // CUSTODY_CONSOLE_DIR: a console built elsewhere (`npx vite build --config web/vite.config.ts --outDir DIR`).
  const dir = process.env.CUSTODY_CONSOLE_DIR ?? consoleDir();
  if (!existsSync(path.join(dir, 'index.html'))) throw new Error(`The console is not built at ${dir}: run \`npm run build\` first (npm test does).`);
  const h = await startHarness(kind, { ...options, env: { CUSTODY_CONSOLE_DIR: dir, ...options.env } });
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  const address = h.app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { h, url: `http://127.0.0.1:${port}`, close: () => h.close() };
}

/** What a page did that a test should see: console errors, uncaught exceptions, failed requests, requests to any other origin. */
export interface PageProblems {
  consoleErrors: string[];
  pageErrors: string[];
  foreignRequests: string[];
  failedRequests: string[];
}

/** A fresh context (its own cookies) and page at 1280×800, recording the page's problems. */
export async function openPage(browser: Browser, baseUrl: string, options: { colorScheme?: 'light' | 'dark' } = {}): Promise<{ context: BrowserContext; page: Page; problems: PageProblems }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: options.colorScheme ?? 'light', baseURL: baseUrl });
  const page = await context.newPage();
  const problems: PageProblems = { consoleErrors: [], pageErrors: [], foreignRequests: [], failedRequests: [] };
  const origin = new URL(baseUrl).origin;
  page.on('console', (m) => {
    if (m.type() === 'error') problems.consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => problems.pageErrors.push(e.message));
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith('data:')) problems.foreignRequests.push(u);
  });
  page.on('requestfailed', (r) => {
    // A read still in flight when the test moves to another page is cancelled by the browser
    // (net::ERR_ABORTED): the test's doing, not the page's. Any other failure, and any failed
    // write, is a problem.
    if (r.method() === 'GET' && r.failure()?.errorText === 'net::ERR_ABORTED') return;
    problems.failedRequests.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`);
  });
  return { context, page, problems };
}

/** Signs in on the console's sign-in page with an API key and waits for the console to show. */
export async function signIn(page: Page, apiKey: string): Promise<void> {
  await page.goto('/');
  await page.getByLabel('API key').fill(apiKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

const require = createRequire(import.meta.url);
let axeSource: string | null = null;

/** axe-core's violations of impact serious or critical on the page as it is now (WCAG 2.x A/AA rules). */
export async function seriousAxeViolations(page: Page): Promise<{ id: string; impact: string; help: string; nodes: string[] }[]> {
  axeSource ??= readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(axeSource);
  // Run in the page (a string: this file is compiled without the DOM's types).
  const result = (await page.evaluate(`axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })`)) as {
    violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[];
  };
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact!, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => JSON.stringify(n.target)) }));
}
