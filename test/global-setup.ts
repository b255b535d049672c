import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The newest modification time of the sources the build compiles. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (p.endsWith('.ts') || p.endsWith('.mjs')) newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

export default function setup() {
  // CI must exercise PostgreSQL: refuse to run a CI suite that would silently skip it.
  if (process.env.CI === 'true' && !process.env.CUSTODY_TEST_POSTGRES_URL) {
    throw new Error('CI=true but CUSTODY_TEST_POSTGRES_URL is not set: the PostgreSQL half of the suite would be skipped.');
  }
  if (!process.env.CUSTODY_TEST_POSTGRES_URL) {
    console.warn('[custody tests] CUSTODY_TEST_POSTGRES_URL is not set: storage tests run on SQLite only.');
  }
  // Tests that run `custody` as a user does run the compiled CLI (dist/): build it when the
  // sources are newer, so a test never exercises a stale build (`npm test` builds first anyway).
  const stamp = path.join(ROOT, 'dist', '.tsbuildinfo');
  const built = fs.existsSync(stamp) ? fs.statSync(stamp).mtimeMs : 0;
  if (newestSource(path.join(ROOT, 'src')) > built) {
    console.warn('[custody tests] dist/ is older than src/: building it (npm run build)');
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit', cwd: ROOT });
    // tsc leaves the stamp alone when nothing changed in what it emits: touch it so the check holds.
    fs.utimesSync(stamp, new Date(), new Date());
  }
}
