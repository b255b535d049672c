/**
 * The risk score and trends (issue 16), on BENCH_RISK_TOKENS token records (default 200,000) on a
 * temporary SQLite file, loaded in bulk as the foundation loads them (a spread of ages, uses, scopes,
 * workloads and states; three of six providers with a scope catalogue):
 *   - the first sweep, which scores every live token (and opens every finding), and a steady sweep,
 *     which must write no score (riskChanged ~0: only tokens whose bucket moved since);
 *   - the inventory by risk (`sort=risk`): first pages overall and per tenant, a page deep in the
 *     order (after a cursor), and `minRisk` with `sort=risk` — p50/p95 against the inventory goal
 *     (p95 ≤ 50 ms, as the foundation's filtered inventory);
 *   - a trend snapshot (the findings summary's two counts, written per tenant and overall) and a
 *     year's series read back.
 * The foundation suite's steady sweep at 1,000,000 tokens includes the score too; docs/benchmarks.md
 * has the sweep with and without it.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { createCustody } from '../src/app/custody.ts';
import { systemPrincipal } from '../src/auth/roles.ts';
import { loadConfig } from '../src/config/config.ts';
import { newId } from '../src/shared/ids.ts';
import { createLogger } from '../src/shared/logger.ts';

const DAY = 86_400_000;
const GOAL_MS = 50;
const fmt = (n: number, digits = 1) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
function report(name: string, figure: string, goal: string, pass: boolean) {
  console.log(`  ${pass ? 'PASS' : 'MISS'}  ${name}: ${figure} (goal ${goal})`);
}
function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Tenants, providers and the directories through the services, then the tokens in one bulk transaction. */
async function load(file: string, keyring: string, count: number): Promise<{ tenants: string[] }> {
  const config = loadConfig({ CUSTODY_ENV: 'test', CUSTODY_DATABASE_URL: file, CUSTODY_KEYRING: keyring, CUSTODY_LOG_LEVEL: 'silent' });
  const c = await createCustody(config, { logger: createLogger('silent'), migrate: true, actor: 'system:bench' });
  const admin = systemPrincipal('bench');
  const tenants: string[] = [];
  const providers: string[] = [];
  try {
    for (let i = 0; i < 100; i++) tenants.push((await c.tenants.create(admin, { name: `customer-${i}` })).id);
    const catalogue = [
      { name: 'read', sensitivity: 'read' as const },
      { name: 'invoices.read', sensitivity: 'read' as const },
      { name: 'contacts.read', sensitivity: 'read' as const },
      { name: 'write', sensitivity: 'write' as const },
      { name: 'invoices.write', sensitivity: 'write' as const },
      { name: 'admin', sensitivity: 'admin' as const },
    ];
    for (let i = 0; i < 6; i++) {
      const p = await c.providers.create(admin, {
        name: `provider-${i}`,
        tokenEndpoint: `https://idp${i}.example.com/token`,
        ...(i < 4 ? { revocationEndpoint: `https://idp${i}.example.com/revoke` } : {}),
        clientId: 'c',
        apiBaseUrls: [`https://api${i}.example.com`],
        ...(i % 2 === 0 ? { scopeCatalogue: catalogue } : {}),
      });
      providers.push(p.id);
    }
    for (let i = 0; i < 50; i++) await c.directory.createOwner(admin, { name: `team-${i}`, kind: 'team' });
    for (const w of ['billing-sync', 'crm-import', 'analytics']) await c.directory.createWorkload(admin, { name: w, owner: 'team-1' });
  } finally {
    await c.close();
  }
  const sqlite = new SqliteDatabase(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.prepare('update providers set revocation_verified_at = ? where id in (?, ?)').run(new Date().toISOString(), providers[0], providers[1]);
  const insert = sqlite.prepare(`insert into tokens (id, tenant_id, provider_id, subject, owner, approver_subject, approved_at, approver_active, purpose, review_due_at,
    workloads, granted_scopes, state, state_changed_at, issued_at, access_issued_at, access_expires_at, last_used_at, access_token_enc, refresh_token_enc, access_fp, refresh_fp, created_at, updated_at)
    values (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'enc', ?, ?, ?, ?, ?)`);
  const usage = sqlite.prepare('insert into token_scope_usage (token_id, scope, last_used_at) values (?, ?, ?)');
  const rnd = prng(16);
  const now = Date.now();
  const SCOPES = ['read', 'write', 'invoices.read', 'invoices.write', 'contacts.read', 'admin', 'offline_access', 'files.read'];
  const WORKLOADS = ['billing-sync', 'crm-import', 'analytics', 'reporting'];
  const issued = Array.from({ length: count }, () => now - Math.floor(rnd() * 730 * DAY)).sort((a, b) => a - b);
  const started = performance.now();
  sqlite.exec('BEGIN');
  for (let i = 0; i < count; i++) {
    const at = issued[i]!;
    const id = newId('token', at);
    const iso = new Date(at).toISOString();
    const r = rnd();
    const state = r < 0.8 ? 'active' : r < 0.87 ? 'suspended' : r < 0.94 ? 'expired' : 'revoked';
    const used = rnd() < 0.75 ? new Date(at + Math.floor(rnd() ** 0.3 * (now - at))).toISOString() : null;
    const scopes = SCOPES.filter(() => rnd() < 0.3);
    if (scopes.length === 0) scopes.push('read');
    const refresh = rnd() < 0.7;
    insert.run(
      id, tenants[Math.floor(rnd() * rnd() * tenants.length)], providers[Math.floor(rnd() * providers.length)], `u${i}`, `team-${Math.floor(rnd() * 55)}`,
      rnd() < 0.92 ? `a${i}` : null, iso, rnd() < 0.88 ? 'sync' : null, rnd() < 0.7 ? new Date(now + Math.floor((rnd() * 455 - 90) * DAY)).toISOString() : null,
      JSON.stringify(WORKLOADS.filter(() => rnd() < 0.3)), JSON.stringify(scopes), state, iso, iso, iso, new Date(at + 3_600_000).toISOString(), used,
      refresh ? 'enc' : null, `fa${i}`, refresh ? `fr${i}` : null, iso, iso,
    );
    if (used) usage.run(id, scopes[0], used);
  }
  sqlite.exec('COMMIT');
  sqlite.pragma('wal_checkpoint(TRUNCATE)');
  sqlite.close();
  console.log(`  loaded ${count.toLocaleString('en-US')} tokens in ${fmt((performance.now() - started) / 1000)} s`);
  return { tenants };
}

export async function run(): Promise<void> {
  const count = Number(process.env.BENCH_RISK_TOKENS ?? 200_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'custody-risk-bench-'));
  const file = path.join(dir, 'risk.db');
  const keyring = `1:${randomBytes(32).toString('base64')}`;
  console.log(`\n== risk: the risk score and trends on ${count.toLocaleString('en-US')} tokens on SQLite (load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})`);
  try {
    const { tenants } = await load(file, keyring, count);
    const config = loadConfig({ CUSTODY_ENV: 'test', CUSTODY_DATABASE_URL: file, CUSTODY_KEYRING: keyring, CUSTODY_LOG_LEVEL: 'silent', CUSTODY_RATE_LIMIT_PER_KEY: '0' });
    const c = await createCustody(config, { logger: createLogger('silent'), actor: 'system:bench' });
    try {
      const cpu = () => process.cpuUsage();
      let t = cpu();
      const first = await c.findings.sweep();
      const firstCpu = process.cpuUsage(t);
      console.log(`  first sweep: ${first.tokens.toLocaleString('en-US')} live tokens scored (riskChanged ${first.riskChanged.toLocaleString('en-US')}), ${first.opened.toLocaleString('en-US')} findings opened: ${fmt(first.durationMs / 1000)} s, CPU ${fmt((firstCpu.user + firstCpu.system) / 1e6)} s`);
      t = cpu();
      const steady = await c.findings.sweep();
      const steadyCpu = process.cpuUsage(t);
      report(`steady sweep (riskChanged ${steady.riskChanged}, CPU ${fmt((steadyCpu.user + steadyCpu.system) / 1e6)} s)`, `${fmt(steady.durationMs / 1000)} s`, 'writes no score that did not change (riskChanged ≤ 0.1% of tokens)', steady.riskChanged <= Math.max(1, steady.tokens / 1000));

      const admin = systemPrincipal('bench');
      const providers = (await c.providers.list()).map((p) => p.id);
      const deep = await c.tokens.list(admin, { sort: 'risk', limit: 1, minRisk: 30, maxRisk: 30 });
      const deepCursor = deep.items[0] ? { score: deep.items[0].risk!.score, id: deep.items[0].id } : undefined;
      const rnd = prng(3);
      const kinds: [string, () => Promise<unknown>][] = [
        ['first page overall', () => c.tokens.list(admin, { sort: 'risk', limit: 50 })],
        ['first page of a tenant', () => c.tokens.list(admin, { sort: 'risk', tenantId: tenants[Math.floor(rnd() * 20)]!, limit: 50 })],
        ['a page deep in the order', () => c.tokens.list(admin, { sort: 'risk', ...(deepCursor ? { afterRisk: deepCursor } : {}), limit: 50 })],
        ['minRisk=60, by risk, active only', () => c.tokens.list(admin, { sort: 'risk', minRisk: 60, state: 'active', limit: 50 })],
        ['one provider, by risk', () => c.tokens.list(admin, { sort: 'risk', providerId: providers[Math.floor(rnd() * providers.length)]!, limit: 50 })],
        ['suspended, by risk', () => c.tokens.list(admin, { sort: 'risk', state: 'suspended', limit: 50 })],
      ];
      const times: number[] = [];
      const byKind = new Map<string, number[]>();
      for (let i = 0; i < 420; i++) {
        const [name, q] = kinds[i % kinds.length]!;
        const t0 = performance.now();
        await q();
        const ms = performance.now() - t0;
        if (i >= 42) {
          times.push(ms);
          byKind.set(name, [...(byKind.get(name) ?? []), ms]);
        }
      }
      times.sort((a, b) => a - b);
      console.log(`  inventory by risk, p95 by query: ${[...byKind].map(([k, v]) => `${k} ${fmt(percentile(v.sort((a, b) => a - b), 95), 2)} ms`).join('; ')}`);
      report('inventory sorted by risk (378 queries, 50 a page)', `p50 ${fmt(percentile(times, 50), 2)} ms, p95 ${fmt(percentile(times, 95), 2)} ms`, `p95 ≤ ${GOAL_MS} ms`, percentile(times, 95) <= GOAL_MS);

      const s0 = performance.now();
      const snap = await c.trends.snapshot();
      const snapMs = performance.now() - s0;
      const r0 = performance.now();
      const year = await c.trends.series({ tenantId: null }, new Date(Date.now() - 365 * DAY).toISOString().slice(0, 10), new Date().toISOString().slice(0, 10));
      console.log(`  trend snapshot: ${snap.scopes} rows (the platform and each tenant with tokens or findings) in ${fmt(snapMs)} ms; a year's series read in ${fmt(performance.now() - r0, 2)} ms (${year.length} point)`);
    } finally {
      await c.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
