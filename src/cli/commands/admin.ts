import type { Command } from 'commander';
import { systemPrincipal, ROLES, type Role } from '../../auth/roles.ts';
import { describeDatabase } from '../../config/config.ts';
import { isId } from '../../shared/ids.ts';
import { openStorage } from '../../storage/database.ts';
import { migrateToLatest } from '../../storage/migrate.ts';
import { addKeyVersion, generateKeyMaterial } from '../../vault/local-keyring.ts';
import { apiClient } from '../api-client.ts';
import { CliError, configFrom, withDirectCustody } from '../context.ts';
import { progressBar } from '../progress.ts';
import type { VerifyResult } from '../../ledger/ledger.types.ts';

const dbOption = ['--database-url <url>', 'SQLite path or postgres:// URL (CUSTODY_DATABASE_URL)'] as const;

export function registerAdmin(program: Command) {
  program
    .command('migrate')
    .description('Bring the database schema up to date')
    .option(...dbOption)
    .action(async (flags) => {
      const config = configFrom(flags);
      const storage = openStorage(config.database);
      const bar = progressBar('Copying gateway usage events');
      try {
        const { applied } = await migrateToLatest(storage, { onProgress: (p) => bar.update(p.done, p.total) });
        bar.stop();
        console.log(applied.length ? `Applied ${applied.join(', ')} to ${describeDatabase(config.database)}` : `${describeDatabase(config.database)} is up to date`);
      } finally {
        bar.stop();
        await storage.close();
      }
    });

  const apikey = program.command('apikey').description('API keys, directly on the database (bootstrap)');
  apikey
    .command('create')
    .description('Create an API key; it is printed once')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .requiredOption('--name <name>', 'who or what the key is for')
    .option('--tenant <tenantId>', 'the tenant (required for tenant_admin and workload)')
    .option('--workload <name>', 'the workload a workload key acts as (default: its name)')
    .option('--json', 'print JSON ({key, apiKey})')
    .option(...dbOption)
    .action(async (flags) => {
      if (!(ROLES as readonly string[]).includes(flags.role)) throw new CliError(`--role must be one of ${ROLES.join(', ')} (got "${flags.role}")`);
      if (flags.tenant !== undefined && !isId('tenant', flags.tenant)) throw new CliError(`--tenant must be a tenant id like ten_01J… (got "${flags.tenant}")`);
      const created = await withDirectCustody(flags, 'cli', (c) =>
        c.apiKeys.create(systemPrincipal('cli'), { role: flags.role as Role, name: flags.name, tenantId: flags.tenant, workload: flags.workload }),
      );
      if (flags.json) console.log(JSON.stringify(created, null, 2));
      else console.log(`Created ${created.apiKey.role} key ${created.apiKey.id} (${created.apiKey.name}). Shown once:\n\n  ${created.key}\n`);
    });

  const ledger = program.command('ledger').description('The tamper-evident ledger');
  ledger
    .command('verify')
    .description('Verify the hash chain and signed checkpoints (on the database, or on a server with --url)')
    .option('--url <url>', 'ask a running server instead (CUSTODY_URL); needs CUSTODY_API_KEY')
    .option('--api-key <key>', 'API key for --url')
    .option('--json', 'print the result as JSON')
    .option(...dbOption)
    .action(async (flags) => {
      let result: VerifyResult;
      if (flags.url) {
        result = await apiClient({ url: flags.url, apiKey: flags.apiKey })<VerifyResult>('GET', '/v1/ledger/verify');
      } else {
        const bar = progressBar('Verifying ledger');
        try {
          result = await withDirectCustody(flags, 'cli', (c) => c.ledger.verify((p) => bar.update(p.checked, p.total)));
        } finally {
          bar.stop();
        }
      }
      if (flags.json) console.log(JSON.stringify(result, null, 2));
      else {
        console.log(
          `${result.ok ? 'OK' : 'TAMPERED'}: ${result.entries} entries, last ${result.lastSeq}, ` +
            `${result.checkpoints.verified}/${result.checkpoints.total} signed checkpoints valid (${result.durationMs} ms)`,
        );
        for (const p of result.problems) console.log(`  - [${p.kind}] ${p.message}`);
      }
      if (!result.ok) process.exitCode = 2;
    });

  const keys = program.command('keys').description('The key-encryption keyring');
  keys
    .command('generate')
    .description('Print a new random key, for CUSTODY_KEYRING ("VERSION:KEY" entries, comma-separated)')
    .action(() => console.log(generateKeyMaterial()));
  keys
    .command('rotate')
    .description('Add a key version (file keyrings) and re-wrap every data key under it, online and resumable')
    .option('--no-new-version', 're-wrap under the current newest version without adding one')
    .option('--json', 'print the result as JSON')
    .option(...dbOption)
    .action(async (flags) => {
      const config = configFrom(flags);
      const bar = progressBar('Re-wrapping data keys');
      try {
        const result = await withDirectCustody(flags, 'cli', async (c) => {
          const pending = await c.keyRotation.pendingRotation();
          if (!pending && flags.newVersion) {
            if (config.keyring.kind !== 'file') {
              throw new CliError(
                'The keyring comes from CUSTODY_KEYRING, which this command cannot change. Add a new version to it ' +
                  '(custody keys generate), restart the servers with it, then run `custody keys rotate --no-new-version`.',
              );
            }
            const version = addKeyVersion(config.keyring.file, c.clock.now());
            c.keyring.reload();
            await c.storage.db.transaction().execute((trx) =>
              c.ledger.append(trx, { actor: 'system:cli', action: 'keyring.version_added', data: { version, kms: c.keyring.name } }),
            );
            console.error(`Added key version ${version} to ${config.keyring.file}`);
          } else if (pending) {
            console.error(`Resuming the unfinished rotation to version ${pending.target_version} (started ${pending.started_at})`);
          }
          return c.keyRotation.rotate((p) => bar.update(p.done, p.total));
        });
        bar.stop();
        if (flags.json) console.log(JSON.stringify(result, null, 2));
        else if (result.completed) {
          console.log(`Done: ${result.rewrapped} data keys re-wrapped; every data key is now under version ${result.targetVersion}.`);
          console.log('Older versions are no longer needed for data keys; keep them until every server has restarted with the new keyring.');
        } else {
          console.log(`Incomplete: ${result.rewrapped} re-wrapped, ${result.failed.length} could not be (run again to resume):`);
          for (const f of result.failed.slice(0, 20)) console.log(`  - ${f.ownerId}: ${f.error}`);
          process.exitCode = 2;
        }
      } finally {
        bar.stop();
      }
    });
}
