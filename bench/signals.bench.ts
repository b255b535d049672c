/**
 * Shared Signals (issue 15): a RISC credential-compromise SET naming a token's account → the next
 * gateway call with that token is denied. Each run: a gateway call that succeeds (the gateway holds
 * the token in its cache), then, timed, the signed SET pushed to POST /v1/signals/ssf (verified
 * with jose against the transmitter's inline ES256 key, applied per the default policy: revoke)
 * and the next gateway call, which must be refused 403 token_revoked. p50/p99 over
 * BENCH_SSF_RUNS runs (default 300) after a warm-up, each on its own token and account; the push
 * alone is shown beside it. Loopback HTTP with keep-alive, on a temporary SQLite file
 * (CUSTODY_BENCH_DATABASE_URL: PostgreSQL).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { Pool } from 'undici';
import { createCustody } from '../src/app/custody.ts';
import { buildServer } from '../src/app/server.ts';
import { systemPrincipal } from '../src/auth/roles.ts';
import { loadConfig } from '../src/config/config.ts';
import { createLogger } from '../src/shared/logger.ts';
import { Secret } from '../src/shared/secret.ts';
import { SIGNAL_EVENT_URIS } from '../src/signals/signal.rules.ts';

const RUNS = Number(process.env.BENCH_SSF_RUNS ?? 300);
const WARMUP = 30;
const GOAL_MS = 50;
const TRANSMITTER = 'https://ssf.bench.example';
const AUDIENCE = 'https://custody.bench.example/v1/signals/ssf';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
const fmt = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 2, minimumFractionDigits: 2 });

export async function run(): Promise<void> {
  console.log('\n== signals');
  let origin = '';
  // The provider's API (the gateway's upstream) and its issuer's discovery document, on loopback.
  const upstream = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url?.startsWith('/.well-known/')) return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: origin, token_endpoint: `${origin}/token` }));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"items":[]}');
    });
  });
  upstream.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'custody-bench-signals-'));
  const databaseUrl = process.env.CUSTODY_BENCH_DATABASE_URL ?? path.join(dir, 'bench.db');
  const config = loadConfig({ CUSTODY_ENV: 'test', CUSTODY_DATABASE_URL: databaseUrl, CUSTODY_KEYRING: `1:${randomBytes(32).toString('base64')}`, CUSTODY_LOG_LEVEL: 'warn', CUSTODY_RATE_LIMIT_PER_ADDRESS: '0', CUSTODY_RATE_LIMIT_PER_KEY: '0' });
  const custody = await createCustody(config, { logger: createLogger('warn'), migrate: true, actor: 'system:bench' });
  const app = await buildServer(custody);
  let pool: Pool | undefined;
  try {
    await custody.gateway.start();
    await app.listen({ host: '127.0.0.1', port: 0 });
    const server = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    pool = new Pool(server, { connections: 4 });
    const admin = systemPrincipal('bench');
    const tenant = await custody.tenants.create(admin, { name: `bench-${randomBytes(3).toString('hex')}` });
    const provider = await custody.providers.create(admin, {
      name: `bench-api-${randomBytes(3).toString('hex')}`,
      issuer: origin,
      tokenEndpoint: `${origin}/token`,
      revocationEndpoint: 'https://issuer.example.com/revoke',
      clientId: 'bench',
      apiBaseUrls: [`${origin}/api`],
      development: true,
      allowPrivateNetwork: true,
      scopeRules: [{ method: 'GET', pathPattern: '/invoices/**', scope: 'invoices.read' }],
    });
    const { key: workloadKey } = await custody.apiKeys.create(admin, { role: 'workload', tenantId: tenant.id, name: 'bench-workload', workload: 'billing-sync' });
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    await custody.transmitters.create(admin, { tenantId: tenant.id, name: 'bench idp', issuer: TRANSMITTER, audience: AUDIENCE, jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'b1', alg: 'ES256' } as never] }, algorithms: ['ES256'] });

    const total = WARMUP + RUNS;
    const tokens: { id: string; account: string }[] = [];
    for (let i = 0; i < total; i++) {
      const account = `user-${i}-${randomBytes(3).toString('hex')}`;
      const t = await custody.tokens.register(admin, { tenantId: tenant.id, providerId: provider.id, owner: 'bench', subject: account, approver: { subject: account }, workloads: ['billing-sync'], scopes: ['invoices.read'], accessToken: new Secret(`at-${randomBytes(16).toString('hex')}`) });
      tokens.push({ id: t.id, account });
    }
    const gatewayCall = async (tokenId: string): Promise<number> => {
      const r = await pool!.request({ method: 'GET', path: `/gw/${tokenId}/invoices/2024/7`, headers: { authorization: `Bearer ${workloadKey}` } });
      await r.body.text();
      return r.statusCode;
    };
    const pushSet = async (account: string): Promise<void> => {
      const set = await new SignJWT({ events: { [SIGNAL_EVENT_URIS['credential-compromise']]: { subject: { format: 'iss_sub', iss: origin, sub: account }, credential_type: 'password' } } })
        .setProtectedHeader({ alg: 'ES256', kid: 'b1', typ: 'secevent+jwt' })
        .setIssuer(TRANSMITTER)
        .setAudience(AUDIENCE)
        .setIssuedAt()
        .setJti(randomUUID())
        .sign(privateKey);
      const r = await pool!.request({ method: 'POST', path: '/v1/signals/ssf', headers: { 'content-type': 'application/secevent+jwt' }, body: set });
      const text = await r.body.text();
      if (r.statusCode !== 202) throw new Error(`the SET answered ${r.statusCode}: ${text}`);
    };

    const toDenied: number[] = [];
    const pushOnly: number[] = [];
    for (let i = 0; i < total; i++) {
      const t = tokens[i]!;
      if ((await gatewayCall(t.id)) !== 200) throw new Error('the gateway refused a live token before its SET');
      const t0 = performance.now();
      await pushSet(t.account);
      const t1 = performance.now();
      const status = await gatewayCall(t.id);
      const t2 = performance.now();
      if (status !== 403) throw new Error(`the gateway answered ${status} after a credential-compromise SET revoked the token`);
      if (i < WARMUP) continue;
      toDenied.push(t2 - t0);
      pushOnly.push(t1 - t0);
    }
    toDenied.sort((a, b) => a - b);
    pushOnly.sort((a, b) => a - b);
    const p99 = percentile(toDenied, 99);
    console.log(`  ${RUNS} runs (after ${WARMUP} warm-up), one token and account each, ${config.database.kind}; loopback HTTP, keep-alive`);
    console.log(`    SET answered 202:           p50 ${fmt(percentile(pushOnly, 50))} ms, p99 ${fmt(percentile(pushOnly, 99))} ms, max ${fmt(pushOnly.at(-1)!)} ms`);
    console.log(`    SET → next call denied:     p50 ${fmt(percentile(toDenied, 50))} ms, p99 ${fmt(p99)} ms, max ${fmt(toDenied.at(-1)!)} ms`);
    console.log(`  ${p99 <= GOAL_MS ? 'PASS' : 'MISS'}  SSF credential-compromise → next gateway call denied, p99: ${fmt(p99)} ms (goal ≤ ${GOAL_MS} ms)`);
  } finally {
    await pool?.close();
    await app.close();
    await custody.close();
    await new Promise((r) => upstream.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
