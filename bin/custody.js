#!/usr/bin/env node
// Runs the compiled CLI (dist/, built by `npm install` through the `prepare` script): no
// TypeScript compiler at run time, so every command starts in a fraction of a second.
import fs from 'node:fs';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!fs.existsSync(main)) {
  console.error('custody: the CLI is not built yet. Run `npm install` (or `npm run build`) in the Custody checkout first.');
  process.exit(1);
}
await import(main.href);
