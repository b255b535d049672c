/**
 * Import of tokens held elsewhere (issue 16): 100,000 rows, goal ≥ 5,000 rows/s. Each run in a
 * tenant of its own, on a fresh Custody (temporary SQLite file; CUSTODY_BENCH_DATABASE_URL:
 * PostgreSQL):
 *
 * - inventory-only rows (no credentials, an externalId each), through the import service in
 *   batches of 1,000 CSV rows (what `custody import` sends; the batches are made before the clock
 *   starts); then the same rows again: every row recognised, nothing written;
 * - rows with an access and a refresh token (no externalId: matched by fingerprint), each
 *   encrypted under a data key of its own;
 * - end to end: `custody import`'s own code streaming a 100,000-row CSV file over loopback HTTP
 *   to a listening server (the CLI's batches), inventory-only rows.
 *
 * Those measure the import itself: the findings' change path is stopped on that Custody. Judging
 * 100,000 new tokens is the findings' work (their first judgement of a token creates its findings,
 * the slow part of a first sweep, see "Governance" in docs/benchmarks.md), done in the background
 * on the same thread as the requests, so a second Custody imports the inventory-only rows as a
 * server does — the findings judging meanwhile — and prints that rate and how long the findings
 * took to catch up. Each figure carries the process's CPU time per row (the findings' included
 * where they ran). Enforcement passes are left to the sweep, not kicked after each change.
 *
 * BENCH_IMPORT_ROWS sets the row count (default 100,000). It prints figures and PASS or MISS.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createCustody, type Custody } from '../src/app/custody.ts';
import { buildServer } from '../src/app/server.ts';
import { systemPrincipal } from '../src/auth/roles.ts';
import { apiClient } from '../src/cli/api-client.ts';
import { runImport } from '../src/cli/commands/import.ts';
import { loadConfig } from '../src/config/config.ts';
import type { ImportBody } from '../src/imports/import.contract.ts';
import { createLogger } from '../src/shared/logger.ts';
import pg from 'pg';

const ROWS = Number(process.env.BENCH_IMPORT_ROWS ?? 100_000);
const BATCH = 1_000;
const GOAL_ROWS_PER_S = 5_000;

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const HEADER = 'tenantId,providerId,externalId,owner,approverSubject,purpose,workloads,scopes,accessToken,refreshToken,issuedAt';

function row(tenantId: string, providerId: string, i: number, credentials: boolean): string {
  return credentials
    ? `${tenantId},${providerId},,team-${i % 50},admin-${i % 200}@customer,sync contacts,crm-sync,contacts.read contacts.write,at-${randomBytes(24).toString('hex')},rt-${randomBytes(24).toString('hex')},2026-01-01T00:00:00Z`
    : `${tenantId},${providerId},crm-${i},team-${i % 50},,,,contacts.read,,,2026-01-01`;
}

function batches(tenantId: string, providerId: string, credentials: boolean): ImportBody[] {
  const out: ImportBody[] = [];
  for (let start = 0; start < ROWS; start += BATCH) {
    const lines: string[] = [];
    for (let i = start; i < Math.min(ROWS, start + BATCH); i++) lines.push(row(tenantId, providerId, i, credentials));
    out.push({ format: 'csv', data: `${lines.join('\n')}\n`, firstLine: start + 2, columns: HEADER.split(',') });
  }
  return out;
}

interface Run {
  seconds: number;
  cpuMs: number;
  imported: number;
  existing: number;
  invalid: number;
}

async function timed(work: () => Promise<{ imported: number; existing: number; invalid: number }>): Promise<Run> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  const totals = await work();
  const used = process.cpuUsage(cpu);
  return { seconds: (performance.now() - started) / 1000, cpuMs: (used.user + used.system) / 1000, ...totals };
}

function service(custody: Custody, list: ImportBody[]): () => Promise<{ imported: number; existing: number; invalid: number }> {
  return async () => {
    const admin = systemPrincipal('bench');
    const totals = { imported: 0, existing: 0, invalid: 0 };
    for (const body of list) {
      const r = await custody.imports.importBatch(admin, body);
      totals.imported += r.imported;
      totals.existing += r.existing;
      totals.invalid += r.invalid;
    }
    return totals;
  };
}

function line(label: string, r: Run, extra = ''): number {
  const rate = ROWS / r.seconds;
  console.log(
    `    ${label.padEnd(46)} ${fmt(r.seconds, 1).padStart(6)} s ${fmt(rate).padStart(7)} rows/s, ${fmt((r.cpuMs * 1000) / ROWS).padStart(4)} µs CPU a row  (imported ${fmt(r.imported)}, existing ${fmt(r.existing)})${extra}`,
  );
  if (r.invalid > 0 || r.imported + r.existing !== ROWS) throw new Error(`${label}: the rows did not all import (${JSON.stringify(r)})`);
  return rate;
}

/**
 * A fresh database of its own for each Custody (the two must not see each other's tokens): a file
 * in `dir`, or on the PostgreSQL server of CUSTODY_BENCH_DATABASE_URL a database created for it
 * (and dropped by `dropDatabases`).
 */
const created: string[] = [];
async function freshDatabase(dir: string, name: string): Promise<string> {
  const server = process.env.CUSTODY_BENCH_DATABASE_URL;
  if (!server) return path.join(dir, `${name}.db`);
  const database = `custody_bench_import_${name}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  created.push(database);
  const url = new URL(server);
  url.pathname = `/${database}`;
  return url.toString();
}

async function dropDatabases(): Promise<void> {
  const server = process.env.CUSTODY_BENCH_DATABASE_URL;
  if (!server || created.length === 0) return;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  for (const database of created.splice(0)) await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await admin.end();
}

async function openCustody(dir: string, name: string): Promise<Custody> {
  const databaseUrl = await freshDatabase(dir, name);
  const config = loadConfig({ CUSTODY_ENV: 'test', CUSTODY_DATABASE_URL: databaseUrl, CUSTODY_KEYRING: `1:${randomBytes(32).toString('base64')}`, CUSTODY_LOG_LEVEL: 'warn', CUSTODY_RATE_LIMIT_PER_ADDRESS: '0', CUSTODY_RATE_LIMIT_PER_KEY: '0' });
  return createCustody(config, { logger: createLogger('warn'), migrate: true, actor: 'system:bench', enforceAfterChanges: false });
}

async function fixture(custody: Custody) {
  const admin = systemPrincipal('bench');
  const tenant = async (name: string) => (await custody.tenants.create(admin, { name: `${name}-${randomBytes(3).toString('hex')}` })).id;
  const provider = (await custody.providers.create(admin, { name: `bench-crm-${randomBytes(3).toString('hex')}`, tokenEndpoint: 'https://issuer.example.com/token', revocationEndpoint: 'https://issuer.example.com/revoke', clientId: 'bench', apiBaseUrls: ['https://api.example.com'] })).id;
  return { admin, tenant, provider };
}

export async function run(): Promise<void> {
  console.log(`\n== import (${fmt(ROWS)} rows, goal ≥ ${fmt(GOAL_ROWS_PER_S)} rows/s)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'custody-bench-import-'));
  const alone: number[] = [];
  let custody = await openCustody(dir, 'alone');
  let app: Awaited<ReturnType<typeof buildServer>> | null = null;
  try {
    console.log(`  ${custody.config.database.kind}; batches of ${fmt(BATCH)} rows; load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} CPUs`);
    console.log('  the import itself (the findings’ change path stopped):');
    await custody.findings.close();
    const { admin, tenant, provider } = await fixture(custody);
    const inventory = batches(await tenant('inventory'), provider, false);
    alone.push(line('inventory-only (no credentials)', await timed(service(custody, inventory))));
    line('the same rows again (all recognised)', await timed(service(custody, inventory)));
    alone.push(line('access + refresh token each (encrypted)', await timed(service(custody, batches(await tenant('credentials'), provider, true)))));

    // End to end: the CLI's own code reading a file and posting it over loopback HTTP.
    app = await buildServer(custody);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { key } = await custody.apiKeys.create(admin, { role: 'admin', name: 'bench-import' });
    const cliTenant = await tenant('cli');
    const file = path.join(dir, 'tokens.csv');
    const out = fs.createWriteStream(file);
    out.write(`${HEADER}\n`);
    for (let i = 0; i < ROWS; i++) out.write(`${row(cliTenant, provider, i, false)}\n`);
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    const call = apiClient({ url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, apiKey: key });
    let requests = 0;
    const e2e = await timed(async () => {
      const report = await runImport(call, { file, format: 'csv', batchRows: BATCH, skipInvalid: false, dryRun: false });
      if (report.stopped) throw new Error(`custody import stopped: ${report.stopped.message}`);
      requests = report.batches;
      return report;
    });
    alone.push(line(`custody import FILE (HTTP, ${fmt(requests)} requests)`, e2e));
    await app.close();
    app = null;
    await custody.close();

    // As a server runs it: the findings judge the new tokens meanwhile, on the same thread.
    custody = await openCustody(dir, 'served');
    const served = await fixture(custody);
    console.log('  as served (the findings judging the new tokens in the background):');
    const rate = line('inventory-only (no credentials)', await timed(service(custody, batches(await served.tenant('inventory'), served.provider, false))));
    const catching = performance.now();
    const cpu = process.cpuUsage();
    // The change path's batches, then the sweep it hands over to past 50,000 tokens (close waits for it).
    await custody.findings.settled();
    await custody.findings.close();
    const used = process.cpuUsage(cpu);
    console.log(`    the findings caught up ${fmt((performance.now() - catching) / 1000, 1)} s after the last batch (${fmt((used.user + used.system) / 1000 / 1000, 1)} s CPU more); as served: ${fmt(rate)} rows/s`);

    const worst = Math.min(...alone);
    console.log(`  ${worst >= GOAL_ROWS_PER_S ? 'PASS' : 'MISS'}  import of ${fmt(ROWS)} rows, slowest of the three: ${fmt(worst)} rows/s (goal ≥ ${fmt(GOAL_ROWS_PER_S)}); as served, with the findings judging meanwhile: ${fmt(rate)} rows/s; load average ${os.loadavg()[0]!.toFixed(1)} at the end`);
  } finally {
    await app?.close();
    await custody.close();
    await dropDatabases().catch((err: Error) => console.log(`  (could not drop the benchmark's databases: ${err.message})`));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
