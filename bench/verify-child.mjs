/**
 * Ledger verification measured on the compiled server (dist/), as `npm start` runs it:
 * `node bench/verify-child.mjs <db file> <keyring file>`. Its worker threads then load compiled
 * JavaScript; under the bench's TypeScript loader (tsx) each thread would first load the loader and
 * compile the ledger's modules (about a second of a million-entry verify on two cores).
 * Prints one JSON line: wall and CPU time (every thread of the process), entries, checkpoints, ok.
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';

const dist = new URL('../dist/', import.meta.url);
const { createCustody } = await import(new URL('app/custody.js', dist).href);
const { loadConfig } = await import(new URL('config/config.js', dist).href);
const { createLogger } = await import(new URL('shared/logger.js', dist).href);

const [file, keyringFile] = process.argv.slice(2);
const config = loadConfig({ CUSTODY_ENV: 'test', CUSTODY_DATABASE_URL: file, CUSTODY_KEYRING: fs.readFileSync(keyringFile, 'utf8'), CUSTODY_LOG_LEVEL: 'silent' });
const custody = await createCustody(config, { logger: createLogger('silent'), actor: 'system:bench' });
try {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await custody.ledger.verify();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  console.log(JSON.stringify({ seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, entries: r.entries, ok: r.ok, checkpoints: r.checkpoints.verified, threads: r.threads }));
} finally {
  await custody.close();
}
