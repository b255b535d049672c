import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.ts';
import { startEchoUpstream, type EchoUpstream } from './support/echo-upstream.ts';
import { openInBrowser, startTestIssuer, type TestIssuer } from './support/oidc.ts';
import { eventually } from './support/wait.ts';

/**
 * The README's five-minute tour, run as a new user runs it: `npm start` on a fresh data
 * directory, then each `npx custody …` step of the tour in order (as `node bin/custody.js`, what
 * npx runs), the consent in a browser through the printed link, and a gateway call through the
 * provider the CLI made. The issuer is the local oidc-provider the other tests use and the
 * provider's API a loopback echo server, so the two local-only flags the README names
 * (--development, --allow-private-network) are added. The first test checks that every step here
 * is in the README's tour, so the two cannot drift.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The tour's steps as the README writes them (their command and flags; values are the user's own). */
const STEPS = [
  'npm install && npm start',
  'npx custody tenants create',
  'npx custody providers add --issuer --client-id --client-secret-env --api-base-url --scope-rule',
  'npx custody providers list',
  'npx custody connect --provider --tenant --owner --purpose --scope',
  'npx custody tokens list --unmanaged',
  'npx custody tokens show',
  'npx custody tokens update --add-workload',
  'npx custody apikey create --role workload --tenant --name',
  'curl -s -H "Authorization: Bearer',
  'npx custody tokens suspend --reason',
  'npx custody tokens resume --reason',
  'npx custody tokens revoke --reason',
  'npx custody ledger verify',
  'npx custody keys rotate',
];

function tourBlock(): string {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## A five-minute tour');
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(start));
  if (start < 0 || !block) throw new Error('README.md has no "## A five-minute tour" section with a sh block');
  return block[1]!.replace(/\\\n\s*/g, ' ');
}

describe('the README tour, from npm start', () => {
  let issuer: TestIssuer;
  let api: EchoUpstream;
  let server: ChildProcess;
  let stderr = '';
  let base: string;
  let env: Record<string, string | undefined>;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'custody-tour-'));

  beforeAll(async () => {
    // A free port for Custody, known before it starts: the issuer must know the callback URL.
    const probe = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    base = `http://127.0.0.1:${probe}`;
    issuer = await startTestIssuer({ redirectUris: [`${base}/oauth/callback`] });
    api = await startEchoUpstream();
    // `npm start`, in its own process group so the test can stop npm and the server together.
    server = spawn('npm', ['start', '--silent'], {
      cwd: ROOT,
      detached: true,
      env: { ...process.env, CUSTODY_PORT: String(probe), CUSTODY_DATABASE_URL: path.join(dir, 'custody.db'), CUSTODY_ENV: 'development', CUSTODY_LOG_LEVEL: 'warn', CUSTODY_KEYRING: '', CUSTODY_KEYRING_FILE: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stderr!.on('data', (d) => (stderr += d));
    server.stdout!.resume();
    // Where it runs and the first-run key come in one block; wait for its last line.
    await eventually(() => stderr.includes('Custody is running at') && stderr.includes('Use it as:'), { what: `npm start to say where it runs and print the first-run key (stderr so far: ${stderr})`, timeoutMs: 60_000 });
    const key = /^\s+(cus_\S+)$/m.exec(stderr)?.[1];
    expect(key, stderr).toBeDefined();
    // The tour exports the key it printed; the CLI finds the server from CUSTODY_PORT.
    env = { CUSTODY_API_KEY: key, CUSTODY_PORT: String(probe), CUSTODY_URL: undefined, CUSTODY_DATABASE_URL: path.join(dir, 'custody.db'), CUSTODY_KEYRING: undefined, CUSTODY_ENV: 'development' };
  }, 90_000);

  afterAll(async () => {
    if (server?.pid && server.exitCode === null) {
      process.kill(-server.pid, 'SIGTERM');
      await new Promise((r) => server.once('exit', r));
    }
    await issuer?.close();
    await api?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const custody = async (args: string[], extra: Record<string, string> = {}) => {
    const r = await runCli(args, { ...env, ...extra });
    expect(r.code, `custody ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(0);
    return r.stdout;
  };

  it('has every step below in the README tour, in this order', () => {
    const block = tourBlock();
    let at = 0;
    for (const step of STEPS) {
      const [head, ...flags] = step.startsWith('npx custody') ? [step.split(' --')[0]!, ...step.split(' --').slice(1).map((f) => `--${f}`)] : [step];
      const found = block.indexOf(head!, at);
      expect(found, `README tour step "${head}" (after position ${at})`).toBeGreaterThanOrEqual(0);
      const line = block.slice(found, block.indexOf('\n', found));
      for (const flag of flags) expect(line, `README tour step "${head}" uses ${flag}`).toContain(flag);
      at = found + 1;
    }
  });

  it('runs the tour: a customer, an issuer, a consent in the browser, a gateway call, suspend, revoke, verify, rotate', async () => {
    const tenant = /Created tenant (ten_\S+)/.exec(await custody(['tenants', 'create', 'Acme']))![1]!;

    const added = await custody(
      [
        'providers', 'add', 'Example CRM', '--issuer', issuer.issuer, '--client-id', issuer.clientId, '--client-secret-env', 'CRM_SECRET', '--api-base-url', `${api.origin}/v2`,
        '--scope-rule', 'GET /invoices/** api:read', '--scope-rule', 'POST /invoices api:write', '--development', '--allow-private-network',
      ],
      { CRM_SECRET: issuer.clientSecret },
    );
    const provider = /Registered provider (prv_\S+)/.exec(added)![1]!;
    expect(added).toContain('discovered from');
    expect(await custody(['providers', 'list'])).toContain(provider);

    const connect = await custody(['connect', '--provider', provider, '--tenant', tenant, '--owner', 'team-integrations', '--purpose', 'invoice sync', '--scope', 'api:read']);
    const link = new RegExp(`(${base}/connect/\\S+)`).exec(connect)![1]!;
    // The customer administrator opens the link in a plain browser (no API key) and approves.
    const page = await openInBrowser(link, 'alice', `${base}/oauth/callback`);
    expect(page.status, page.html).toBe(200);
    expect(page.html).toContain('Access approved');
    const token = /\((tok_[0-9A-Z]{26})\)/.exec(page.html)![1]!;

    const unmanaged = await custody(['tokens', 'list', '--unmanaged']);
    expect(unmanaged).toContain(token); // its issuer's revocation path is not verified yet
    const shown = await custody(['tokens', 'show', token]);
    expect(shown).toContain('approver    alice <alice@customer.example>');
    expect(shown).toContain('revocation  gateway + rfc7009 (path not yet verified for this provider)');
    await custody(['tokens', 'update', token, '--add-workload', 'billing-sync']);

    const created = await custody(['apikey', 'create', '--role', 'workload', '--tenant', tenant, '--name', 'billing-sync']);
    const workloadKey = /(cus_\S+)/.exec(created)![1]!;
    const call = await fetch(`${base}/gw/${token}/invoices?status=open`, { headers: { authorization: `Bearer ${workloadKey}` } });
    expect(call.status, await call.clone().text()).toBe(200);
    const forwarded = api.received.at(-1)!;
    expect(forwarded.url).toBe('/v2/invoices?status=open');
    expect(forwarded.headers.authorization).toMatch(/^Bearer .+/);
    expect(forwarded.headers.authorization).not.toContain(workloadKey);

    await custody(['tokens', 'suspend', token, '--reason', 'investigating incident 42']);
    expect((await fetch(`${base}/gw/${token}/invoices`, { headers: { authorization: `Bearer ${workloadKey}` } })).status).toBe(403);
    await custody(['tokens', 'resume', token, '--reason', 'incident 42 closed']);
    const revoked = await custody(['tokens', 'revoke', token, '--reason', 'customer offboarded']);
    expect(revoked).toContain('is revoked');
    expect(revoked).toContain('At the issuer: revoked and confirmed inactive by introspection');
    expect((await fetch(`${base}/gw/${token}/invoices`, { headers: { authorization: `Bearer ${workloadKey}` } })).status).toBe(403);

    expect(await custody(['ledger', 'verify'])).toMatch(/^OK: \d+ entries/);
    expect(await custody(['keys', 'rotate'])).toContain('every data key is now under version 2');
    // The server keeps working on the rotated keyring.
    expect(await custody(['tokens', 'show', token])).toContain('REVOKED');
  }, 120_000);
});
