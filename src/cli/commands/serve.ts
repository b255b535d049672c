import type { Command } from 'commander';
import { createCustody } from '../../app/custody.ts';
import { systemPrincipal } from '../../auth/roles.ts';
import { describeDatabase } from '../../config/config.ts';
import { buildServer } from '../../app/server.ts';
import { createLogger } from '../../shared/logger.ts';
import { configFrom } from '../context.ts';

const CHECKPOINT_EVERY_MS = 30_000;
const EXPIRY_SWEEP_EVERY_MS = 60_000;

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
      const logger = createLogger(config.logLevel);
      const custody = await createCustody(config, { logger, migrate: true, actor: 'system:serve' });
      const app = await buildServer(custody);

      let firstKey: string | undefined;
      if ((await custody.apiKeys.count()) === 0) {
        const created = await custody.apiKeys.create(systemPrincipal('first-run'), { role: 'admin', name: 'first-run admin' });
        firstKey = created.key;
      }

      // Hear other instances' revocations (PostgreSQL LISTEN) before taking the first gateway call.
      await custody.gateway.start();
      await app.listen({ host: config.host, port: config.port });
      // Upstream revocations committed before a crash (or by other instances) are delivered from here.
      custody.outbox.start();
      const address = app.server.address();
      const port = typeof address === 'object' && address ? address.port : config.port;
      const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
      console.log(`\nCustody is running at ${url}`);
      console.log(`  API docs:  ${url}/docs   (OpenAPI: ${url}/openapi.json)`);
      console.log(`  Database:  ${describeDatabase(config.database)}`);
      if (firstKey) {
        console.log('\n  First run: an admin API key was created. It is shown only this once:\n');
        console.log(`    ${firstKey}\n`);
        console.log('  Use it as: export CUSTODY_API_KEY=<key>   (CLI) or  Authorization: Bearer <key>  (API)\n');
      }

      // Signed checkpoints bound how much of the ledger's tail could be cut without detection.
      const checkpointTimer = setInterval(() => {
        custody.ledger
          .checkpointNow()
          .then((c) => c && logger.info({ checkpoint: c }, 'ledger checkpoint signed'))
          .catch((err: Error) => logger.error({ err: err.message }, 'ledger checkpoint failed'));
        // A file keyring may have gained a version (`custody keys rotate`): wrap new data keys with it.
        try {
          if (custody.keyring.reload()) logger.info('keyring reloaded: a new key version is in use');
        } catch (err) {
          logger.error({ err: (err as Error).message }, 'keyring reload failed; keeping the keys already loaded');
        }
      }, CHECKPOINT_EVERY_MS);
      const sweepTimer = setInterval(() => {
        custody.tokens
          .expireDue()
          .then((n) => n > 0 && logger.info({ expired: n }, 'expiry sweep'))
          .catch((err: Error) => logger.error({ err: err.message }, 'expiry sweep failed'));
      }, EXPIRY_SWEEP_EVERY_MS);
      checkpointTimer.unref();
      sweepTimer.unref();

      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'shutting down');
        clearInterval(checkpointTimer);
        clearInterval(sweepTimer);
        await app.close();
        await custody.outbox.stop().catch((err: Error) => logger.error({ err: err.message }, 'stopping the outbox worker failed'));
        // In-flight gateway calls have finished: write every queued usage event (custody.close
        // does it too; doing it here first keeps it before the final ledger checkpoint).
        await custody.gateway.close().catch((err: Error) => logger.error({ err: err.message }, 'writing gateway usage at shutdown failed'));
        await custody.ledger.checkpointNow().catch(() => null);
        await custody.close();
        process.exit(0);
      };
      process.on('SIGINT', () => void stop('SIGINT'));
      process.on('SIGTERM', () => void stop('SIGTERM'));
    });
}
