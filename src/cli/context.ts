import type { Custody } from '../app/custody.ts';
import { loadConfig, type Config } from '../config/config.ts';
import { CliError, EXIT } from './errors.ts';

export { CliError, EXIT } from './errors.ts';

/** Flags mirror environment names: --database-url wins over CUSTODY_DATABASE_URL, and so on. */
export function configFrom(flags: { databaseUrl?: string; host?: string; port?: string; publicUrl?: string; logLevel?: string }): Config {
  const env: Record<string, string | undefined> = { ...process.env };
  if (flags.databaseUrl !== undefined) env.CUSTODY_DATABASE_URL = flags.databaseUrl;
  if (flags.host !== undefined) env.CUSTODY_HOST = flags.host;
  if (flags.port !== undefined) env.CUSTODY_PORT = flags.port;
  if (flags.publicUrl !== undefined) env.CUSTODY_PUBLIC_URL = flags.publicUrl;
  if (flags.logLevel !== undefined) env.CUSTODY_LOG_LEVEL = flags.logLevel;
  return loadConfig(env);
}

/**
 * The server runtime and what `serve` prints with, loaded only by the commands that need them:
 * the database drivers, Fastify and the OAuth client are most of the CLI's start-up time, and
 * `custody --help` or an API command must not pay for them.
 */
export async function loadRuntime() {
  const [{ startRuntime }, { createLogger }, { describeDatabase }] = await Promise.all([import('../app/runtime.ts'), import('../shared/logger.ts'), import('../config/config.ts')]);
  return { startRuntime, createLogger, describeDatabase };
}

/**
 * Opens the database directly (for commands that cannot or should not go through a server), and
 * closes it after `fn`. `bootstrap` commands (the first API key) may create a development keyring
 * on a new database, as `serve` does; the others need the keyring the database was made with, and
 * say so rather than create another.
 */
export async function withDirectCustody<T>(
  flags: { databaseUrl?: string },
  name: string,
  fn: (custody: Custody) => Promise<T>,
  options: { bootstrap?: boolean; migrate?: boolean; readOnly?: boolean } = {},
): Promise<T> {
  const config = configFrom({ ...flags, logLevel: process.env.CUSTODY_LOG_LEVEL ?? 'warn' });
  const [{ createCustody }, { createLogger }] = await Promise.all([import('../app/custody.ts'), import('../shared/logger.ts')]);
  const logger = createLogger(config.logLevel, process.stderr as unknown as Parameters<typeof createLogger>[1]);
  let custody;
  try {
    custody = await createCustody(config, { logger, migrate: options.migrate ?? true, generateKeyring: options.bootstrap === true, readOnly: options.readOnly === true, actor: `system:${name}` });
  } catch (err) {
    if ((err as Error).name === 'KmsError') throw new CliError((err as Error).message, EXIT.usage, 'keyring_missing');
    throw err;
  }
  try {
    return await fn(custody);
  } finally {
    await custody.close();
  }
}
