/**
 * The CLI's start-up time: how long `custody --help` and `custody --version` take from the shell,
 * as a person typing them sees it (wall time of the whole process: Node's own start, loading the
 * compiled CLI from dist/, printing, exiting). Goal: `custody --help` median ≤ 300 ms.
 *
 * Next to them, a bare `node -e ""` measured the same way: what Node itself costs on this machine
 * at this moment. The three commands run interleaved, in turn within each round (the order
 * rotating from round to round), so a busy moment of a shared machine lands on all of them alike.
 * One unmeasured run of each comes first (file cache). BENCH_CLI_RUNS (default 20) sets the rounds.
 *
 * It builds nothing: it runs what `npm run build` left in dist/, as `bin/custody.js` does. Nothing
 * here asserts: it prints PASS or MISS.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Number(process.env.BENCH_CLI_RUNS ?? 20);
const GOAL_MS = 300;

interface Target {
  name: string;
  args: string[];
  times: number[];
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
const fmt = (n: number, digits = 1) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/**
 * The environment the children run in: this one without NODE_OPTIONS, so nothing the benchmark
 * runner was started with (a TypeScript loader, say) is loaded into the commands timed.
 */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return env;
}

/** Runs one command to its end; its wall time in ms, or an error saying how it failed. */
function timeOnce(target: Target, env: NodeJS.ProcessEnv): number {
  const started = performance.now();
  const result = spawnSync(process.execPath, target.args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  const elapsed = performance.now() - started;
  if (result.error) throw new Error(`${target.name}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${target.name} exited with ${result.status ?? result.signal}: ${result.stderr.trim()}`);
  return elapsed;
}

export async function run(): Promise<void> {
  console.log('\n== cli (start-up time of the compiled CLI, wall time per command)');
  if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`BENCH_CLI_RUNS must be a positive whole number (got "${process.env.BENCH_CLI_RUNS}")`);
  const main = path.join(ROOT, 'dist', 'cli', 'main.js');
  if (!fs.existsSync(main)) {
    console.log('  skipped: the CLI is not built (dist/cli/main.js is missing). Run `npm run build` first, then `npm run bench -- --only cli`.');
    return;
  }
  const stale = newestSource(path.join(ROOT, 'src')) > fs.statSync(main).mtimeMs;
  if (stale) console.log('  note: src/ has changed since dist/ was built; `npm run build` to time the current code.');
  console.log(`  ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}, ${RUNS} rounds, Node ${process.version}`);

  const targets: Target[] = [
    { name: 'node -e ""', args: ['-e', ''], times: [] },
    { name: 'custody --help', args: ['bin/custody.js', '--help'], times: [] },
    { name: 'custody --version', args: ['bin/custody.js', '--version'], times: [] },
  ];
  const env = childEnv();
  for (const t of targets) timeOnce(t, env);
  for (let round = 0; round < RUNS; round++) {
    for (let i = 0; i < targets.length; i++) {
      const t = targets[(round + i) % targets.length]!;
      t.times.push(timeOnce(t, env));
    }
  }

  const medians = new Map<string, number>();
  for (const t of targets) {
    const sorted = [...t.times].sort((a, b) => a - b);
    const median = percentile(sorted, 50);
    medians.set(t.name, median);
    console.log(`  ${t.name.padEnd(18)} median ${fmt(median).padStart(6)} ms   p90 ${fmt(percentile(sorted, 90)).padStart(6)} ms   min ${fmt(sorted[0]!).padStart(6)} ms   max ${fmt(sorted.at(-1)!).padStart(6)} ms`);
  }
  const bare = medians.get('node -e ""')!;
  const help = medians.get('custody --help')!;
  const version = medians.get('custody --version')!;
  console.log(`  beyond a bare node start (medians): --help +${fmt(help - bare)} ms, --version +${fmt(version - bare)} ms`);
  console.log(`  custody --help: median ${fmt(help, 0)} ms (goal ≤ ${GOAL_MS} ms) ${help <= GOAL_MS ? 'PASS' : 'MISS'}`);
}

/** The newest modification time of the .ts files under `dir` (tests excluded), in ms. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(file));
    else if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) newest = Math.max(newest, fs.statSync(file).mtimeMs);
  }
  return newest;
}
