import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * A command's first `fetch` compiles the HTTP parser of Node's built-in client (undici's llhttp,
 * WebAssembly). With V8's optimising tier that costs every run ~0.15 s of CPU and, on a busy
 * machine, a second or more of waiting; Liftoff alone (V8's baseline WebAssembly compiler) runs the
 * same code without it. Nothing the CLI does or prints depends on which tier compiled the parser.
 */
const NODE_FLAGS = ['--liftoff-only'];

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real CLI (`node bin/custody.js …`) from the checkout, as a user would (with NODE_FLAGS). The environment
 * is this process's plus test defaults plus `env`; a key set to undefined is removed.
 */
export function spawnCli(args: string[], env: Record<string, string | undefined> = {}): { child: ChildProcess; done: Promise<CliResult> } {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, CUSTODY_ENV: 'test', CUSTODY_LOG_LEVEL: 'warn', ...env };
  for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
  const child = spawn(process.execPath, [...NODE_FLAGS, 'bin/custody.js', ...args], { cwd: ROOT, env: childEnv });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

/** Runs a CLI command to its end. */
export function runCli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return spawnCli(args, env).done;
}
