/**
 * Leaked-token intake (issue 15): a signed leak report of a live token → the next gateway call
 * with that token is denied. Each run: a gateway call that succeeds (the gateway holds the token
 * in its cache), then, timed, the signed POST /v1/leaks and the next gateway call, which must be
 * refused 403 token_revoked. p50/p99 over BENCH_LEAK_RUNS runs (default 300) after a warm-up,
 * each run on its own token; the report alone is shown beside it. Interleaved with those runs, the
 * same measure for an administrator's `POST /v1/tokens/{id}/revoke` — the baseline of the same
 * moments of the machine, so a loaded machine shows as both figures rising, and the ratio says
 * what the leak path adds. Everything over loopback HTTP with keep-alive, on a temporary SQLite
 * file (CUSTODY_BENCH_DATABASE_URL: PostgreSQL).
 */
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'undici';
import { createCustody } from '../src/app/custody.ts';
import { buildServer } from '../src/app/server.ts';
import { systemPrincipal } from '../src/auth/roles.ts';
import { loadConfig } from '../src/config/config.ts';
import { createLogger } from '../src/shared/logger.ts';
import { Secret } from '../src/shared/secret.ts';

const RUNS = Number(process.env.BENCH_LEAK_RUNS ?? 300);
const WARMUP = 30;
const GOAL_MS = 50;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
const fmt = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 2, minimumFractionDigits: 2 });

export async function run(): Promise<void> {
  console.log('\n== leaks');
  const upstream = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"items":[]}'));
  });
  upstream.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const upstreamOrigin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'custody-bench-leaks-'));
  const databaseUrl = process.env.CUSTODY_BENCH_DATABASE_URL ?? path.join(dir, 'bench.db');
  const config = loadConfig({ CUSTODY_ENV: 'test', CUSTODY_DATABASE_URL: databaseUrl, CUSTODY_KEYRING: `1:${randomBytes(32).toString('base64')}`, CUSTODY_LOG_LEVEL: 'warn', CUSTODY_RATE_LIMIT_PER_ADDRESS: '0', CUSTODY_RATE_LIMIT_PER_KEY: '0' });
  const custody = await createCustody(config, { logger: createLogger('warn'), migrate: true, actor: 'system:bench' });
  const app = await buildServer(custody);
  let pool: Pool | undefined;
  try {
    await custody.gateway.start();
    await app.listen({ host: '127.0.0.1', port: 0 });
    const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    pool = new Pool(origin, { connections: 4 });
    const admin = systemPrincipal('bench');
    const tenant = await custody.tenants.create(admin, { name: `bench-${randomBytes(3).toString('hex')}` });
    const provider = await custody.providers.create(admin, {
      name: `bench-api-${randomBytes(3).toString('hex')}`,
      tokenEndpoint: 'https://issuer.example.com/token',
      revocationEndpoint: 'https://issuer.example.com/revoke',
      clientId: 'bench',
      apiBaseUrls: [`${upstreamOrigin}/api`],
      development: true,
      allowPrivateNetwork: true,
      scopeRules: [{ method: 'GET', pathPattern: '/invoices/**', scope: 'invoices.read' }],
    });
    const { key: workloadKey } = await custody.apiKeys.create(admin, { role: 'workload', tenantId: tenant.id, name: 'bench-workload', workload: 'billing-sync' });
    const reporter = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    await custody.leaks.addReporter(admin, { name: 'bench-scanner', keyId: 'bench-key-1', publicKey: reporter.publicKey.export({ format: 'pem', type: 'spki' }).toString() });

    const { key: adminKey } = await custody.apiKeys.create(admin, { role: 'admin', name: 'bench-admin' });
    const total = 2 * (WARMUP + RUNS);
    const tokens: { id: string; access: string }[] = [];
    for (let i = 0; i < total; i++) {
      const access = `at-${randomBytes(16).toString('hex')}`;
      const t = await custody.tokens.register(admin, { tenantId: tenant.id, providerId: provider.id, owner: 'bench', workloads: ['billing-sync'], scopes: ['invoices.read'], accessToken: new Secret(access) });
      tokens.push({ id: t.id, access });
    }
    const gatewayCall = async (tokenId: string): Promise<number> => {
      const r = await pool!.request({ method: 'GET', path: `/gw/${tokenId}/invoices/2024/7`, headers: { authorization: `Bearer ${workloadKey}` } });
      await r.body.text();
      return r.statusCode;
    };
    const reportLeak = async (access: string): Promise<string> => {
      const body = Buffer.from(JSON.stringify([{ token: access, type: 'custody_access_token', url: 'https://github.com/acme/app/blob/main/.env', source: 'content' }]));
      const signature = sign('sha256', body, { key: reporter.privateKey, dsaEncoding: 'der' }).toString('base64');
      const r = await pool!.request({ method: 'POST', path: '/v1/leaks', headers: { 'content-type': 'application/json', 'custody-leak-key-id': 'bench-key-1', 'custody-leak-signature': signature }, body });
      const text = await r.body.text();
      if (r.statusCode !== 200) throw new Error(`the leak report answered ${r.statusCode}: ${text}`);
      return text;
    };

    const revokeByAdmin = async (tokenId: string): Promise<void> => {
      const r = await pool!.request({ method: 'POST', path: `/v1/tokens/${tokenId}/revoke`, headers: { 'content-type': 'application/json', authorization: `Bearer ${adminKey}` }, body: JSON.stringify({ reason: 'bench' }) });
      const text = await r.body.text();
      if (r.statusCode !== 200) throw new Error(`the revocation answered ${r.statusCode}: ${text}`);
    };

    const toDenied: number[] = [];
    const reportOnly: number[] = [];
    const baseline: number[] = [];
    for (let i = 0; i < total; i++) {
      const t = tokens[i]!;
      const leak = i % 2 === 0;
      if ((await gatewayCall(t.id)) !== 200) throw new Error('the gateway refused a live token before its revocation');
      const t0 = performance.now();
      const answer = leak ? await reportLeak(t.access) : (await revokeByAdmin(t.id), 'true_positive');
      const t1 = performance.now();
      const status = await gatewayCall(t.id);
      const t2 = performance.now();
      if (!answer.includes('true_positive')) throw new Error(`the report did not match: ${answer}`);
      if (status !== 403) throw new Error(`the gateway answered ${status} after the token was ${leak ? 'reported leaked' : 'revoked'}`);
      if (i < 2 * WARMUP) continue;
      if (leak) {
        toDenied.push(t2 - t0);
        reportOnly.push(t1 - t0);
      } else baseline.push(t2 - t0);
    }
    for (const s of [toDenied, reportOnly, baseline]) s.sort((a, b) => a - b);
    const p99 = percentile(toDenied, 99);
    console.log(`  ${RUNS} runs of each (after ${WARMUP} warm-up), interleaved, one token each, ${config.database.kind}; loopback HTTP, keep-alive; load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} CPUs`);
    console.log(`    leak report answered:                  p50 ${fmt(percentile(reportOnly, 50))} ms, p99 ${fmt(percentile(reportOnly, 99))} ms, max ${fmt(reportOnly.at(-1)!)} ms`);
    console.log(`    leak report → next call denied:        p50 ${fmt(percentile(toDenied, 50))} ms, p99 ${fmt(p99)} ms, max ${fmt(toDenied.at(-1)!)} ms`);
    console.log(`    (baseline) admin revoke → call denied: p50 ${fmt(percentile(baseline, 50))} ms, p99 ${fmt(percentile(baseline, 99))} ms; leak path / baseline at p50 ${fmt(percentile(toDenied, 50) / percentile(baseline, 50))}×`);
    console.log(`  ${p99 <= GOAL_MS ? 'PASS' : 'MISS'}  leak report → next gateway call denied, p99: ${fmt(p99)} ms (goal ≤ ${GOAL_MS} ms)`);
  } finally {
    await pool?.close();
    await app.close();
    await custody.close();
    await new Promise((r) => upstream.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
