/**
 * The foundation's speed goals, at BENCH_TOKENS (default 1,000,000) token records on SQLite:
 *   - filtered inventory query (token service `list`) p95 ≤ 50 ms
 *   - ledger append ≥ 10,000 entries/s
 *   - ledger verify of 1M entries ≤ 5 s
 *   - governance findings sweep over every live token ≤ 60 s, server RSS ≤ 300 MB; one token's
 *     findings after a change p99 ≤ 5 ms
 * Figures are printed with the goal and PASS/MISS; nothing here asserts (benchmarks are not tests).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { createCustody, type Custody } from '../src/app/custody.ts';
import { systemPrincipal } from '../src/auth/roles.ts';
import { loadConfig } from '../src/config/config.ts';
import { checkpointMessage, entryHash } from '../src/ledger/ledger.chain.ts';
import { createLogger } from '../src/shared/logger.ts';
import { newId } from '../src/shared/ids.ts';
import { Secret } from '../src/shared/secret.ts';
import type { TokenFilter } from '../src/tokens/token.types.ts';
import { DataKey, dataKeyAad } from '../src/vault/vault.service.ts';

const DAY = 86_400_000;
const TENANTS = 500;
const OWNERS = 300;
const WORKLOADS = ['billing-sync', 'crm-import', 'support-bot', 'analytics', 'notifications', 'search-indexer', 'backup', 'reporting'];
const SCOPES = ['read', 'write', 'invoices.read', 'invoices.write', 'contacts.read', 'files.read', 'admin', 'offline_access'];

/** A small, seeded PRNG so every run loads the same shape of data. */
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

/** CPU time (this process, all threads) per operation since `since`: less sensitive to a busy machine than wall time. */
function cpuPer(since: NodeJS.CpuUsage, ops: number): string {
  const d = process.cpuUsage(since);
  return fmt((d.user + d.system) / ops, 0);
}

function loadAverage(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(' ');
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function fmt(n: number, digits = 1): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

const results: { name: string; figure: string; goal: string; pass: boolean }[] = [];
function report(name: string, figure: string, goal: string, pass: boolean) {
  results.push({ name, figure, goal, pass });
  console.log(`  ${pass ? 'PASS' : 'MISS'}  ${name}: ${figure} (goal ${goal})`);
}

/** Tenant i gets a share proportional to 1/(i+1): a few large customers, a long tail of small ones. */
function zipfPicker(n: number, rnd: () => number) {
  const cumulative: number[] = [];
  let sum = 0;
  for (let i = 0; i < n; i++) cumulative.push((sum += 1 / (i + 1)));
  return () => {
    const x = rnd() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

interface Loaded {
  tenantIds: string[];
  providerIds: string[];
}

/** Tenants and providers through the services (real rows, real ledger entries), then tokens in bulk. */
async function load(c: Custody, file: string, count: number): Promise<Loaded> {
  const admin = systemPrincipal('bench');
  const tenantIds: string[] = [];
  for (let i = 0; i < TENANTS; i++) tenantIds.push((await c.tenants.create(admin, { name: `customer-${String(i).padStart(4, '0')}` })).id);
  const providerIds: string[] = [];
  for (let i = 0; i < 8; i++) {
    const p = await c.providers.create(admin, {
      name: `provider-${i}`,
      tokenEndpoint: `https://idp${i}.example.com/oauth/token`,
      ...(i < 6 ? { revocationEndpoint: `https://idp${i}.example.com/oauth/revoke` } : {}),
      clientId: `custody-${i}`,
      clientSecret: `secret-${i}`,
      apiBaseUrls: [`https://api${i}.example.com`],
    });
    providerIds.push(p.id);
  }
  // Four of the six revocable providers have had a revocation confirmed.
  await c.storage.db.updateTable('providers').set({ revocation_verified_at: new Date().toISOString() }).where('id', 'in', providerIds.slice(0, 4)).execute();

  const rnd = prng(42);
  const pickTenant = zipfPicker(TENANTS, rnd);
  const now = Date.now();
  const issuedTimes = Array.from({ length: count }, () => now - Math.floor(rnd() * 730 * DAY)).sort((a, b) => a - b);

  const head = await c.storage.db.selectFrom('ledger_entries').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirstOrThrow();
  let seq = Number(head.seq);
  let prevHash = head.hash;
  const every = c.config.ledgerCheckpointEvery;
  const signer = c.vault.ledgerSigner;

  const sqlite = new SqliteDatabase(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  const insertToken = sqlite.prepare(`insert into tokens (id, tenant_id, provider_id, subject, owner, approver_subject, approver_email, approver_issuer, approved_at,
    approver_active, purpose, review_due_at, workloads, granted_scopes, state, state_reason, state_actor, state_changed_at, issued_at, access_expires_at,
    refresh_expires_at, last_used_at, last_used_by, access_token_enc, refresh_token_enc, access_fp, refresh_fp, predecessor_id, created_at, updated_at)
    values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const insertKey = sqlite.prepare('insert into data_keys (owner_id, tenant_id, kek_version, wrapped, created_at, rewrapped_at) values (?, ?, ?, ?, ?, null)');
  const insertUsage = sqlite.prepare('insert into token_scope_usage (token_id, scope, last_used_at) values (?, ?, ?)');
  const insertEntry = sqlite.prepare('insert into ledger_entries (seq, at, actor, action, tenant_id, subject_id, data, prev_hash, hash) values (?, ?, ?, ?, ?, ?, ?, ?, ?)');
  const insertCheckpoint = sqlite.prepare('insert into ledger_checkpoints (seq, hash, at, key_id, signature) values (?, ?, ?, ?, ?)');

  const CHUNK = 20_000;
  let done = 0;
  const started = performance.now();
  // A bulk import drops the secondary indexes of the tables it fills and builds them once at the
  // end (sorted builds are far cheaper than a million random index inserts). Read from the schema,
  // so indexes added by later migrations come back too.
  const indexes = sqlite
    .prepare(`select name, sql from sqlite_master where type = 'index' and sql is not null and tbl_name in ('tokens', 'data_keys', 'token_scope_usage', 'ledger_entries')`)
    .all() as { name: string; sql: string }[];
  sqlite.exec('BEGIN');
  for (const ix of indexes) sqlite.exec(`drop index ${ix.name}`);
  try {
    while (done < count) {
      const n = Math.min(CHUNK, count - done);
      // Wrapping is async (a KMS is a network call): prepare a chunk, then write it synchronously.
      const prepared = await Promise.all(
        Array.from({ length: n }, async (_, k) => {
          const i = done + k;
          const issued = issuedTimes[i]!;
          const tenantId = tenantIds[pickTenant()]!;
          const id = newId('token', issued);
          const dataKey = randomBytes(32);
          const { version, wrapped } = await c.keyring.wrap(dataKey, dataKeyAad(tenantId, id));
          return { i, issued, tenantId, id, dataKey, version, wrapped };
        }),
      );
      for (const t of prepared) {
        const r = rnd();
        const state = r < 0.78 ? 'active' : r < 0.85 ? 'suspended' : r < 0.93 ? 'expired' : 'revoked';
        const providerId = providerIds[Math.floor(rnd() * rnd() * providerIds.length)]!;
        const issuedIso = new Date(t.issued).toISOString();
        const used = rnd() < 0.75 ? new Date(t.issued + Math.floor(rnd() ** 0.3 * (now - t.issued))).toISOString() : null;
        const hasApprover = rnd() < 0.92;
        const hasPurpose = rnd() < 0.88;
        const review = rnd() < 0.7 ? new Date(now + Math.floor((rnd() * 455 - 90) * DAY)).toISOString() : null;
        const scopes = SCOPES.filter(() => rnd() < 0.3);
        if (scopes.length === 0) scopes.push('read');
        const workloads = WORKLOADS.filter(() => rnd() < 0.15);
        const owner = `team-${String(Math.floor(rnd() * OWNERS)).padStart(3, '0')}`;
        const key = new DataKey(t.tenantId, t.id, t.dataKey);
        const access = new Secret(`at-${t.id}-${t.i}`);
        const refresh = rnd() < 0.7 ? new Secret(`rt-${t.id}-${t.i}`) : null;
        insertKey.run(t.id, t.tenantId, t.version, t.wrapped, issuedIso);
        insertToken.run(
          t.id, t.tenantId, providerId, `user-${t.i}`, owner,
          hasApprover ? `approver-${t.i % 5000}` : null, hasApprover ? `approver-${t.i % 5000}@customer.example` : null, null, hasApprover ? issuedIso : null,
          rnd() < 0.97 ? 1 : 0, hasPurpose ? `sync ${scopes[0]} for ${workloads[0] ?? 'reporting'}` : null, review,
          JSON.stringify(workloads), JSON.stringify(scopes), state, state === 'active' ? 'registered' : `bench ${state}`, 'system:bench', used ?? issuedIso, issuedIso,
          new Date(t.issued + 3600_000).toISOString(), refresh ? new Date(t.issued + 90 * DAY).toISOString() : null, used, used ? workloads[0] ?? 'reporting' : null,
          c.vault.encrypt(key, 'access_token', access), refresh ? c.vault.encrypt(key, 'refresh_token', refresh) : null,
          c.vault.fingerprint(access), refresh ? c.vault.fingerprint(refresh) : null, null, issuedIso, used ?? issuedIso,
        );
        if (used) insertUsage.run(t.id, scopes[0]!, used);
        // Every token's registration is in the ledger, chained exactly as the service chains it.
        seq++;
        const content = {
          at: issuedIso,
          actor: 'system:bench',
          action: 'token.registered',
          tenantId: t.tenantId,
          subjectId: t.id,
          data: JSON.stringify({ providerId, owner, scopes, hasRefreshToken: refresh !== null }),
          prevHash,
        };
        const hash = entryHash(content);
        insertEntry.run(seq, content.at, content.actor, content.action, content.tenantId, content.subjectId, content.data, prevHash, hash);
        if (seq % every === 0) insertCheckpoint.run(seq, hash, issuedIso, signer.keyId, signer.sign(checkpointMessage(seq, hash)));
        prevHash = hash;
      }
      done += n;
      if (done % 200_000 === 0 || done === count) process.stderr.write(`  loaded ${done.toLocaleString('en-US')} tokens (${fmt((performance.now() - started) / 1000)} s)\n`);
    }
    const indexing = performance.now();
    for (const ix of indexes) sqlite.exec(ix.sql);
    sqlite.exec('COMMIT');
    // Leave the file as a long-running server would: the bulk transaction folded into the database.
    sqlite.pragma('wal_checkpoint(TRUNCATE)');
    console.log(`  (indexes rebuilt in ${fmt((performance.now() - indexing) / 1000)} s)`);
  } catch (err) {
    sqlite.exec('ROLLBACK');
    throw err;
  } finally {
    sqlite.close();
  }
  console.log(`  loaded ${count.toLocaleString('en-US')} tokens with data keys and ledger entries in ${fmt((performance.now() - started) / 1000)} s`);
  return { tenantIds, providerIds };
}

async function benchInventory(c: Custody, loaded: Loaded) {
  const admin = systemPrincipal('bench');
  const rnd = prng(7);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const owner = () => `team-${String(Math.floor(rnd() * OWNERS)).padStart(3, '0')}`;
  const states = ['active', 'suspended', 'expired', 'revoked'] as const;
  const combos: [string, () => Omit<TokenFilter, 'limit'>][] = [
    ['no filter', () => ({})],
    ['tenantId', () => ({ tenantId: pick(loaded.tenantIds) })],
    ['tenantId+state', () => ({ tenantId: pick(loaded.tenantIds), state: pick(states) })],
    ['state=suspended', () => ({ state: 'suspended' })],
    ['providerId+state', () => ({ providerId: pick(loaded.providerIds), state: pick(states) })],
    ['owner', () => ({ owner: owner() })],
    ['owner+state', () => ({ owner: owner(), state: pick(states) })],
    ['managed=false', () => ({ managed: false })],
    ['managed=true', () => ({ managed: true })],
    ['tenantId+managed=false', () => ({ tenantId: pick(loaded.tenantIds), managed: false })],
    ['dormantDays=180', () => ({ dormantDays: 180 })],
    ['q=owner text', () => ({ q: owner() })],
  ];
  const ITER = Number(process.env.BENCH_QUERY_ITERATIONS ?? 40);
  const all: number[] = [];
  // `q` is a substring search over six columns: no index serves it, so it is reported on its own.
  const filtersOnly: number[] = [];
  console.log('  inventory query latency (token service list, 50 per page, first and second page):');
  for (const [name, make] of combos) {
    const times: number[] = [];
    for (let i = 0; i < ITER; i++) {
      const filter = { ...make(), limit: 50 };
      const t0 = performance.now();
      const page = await c.tokens.list(admin, filter);
      times.push(performance.now() - t0);
      if (page.nextCursor) {
        const afterId = JSON.parse(Buffer.from(page.nextCursor, 'base64url').toString()).after as string;
        const t1 = performance.now();
        await c.tokens.list(admin, { ...filter, afterId });
        times.push(performance.now() - t1);
      }
    }
    times.sort((a, b) => a - b);
    all.push(...times);
    if (!name.startsWith('q=')) filtersOnly.push(...times);
    console.log(`    ${name.padEnd(24)} p50 ${fmt(percentile(times, 50)).padStart(7)} ms   p95 ${fmt(percentile(times, 95)).padStart(7)} ms   max ${fmt(times.at(-1)!).padStart(7)} ms`);
  }
  all.sort((a, b) => a - b);
  filtersOnly.sort((a, b) => a - b);
  report('filtered inventory query p95 (every filter combo, q search excluded)', `${fmt(percentile(filtersOnly, 95))} ms`, '≤ 50 ms', percentile(filtersOnly, 95) <= 50);
  report('inventory query p95 including the q search', `${fmt(percentile(all, 95))} ms`, '≤ 50 ms', percentile(all, 95) <= 50);
}

async function benchAppend(c: Custody) {
  const db = c.storage.db;
  const entry = (i: number) => ({ actor: 'system:bench', action: 'bench.event', tenantId: null, subjectId: `bench-${i}`, data: { i } });
  const SINGLE = Number(process.env.BENCH_APPENDS ?? 20_000);
  let cpu0 = process.cpuUsage();
  let t0 = performance.now();
  for (let i = 0; i < SINGLE; i++) await db.transaction().execute((trx) => c.ledger.append(trx, entry(i)));
  const single = SINGLE / ((performance.now() - t0) / 1000);
  report('ledger append, one entry per transaction, one after another', `${fmt(single, 0)} entries/s, ${cpuPer(cpu0, SINGLE)} µs CPU each`, '≥ 10,000 entries/s', single >= 10_000);

  // As a server sees them: many requests at once, each appending one entry in a short unit of work
  // of its own (Storage.grouped, as a change of one token is). On SQLite the ones that queue for the
  // connection commit in groups (src/storage/database.ts).
  const WRITERS = 16;
  const groups0 = c.storage.commitGroups?.();
  cpu0 = process.cpuUsage();
  t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      while (next < SINGLE) {
        const i = next++;
        await c.storage.grouped((trx) => c.ledger.append(trx, entry(i)));
      }
    }),
  );
  const concurrent = SINGLE / ((performance.now() - t0) / 1000);
  const groups1 = c.storage.commitGroups?.();
  const perCommit = groups0 && groups1 ? `, ${fmt((groups1.units - groups0.units) / Math.max(1, groups1.commits - groups0.commits), 1)} transactions a commit` : '';
  report(`ledger append, one entry per transaction, ${WRITERS} writers at once`, `${fmt(concurrent, 0)} entries/s, ${cpuPer(cpu0, SINGLE)} µs CPU each${perCommit}`, '≥ 10,000 entries/s', concurrent >= 10_000);

  const BATCH = 100;
  cpu0 = process.cpuUsage();
  t0 = performance.now();
  for (let i = 0; i < SINGLE; i += BATCH) {
    await db.transaction().execute((trx) => c.ledger.appendMany(trx, Array.from({ length: BATCH }, (_, k) => entry(i + k))));
  }
  const batched = SINGLE / ((performance.now() - t0) / 1000);
  report(`ledger append, ${BATCH} entries per transaction`, `${fmt(batched, 0)} entries/s, ${cpuPer(cpu0, SINGLE)} µs CPU each`, '≥ 10,000 entries/s', batched >= 10_000);
}

/**
 * Governance I: the directories a platform would have (most owning teams registered, a few
 * deactivated, a few unknown; most workloads registered), then the sweep over every live token in
 * a process of its own (bench/findings-child.mjs): goal ≤ 60 s and RSS ≤ 300 MB; and one token's
 * findings after a change, p99 ≤ 5 ms.
 */
async function seedDirectory(c: Custody) {
  const admin = systemPrincipal('bench');
  for (let i = 0; i < OWNERS - 10; i++) {
    const o = await c.directory.createOwner(admin, { name: `team-${String(i).padStart(3, '0')}`, kind: 'team' });
    if (i % 29 === 0) await c.directory.patchOwner(admin, o.id, { active: false });
  }
  for (const name of WORKLOADS.slice(0, 6)) await c.directory.createWorkload(admin, { name, owner: 'team-001' });
}

async function benchFindings(file: string, keyringFile: string) {
  const { spawnSync } = await import('node:child_process');
  // The child runs the compiled server: build it from the current source first.
  await buildDist();
  // Plain node, no TypeScript loader: the process measured is the server as `npm start` runs it.
  // With the C library's arenas bounded as `npm start` bounds them (package.json, README).
  const child = spawnSync(process.execPath, [path.join(path.dirname(new URL(import.meta.url).pathname), 'findings-child.mjs'), file, keyringFile], {
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
    env: { ...process.env, MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2' },
  });
  if (child.status !== 0) throw new Error(`findings child failed: ${child.stderr}`);
  const r = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as {
    first: { tokens: number; opened: number; durationMs: number; enforcement: { wouldNotify: number; wouldSuspend: number; durationMs: number } | null };
    second: { tokens: number; changed: number; durationMs: number };
    incremental: { p50: number; p99: number; max: number };
    peakRssMb: number;
    rssAfterFirstMb: number;
    rssAfterSecondMb: number;
    findings: { type: string; n: number }[];
    enforcement: { due: number; pass: { notified: number; suspended: number; durationMs: number }; rssBeforeMb: number; rssPeakMb: number; pendingJobs: number; delivered: number; deliverMs: number };
  };
  console.log(`  findings by type: ${r.findings.map((f) => `${f.type} ${f.n.toLocaleString('en-US')}`).join(', ')}`);
  const audit = r.first.enforcement;
  console.log(`  first sweep opened ${r.first.opened.toLocaleString('en-US')} findings; its enforcement pass (audit mode) ledgered ${(audit?.wouldNotify ?? 0).toLocaleString('en-US')} would-be notices and ${(audit?.wouldSuspend ?? 0).toLocaleString('en-US')} would-be suspensions in ${fmt((audit?.durationMs ?? 0) / 1000)} s`);
  report(`findings sweep, first (creates every finding) over ${r.first.tokens.toLocaleString('en-US')} live tokens`, `${fmt(r.first.durationMs / 1000)} s`, '≤ 60 s', r.first.durationMs <= 60_000);
  report(`findings sweep, steady state (${r.second.changed.toLocaleString('en-US')} changed)`, `${fmt(r.second.durationMs / 1000)} s`, '≤ 60 s', r.second.durationMs <= 60_000);
  report('sweeping server process peak RSS (first sweep, steady sweep, 1,000 changes)', `${fmt(r.peakRssMb, 0)} MB (peak ${fmt(r.rssAfterFirstMb, 0)} MB up to the end of the first sweep, ${fmt(r.rssAfterSecondMb, 0)} MB up to the end of the second)`, '≤ 300 MB', r.peakRssMb <= 300);
  report("one token's findings after a change (1,000 changes)", `p50 ${fmt(r.incremental.p50, 2)} ms, p99 ${fmt(r.incremental.p99, 2)} ms`, 'p99 ≤ 5 ms', r.incremental.p99 <= 5);
  const e = r.enforcement;
  console.log(
    `  enforcement pass (enforce mode) over ${r.second.tokens.toLocaleString('en-US')} live tokens with ${e.due.toLocaleString('en-US')} findings due: ${fmt(e.pass.durationMs / 1000, 2)} s, ` +
      `${e.pass.notified.toLocaleString('en-US')} notices (each with a reauthorisation link and a delivery job), ${e.pass.suspended.toLocaleString('en-US')} tokens suspended at once (forbidden scopes); ` +
      `RSS ${fmt(e.rssBeforeMb, 0)} → peak ${fmt(e.rssPeakMb, 0)} MB during the pass`,
  );
  console.log(`  notices delivered through the outbox (log notifier, unpaced): ${e.delivered.toLocaleString('en-US')} in ${fmt(e.deliverMs / 1000, 2)} s = ${fmt(e.delivered / (e.deliverMs / 1000), 0)} per second (a running worker paces them in the bulk lane, CUSTODY_REVOCATION_BULK_PER_SECOND, default 200/s)`);
}

/** The compiled server (dist/) from the current source, for the children that measure it as `npm start` runs it. */
let built = false;
async function buildDist() {
  if (built) return;
  const { spawnSync } = await import('node:child_process');
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`building dist failed: ${build.stdout}${build.stderr}`);
  built = true;
}

/** Verification in a process of the compiled server (bench/verify-child.mjs): its threads load compiled code, as a deployment's do. */
async function benchVerify(file: string, keyringFile: string) {
  const { spawnSync } = await import('node:child_process');
  await buildDist();
  const child = spawnSync(process.execPath, [path.join(path.dirname(new URL(import.meta.url).pathname), 'verify-child.mjs'), file, keyringFile], { encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`verify child failed: ${child.stderr}`);
  const r = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { seconds: number; cpuSeconds: number; entries: number; ok: boolean; checkpoints: number; threads: number };
  report(
    `ledger verify of ${r.entries.toLocaleString('en-US')} entries (${r.ok ? 'ok' : 'NOT OK'}, ${r.checkpoints} checkpoints, ${r.threads} threads)`,
    `${fmt(r.seconds, 2)} s (${fmt(r.cpuSeconds, 2)} s CPU)`,
    '≤ 2 s',
    r.seconds <= 2 && r.ok,
  );
}

export async function run(): Promise<void> {
  const count = Number(process.env.BENCH_TOKENS ?? 1_000_000);
  // BENCH_REUSE=<file> measures a database kept by an earlier BENCH_KEEP=1 run (its keyring sits beside it).
  const reuse = process.env.BENCH_REUSE;
  const dir = reuse ? path.dirname(reuse) : fs.mkdtempSync(path.join(os.tmpdir(), 'custody-bench-'));
  const file = reuse ?? path.join(dir, 'bench.db');
  const keyringFile = path.join(dir, 'keyring.txt');
  if (!reuse) fs.writeFileSync(keyringFile, `1:${randomBytes(32).toString('base64')}`, { mode: 0o600 });
  console.log(`\n== foundation: ${reuse ? 'reusing' : count.toLocaleString('en-US')} tokens on SQLite (${file})`);
  console.log(`  ${os.cpus().length} CPUs, load average ${loadAverage()} (wall-clock figures suffer on a busy machine; CPU figures less so)`);
  const config = loadConfig({ CUSTODY_ENV: 'test', CUSTODY_DATABASE_URL: file, CUSTODY_KEYRING: fs.readFileSync(keyringFile, 'utf8'), CUSTODY_LOG_LEVEL: 'silent' });
  const open = () => createCustody(config, { logger: createLogger('silent'), migrate: true, actor: 'system:bench' });
  let custody = await open();
  try {
    const loaded = reuse
      ? {
          tenantIds: (await custody.storage.db.selectFrom('tenants').select('id').orderBy('name').execute()).map((r) => r.id),
          providerIds: (await custody.storage.db.selectFrom('providers').select('id').orderBy('name').execute()).map((r) => r.id),
        }
      : await load(custody, file, count);
    // Measure a store opened on this data (as a server restarted after an import), not the
    // connection that watched the import.
    await custody.close();
    custody = await open();
    await benchVerify(file, keyringFile);
    await benchInventory(custody, loaded);
    await benchAppend(custody);
    if (!reuse) await seedDirectory(custody);
    await custody.close();
    await benchFindings(file, keyringFile);
    custody = await open();
  } finally {
    await custody.close();
    if (!process.env.BENCH_KEEP && !reuse) fs.rmSync(dir, { recursive: true, force: true });
    else console.log(`  kept ${file}`);
  }
  console.log(`  load average at the end: ${loadAverage()}`);
  const missed = results.filter((r) => !r.pass).length;
  console.log(`  foundation: ${results.length - missed} of ${results.length} goals met`);
}
