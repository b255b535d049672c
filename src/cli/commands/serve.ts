import type { Command } from 'commander';
import { CliError, configFrom, EXIT, loadRuntime } from '../context.ts';

export function registerServe(program: Command) {
  program
    .command('serve')
    .description('Run the Custody server (migrates the database first)')
    .option('--database-url <url>', 'SQLite path or postgres:// URL (CUSTODY_DATABASE_URL)')
    .option('--host <host>', 'interface to listen on (CUSTODY_HOST)')
    .option('--port <port>', 'port to listen on (CUSTODY_PORT)')
    .option('--public-url <url>', 'externally visible base URL (CUSTODY_PUBLIC_URL)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (CUSTODY_LOG_LEVEL)')
    .action(async (flags) => {
      const config = configFrom(flags);
      const { startRuntime, createLogger, describeDatabase } = await loadRuntime();
      // Log lines (JSON) go to stdout; what is said to the person starting it goes to stderr, so the
      // one-time admin key is never interleaved with (or shipped alongside) the log stream.
      const logger = createLogger(config.logLevel);
      let runtime;
      try {
        runtime = await startRuntime(config, { logger, actor: 'system:serve' });
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'EADDRINUSE') throw new CliError(`${config.host}:${config.port} is already in use (another Custody?). Pick another port: --port N or CUSTODY_PORT=N.`, EXIT.usage, 'port_in_use');
        if (code === 'EACCES') throw new CliError(`Not allowed to listen on ${config.host}:${config.port}. Pick a port above 1024: --port N or CUSTODY_PORT=N.`, EXIT.usage, 'port_not_allowed');
        throw err;
      }
      const url = runtime.url!;
      // One write for the whole block: a reader (a person's terminal, a script waiting for the
      // key) never sees where it runs without the key that follows.
      const lines: string[] = [];
      const say = (line = '') => lines.push(`${line}\n`);
      say(`\nCustody is running at ${url}`);
      say(`  Console:   ${url}/   (sign in with an API key)`);
      say(`  API docs:  ${url}/docs   (OpenAPI: ${url}/openapi.json)`);
      say(`  Database:  ${describeDatabase(config.database)}`);
      if (runtime.firstAdminKey) {
        say('\n  First run: an admin API key was created. It is shown only this once:\n');
        say(`    ${runtime.firstAdminKey}\n`);
        say('  Use it as: export CUSTODY_API_KEY=<key>   (CLI),  Authorization: Bearer <key>  (API), or sign in to the console with it\n');
      }
      process.stderr.write(lines.join(''));

      const stop = (signal: string) => {
        logger.info({ signal }, 'shutting down');
        runtime.stop().then(
          () => process.exit(0),
          (err: Error) => {
            logger.error({ err: err.message }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
}
