/**
 * `npm run bench`: the speed goals, printed with their figures. Benchmarks are not tests: nothing
 * here fails the build; it reports PASS or MISS against each goal.
 *
 *   npm run bench -- [--only foundation|oauth|gateway|cli|leaks|detection|signals|report|import|risk|console] [--scale N]
 *
 * --scale (or BENCH_TOKENS) sets how many token records the foundation loads (default 1,000,000).
 * Suites other than the foundation are written alongside it; one whose file is missing is skipped.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const SUITES = ['foundation', 'oauth', 'gateway', 'cli', 'leaks', 'detection', 'signals', 'report', 'import', 'risk', 'console'] as const;
type Suite = (typeof SUITES)[number];

function parseArgs(argv: string[]): { only?: Suite; scale?: number } {
  const out: { only?: Suite; scale?: number } = {};
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i];
    if (flag === '--only') {
      const v = value();
      if (!(SUITES as readonly string[]).includes(v ?? '')) fail(`--only must be one of ${SUITES.join(', ')} (got "${v ?? ''}")`);
      out.only = v as Suite;
    } else if (flag === '--scale') {
      const v = value() ?? '';
      const n = Number(v.replace(/_/g, ''));
      if (!Number.isInteger(n) || n < 1) fail(`--scale must be a positive whole number of token records (got "${v}")`);
      out.scale = n;
    } else if (flag === '--help' || flag === '-h') {
      console.log(`usage: npm run bench -- [--only ${SUITES.join('|')}] [--scale N]   (BENCH_TOKENS=N also sets the scale)`);
      process.exit(0);
    } else {
      fail(`unknown option ${flag} (try --help)`);
    }
  }
  return out;
}

function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(1);
}

const here = path.dirname(fileURLToPath(import.meta.url));
const args = parseArgs(process.argv.slice(2));
if (args.scale !== undefined) process.env.BENCH_TOKENS = String(args.scale);

console.log(`Custody benchmarks — Node ${process.version}, ${new Date().toISOString()}`);
for (const suite of SUITES) {
  if (args.only && args.only !== suite) continue;
  const file = path.join(here, `${suite}.bench.ts`);
  if (!fs.existsSync(file)) {
    console.log(`\n== ${suite}: skipped (bench/${suite}.bench.ts does not exist yet)`);
    continue;
  }
  const mod = (await import(pathToFileURL(file).href)) as { run?: () => Promise<void> };
  if (typeof mod.run !== 'function') {
    console.log(`\n== ${suite}: skipped (bench/${suite}.bench.ts exports no run())`);
    continue;
  }
  const started = performance.now();
  try {
    await mod.run();
  } catch (err) {
    // One suite failing to run must not hide the figures of the others.
    console.log(`\n== ${suite}: FAILED to run: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  }
  console.log(`  (${suite} took ${((performance.now() - started) / 1000).toFixed(1)} s)`);
}
