/**
 * The governance sweep measured in a process of its own, as a server would run it (so its peak RSS
 * is the server's, not the benchmark's): `node bench/findings-child.mjs <db file> <keyring file>`.
 * Plain JavaScript run by plain node on the compiled server, as `npm start` runs it: a TypeScript
 * loader (tsx) would add its own thread and some 35 MB to the process measured.
 * Prints one JSON line: the first sweep (which creates the findings), a second one (steady state),
 * the incremental re-evaluation of single tokens after a change, and the peak RSS (VmHWM).
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';

// The compiled server (dist/, as `npm start` runs it): its memory is what a deployment would see,
// without a TypeScript loader in every thread.
const dist = new URL('../dist/', import.meta.url);
const { createCustody } = await import(new URL('app/custody.js', dist).href);
const { systemPrincipal } = await import(new URL('auth/roles.js', dist).href);
const { loadConfig } = await import(new URL('config/config.js', dist).href);
const { createLogger } = await import(new URL('shared/logger.js', dist).href);

const [file, keyringFile] = process.argv.slice(2);
const config = loadConfig({ CUSTODY_ENV: 'test', CUSTODY_DATABASE_URL: file, CUSTODY_KEYRING: fs.readFileSync(keyringFile, 'utf8'), CUSTODY_LOG_LEVEL: 'silent' });
const custody = await createCustody(config, { logger: createLogger('silent'), actor: 'system:bench' });
const peakRss = () => Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024;
try {
  const first = await custody.findings.sweep();
  const rssAfterFirst = peakRss();
  const second = await custody.findings.sweep();
  const rssAfterSecond = peakRss();
  // Incremental: a change to one token (its purpose), then that token's findings brought up to date.
  // The 1,000 tokens are spread over the active ones (positions i × 7919 modulo their count), read
  // a page of ids at a time: holding every id (850k strings at 1M tokens, ~50 MB) would count the
  // bench's own memory as the server's.
  const db0 = custody.storage.db;
  const active = Number((await db0.selectFrom('tokens').select((eb) => eb.fn.countAll().as('n')).where('state', '=', 'active').executeTakeFirstOrThrow()).n);
  const wanted = new Map();
  for (let i = 0; i < 1000; i++) wanted.set((i * 7919) % active, [...(wanted.get((i * 7919) % active) ?? []), i]);
  /** @type {string[]} */
  const ids = [];
  let position = 0;
  for (let after = ''; ; ) {
    const page = await db0.selectFrom('tokens').select('id').where('state', '=', 'active').where('id', '>', after).orderBy('id').limit(10_000).execute();
    if (page.length === 0) break;
    for (const r of page) {
      for (const i of wanted.get(position++) ?? []) ids[i] = r.id;
    }
    after = page[page.length - 1].id;
  }
  const admin = systemPrincipal('bench');
  /** @type {number[]} */
  const times = [];
  for (let i = 0; i < 1000; i++) {
    const id = ids[i];
    await custody.tokens.patch(admin, id, { purpose: i % 2 === 0 ? null : `purpose ${i}` });
    await custody.findings.settled();
    const t0 = performance.now();
    await custody.findings.evaluateTokens([id]);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const pct = (p) => times[Math.min(times.length - 1, Math.ceil((p / 100) * times.length) - 1)];
  const findings = await custody.findings.repo.countsByType(custody.storage.db);
  const peakRssMb = peakRss();

  // Enforcement (issue 14): the global policy switched to enforce (written directly, so no sweep
  // re-arms every finding), 10,000 findings of active tokens made due, then one pass: notices
  // (with their links and delivery jobs) and the suspensions of the forbidden-scope ones.
  const db = custody.storage.db;
  await db.updateTable('policies').set({ document: JSON.stringify({ mode: 'enforce' }), version: 1 }).where('scope', '=', 'global').execute();
  const global = await db.selectFrom('policies').select('scope').where('scope', '=', 'global').executeTakeFirst();
  if (!global) await db.insertInto('policies').values({ scope: 'global', version: 1, document: JSON.stringify({ mode: 'enforce' }), updated_at: new Date().toISOString(), updated_by: 'bench' }).execute();
  await new Promise((r) => setTimeout(r, 2_100)); // the policy snapshot is reused for 2 s
  const enforced = ['dormant', 'review_overdue', 'reauthorization_due', 'approver_inactive', 'owner_orphaned', 'long_lived_credential', 'forbidden_scope'];
  const dueIds = (
    await db
      .selectFrom('findings as f')
      .innerJoin('tokens as t', 't.id', 'f.token_id')
      .select('f.id')
      .where('f.resolved_at', 'is', null)
      .where('f.status', '=', 'open')
      .where('f.type', 'in', [...enforced])
      .where('t.state', '=', 'active')
      .orderBy('f.id')
      .limit(10_000)
      .execute()
  ).map((r) => r.id);
  const now = new Date().toISOString();
  for (let i = 0; i < dueIds.length; i += 1_000) {
    await db.updateTable('findings').set({ enforcement_stage: null, next_action_at: now, notice_id: null }).where('id', 'in', dueIds.slice(i, i + 1_000)).execute();
  }
  let passRss = 0;
  const sampler = setInterval(() => (passRss = Math.max(passRss, process.memoryUsage().rss)), 25);
  const rssBefore = process.memoryUsage().rss;
  const pass = await custody.enforcement.pass();
  clearInterval(sampler);
  passRss = Math.max(passRss, process.memoryUsage().rss);
  // Delivery of those notices through the outbox (log notifier), unpaced: how fast the worker can go.
  const pending = await custody.outbox.pending();
  const d0 = performance.now();
  let delivered = 0;
  for (let n; (n = await custody.outbox.runOnce()) > 0; ) delivered += n;
  const deliverMs = performance.now() - d0;
  console.log(
    JSON.stringify({
      first,
      second,
      incremental: { p50: pct(50), p99: pct(99), max: times.at(-1) },
      peakRssMb,
      rssAfterFirstMb: rssAfterFirst,
      rssAfterSecondMb: rssAfterSecond,
      findings,
      enforcement: { due: dueIds.length, pass, rssBeforeMb: rssBefore / 1048576, rssPeakMb: passRss / 1048576, pendingJobs: pending, delivered, deliverMs },
    }),
  );
} finally {
  await custody.close();
}
