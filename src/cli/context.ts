import { loadConfig, type Config } from '../config/config.ts';
import { createCustody, type Custody } from '../app/custody.ts';
import { systemPrincipal } from '../auth/roles.ts';
import { createLogger } from '../shared/logger.ts';

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

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

/** Opens the database directly (for commands that cannot or should not go through a server). */
export async function withDirectCustody<T>(flags: { databaseUrl?: string }, name: string, fn: (custody: Custody) => Promise<T>): Promise<T> {
  const config = configFrom({ ...flags, logLevel: process.env.CUSTODY_LOG_LEVEL ?? 'warn' });
  const logger = createLogger(config.logLevel, process.stderr as unknown as Parameters<typeof createLogger>[1]);
  const custody = await createCustody(config, { logger, migrate: true, actor: systemPrincipal(name).actor });
  try {
    return await fn(custody);
  } finally {
    await custody.close();
  }
}
