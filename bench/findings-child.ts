/**
 * The governance sweep measured in a process of its own, as a server would run it (so its peak RSS
 * is the server's, not the benchmark's): `tsx bench/findings-child.ts <db file> <keyring file>`.
 * Prints one JSON line: the first sweep (which creates the findings), a second one (steady state),
 * the incremental re-evaluation of single tokens after a change, and the peak RSS (VmHWM).
 */
import fs from 'node:fs';
import type * as CustodyModule from '../src/app/custody.ts';
import type * as RolesModule from '../src/auth/roles.ts';
import type * as ConfigModule from '../src/config/config.ts';
import type * as LoggerModule from '../src/shared/logger.ts';

// The compiled server (dist/, as `npm start` runs it): its memory is what a deployment would see,
// without a TypeScript loader in every thread.
const dist = new URL('../dist/', import.meta.url);
const { createCustody } = (await import(new URL('app/custody.js', dist).href)) as typeof CustodyModule;
const { systemPrincipal } = (await import(new URL('auth/roles.js', dist).href)) as typeof RolesModule;
const { loadConfig } = (await import(new URL('config/config.js', dist).href)) as typeof ConfigModule;
const { createLogger } = (await import(new URL('shared/logger.js', dist).href)) as typeof LoggerModule;

const [file, keyringFile] = process.argv.slice(2) as [string, string];
const config = loadConfig({ CUSTODY_ENV: 'test', CUSTODY_DATABASE_URL: file, CUSTODY_KEYRING: fs.readFileSync(keyringFile, 'utf8'), CUSTODY_LOG_LEVEL: 'silent' });
const custody = await createCustody(config, { logger: createLogger('silent'), actor: 'system:bench' });
const peakRss = () => Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024;
try {
  const first = await custody.findings.sweep();
  const rssAfterFirst = peakRss();
  const second = await custody.findings.sweep();
  // Incremental: a change to one token (its purpose), then that token's findings brought up to date.
  const ids = (await custody.storage.db.selectFrom('tokens').select('id').where('state', '=', 'active').orderBy('id').execute()).map((r) => r.id);
  const admin = systemPrincipal('bench');
  const times: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const id = ids[(i * 7919) % ids.length]!;
    await custody.tokens.patch(admin, id, { purpose: i % 2 === 0 ? null : `purpose ${i}` });
    await custody.findings.settled();
    const t0 = performance.now();
    await custody.findings.evaluateTokens([id]);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const pct = (p: number) => times[Math.min(times.length - 1, Math.ceil((p / 100) * times.length) - 1)]!;
  const findings = await custody.findings.repo.countsByType(custody.storage.db);
  console.log(JSON.stringify({ first, second, incremental: { p50: pct(50), p99: pct(99), max: times.at(-1) }, peakRssMb: peakRss(), rssAfterFirstMb: rssAfterFirst, findings }));
} finally {
  await custody.close();
}
