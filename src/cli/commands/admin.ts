import fs from 'node:fs';
import type { Command } from 'commander';
import { ROLES, systemPrincipal, type Role } from '../../auth/roles.ts';
import { describeDatabase } from '../../config/config.ts';
import type { VerifyResult } from '../../ledger/ledger.types.ts';
import { api, endpoints, idArg, intOption, oneOf, withApi } from '../command-helpers.ts';
import { CliError, configFrom, EXIT, withDirectCustody } from '../context.ts';
import { printJson, table } from '../output.ts';
import { progressBar } from '../progress.ts';

const dbOption = ['--database-url <url>', 'SQLite path or postgres:// URL (CUSTODY_DATABASE_URL)'] as const;

/** A command that works on an existing database must not create an empty one by a typo. */
function existingDatabase(flags: { databaseUrl?: string }): void {
  const config = configFrom(flags);
  if (config.database.kind === 'sqlite' && config.database.file !== ':memory:' && !fs.existsSync(config.database.file)) {
    throw new CliError(
      `There is no database at ${config.database.file}: check --database-url or CUSTODY_DATABASE_URL (\`custody serve\` or \`custody migrate\` creates a new one).`,
      EXIT.notFound,
      'database_not_found',
    );
  }
}

export function registerAdmin(program: Command) {
  program
    .command('migrate')
    .description('Bring the database schema up to date')
    .option(...dbOption)
    .action(async (flags) => {
      const config = configFrom(flags);
      const [{ openStorage }, { migrateToLatest }] = await Promise.all([import('../../storage/database.ts'), import('../../storage/migrate.ts')]);
      const storage = openStorage(config.database);
      const bar = progressBar('Copying gateway usage events');
      try {
        const { applied } = await migrateToLatest(storage, { onProgress: (p) => bar.update(p.done, p.total) });
        await bar.stop();
        console.log(applied.length ? `Applied ${applied.join(', ')} to ${describeDatabase(config.database)}` : `${describeDatabase(config.database)} is up to date`);
      } finally {
        await bar.stop();
        await storage.close();
      }
    });

  const apikey = program.command('apikey').description('API keys');
  apikey
    .command('create')
    .description(
      'Create an API key; it is printed once. Through the server (as the key in CUSTODY_API_KEY, ledgered under it) when one is ' +
        'given; directly on the database with --database-url, or when no key exists yet (bootstrap)',
    )
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')} (required)`)
    .requiredOption('--name <name>', 'who or what the key is for (required)')
    .option('--tenant <tenantId>', 'the tenant (required for tenant_admin and workload)')
    .option('--workload <name>', 'the workload a workload key acts as (default: its name)')
    .option('--url <url>', 'Custody server (CUSTODY_URL; else CUSTODY_HOST/CUSTODY_PORT)')
    .option('--api-key <key>', 'an admin API key (CUSTODY_API_KEY)')
    .option('--json', 'print JSON ({key, apiKey})')
    .option(...dbOption)
    .action(async (flags) => {
      const role = oneOf<Role>(flags.role, '--role', ROLES)!;
      if (flags.tenant !== undefined) idArg('tenant', flags.tenant);
      if ((role === 'tenant_admin' || role === 'workload') && !flags.tenant) throw new CliError(`A ${role} key acts for one tenant: give --tenant ten_….`, EXIT.usage);
      if (role !== 'tenant_admin' && role !== 'workload' && flags.tenant) throw new CliError(`A ${role} key sees all tenants: leave --tenant out.`, EXIT.usage);
      if (flags.workload && role !== 'workload') throw new CliError('Only a workload key names a workload (--workload).', EXIT.usage);
      const body = { role, name: flags.name as string, ...(flags.tenant ? { tenantId: flags.tenant as string } : {}), ...(flags.workload ? { workload: flags.workload as string } : {}) };
      const throughServer = !flags.databaseUrl && Boolean(flags.apiKey ?? process.env.CUSTODY_API_KEY);
      // A server named without a key: say the key is missing, rather than quietly working on a local file.
      if (!throughServer && !flags.databaseUrl && (flags.url ?? process.env.CUSTODY_URL)) {
        throw new CliError('No API key: creating a key through the server needs an admin key (CUSTODY_API_KEY or --api-key).', EXIT.refused);
      }
      const created = throughServer
        ? await api(flags)((await endpoints.apiKeys()).create, { body })
        : (existingDatabase(flags),
          await withDirectCustody(flags, 'cli', async (c) => {
            // Without --database-url this is the bootstrap, for a database that has no key yet: once
            // one exists, keys are made by someone holding an admin key (ledgered under it).
            if (!flags.databaseUrl && (await c.apiKeys.list()).some((k) => k.revokedAt === null)) {
              throw new CliError(
                'API keys already exist: create one through the server with an admin key (CUSTODY_API_KEY or --api-key), or, holding the database and its keyring, work on it directly with --database-url.',
                EXIT.refused,
              );
            }
            return c.apiKeys.create(systemPrincipal('cli'), body);
          }));
      if (flags.json) printJson(created);
      else console.log(`Created ${created.apiKey.role} key ${created.apiKey.id} (${created.apiKey.name}). Shown once:\n\n  ${created.key}\n`);
    });
  withApi(apikey.command('list').description('List API keys (never their secrets)')).action(async (flags) => {
    const { items } = await api(flags)((await endpoints.apiKeys()).list);
    if (flags.json) return printJson(items);
    console.log(
      items.length
        ? table([['ID', 'ROLE', 'NAME', 'TENANT', 'WORKLOAD', 'LAST USED', 'REVOKED'], ...items.map((k) => [k.id, k.role, k.name, k.tenantId ?? '-', k.workload ?? '-', k.lastUsedAt ?? 'never', k.revokedAt ?? '-'])])
        : 'No API keys.',
    );
  });
  withApi(apikey.command('revoke <id>').description('Revoke an API key')).action(async (id: string, flags) => {
    const k = await api(flags)((await endpoints.apiKeys()).revoke, { params: { id: idArg('apiKey', id, 'API key') } });
    if (flags.json) printJson(k);
    else console.log(`Revoked ${k.id} (${k.name}, ${k.role}) at ${k.revokedAt}.`);
  });

  const ledger = program.command('ledger').description('The tamper-evident ledger');
  ledger
    .command('verify')
    .description('Verify the hash chain and signed checkpoints (on the database, or on a server with --url or CUSTODY_URL); exit 6 when tampered')
    .option('--url <url>', 'ask a running server instead (also when CUSTODY_URL is set); needs CUSTODY_API_KEY')
    .option('--api-key <key>', 'API key for --url')
    .option('--json', 'print the result as JSON')
    .option(...dbOption)
    .action(async (flags) => {
      let result: VerifyResult;
      // Through a server when one is named (--url or CUSTODY_URL); else on the database directly.
      if (flags.url || process.env.CUSTODY_URL) {
        const client = api(flags);
        const e = await endpoints.ledger();
        const bar = progressBar('Verifying ledger');
        // The server walks the chain in worker threads and reports how far it is on a route of its own,
        // polled here while the verification answers (only on a terminal: piped output gets the result alone).
        let done = false;
        const poll = (async () => {
          while (!done && process.stderr.isTTY) {
            await new Promise((r) => setTimeout(r, 250));
            if (done) break;
            const p = await client(e.verifyProgress, { query: {} }).catch(() => null);
            if (p?.running) bar.update(p.checked, p.total);
          }
        })();
        try {
          result = await client(e.verify, { query: {} });
          bar.update(result.entries, result.entries);
        } finally {
          done = true;
          await poll;
          await bar.stop();
        }
      } else {
        existingDatabase(flags);
        const bar = progressBar('Verifying ledger');
        try {
          // A copy is verified as it is: no migration, no key file made beside it, and no checkpoint
          // signed on the way out (that would sign over a cut tail and hide it).
          result = await withDirectCustody(flags, 'cli', (c) => c.ledger.verify((p) => bar.update(p.checked, p.total)), { migrate: false, readOnly: true });
        } finally {
          await bar.stop();
        }
      }
      if (flags.json) printJson(result);
      else {
        const n = (v: number) => v.toLocaleString('en-US');
        console.log(
          `${result.ok ? 'OK' : 'TAMPERED'}: ${n(result.entries)} ${result.entries === 1 ? 'entry' : 'entries'} up to seq ${n(result.lastSeq)}; ` +
            `${n(result.checkpoints.verified)} of ${n(result.checkpoints.total)} signed checkpoints valid (${n(result.durationMs)} ms${result.threads > 0 ? `, ${result.threads} ${result.threads === 1 ? 'thread' : 'threads'}` : ''})`,
        );
        console.log(`  last hash ${result.lastHash}`);
        if (result.checkpoints.unanchored > 0) console.log(`  ${n(result.checkpoints.unanchored)} ${result.checkpoints.unanchored === 1 ? 'entry' : 'entries'} after the last signed checkpoint (a running server signs one within a second)`);
        for (const p of result.problems) console.log(`  - [${p.kind}] ${p.message}`);
      }
      if (!result.ok) process.exitCode = EXIT.tampered;
    });
  withApi(ledger.command('list').description('Ledger entries, newest first (through a server)'))
    .option('--token <id>', 'entries about this token')
    .option('--subject <id>', 'entries about this object (any id)')
    .option('--tenant <id>', 'entries of this tenant')
    .option('--action <action>', 'e.g. token.revoked')
    .option('--order <order>', 'asc or desc (default desc)')
    .option('--limit <n>', 'at most this many (1–1000)', '50')
    .option('--cursor <seq>', 'continue after this entry (the previous page’s nextCursor)')
    .action(async (flags) => {
      const query = {
        ...(flags.token ? { tokenId: idArg('token', flags.token) } : {}),
        ...(flags.subject ? { subjectId: flags.subject as string } : {}),
        ...(flags.tenant ? { tenantId: idArg('tenant', flags.tenant) } : {}),
        ...(flags.action ? { action: flags.action as string } : {}),
        ...(flags.order ? { order: oneOf(flags.order, '--order', ['asc', 'desc'] as const)! } : {}),
        ...(flags.cursor ? { cursor: flags.cursor as string } : {}),
        limit: String(intOption(flags.limit, '--limit', 1, 1000)),
      };
      const page = await api(flags)((await endpoints.ledger()).list, { query });
      if (flags.json) return printJson(page);
      if (page.items.length === 0) return console.log('No entries match.');
      console.log(table([['SEQ', 'AT', 'ACTOR', 'ACTION', 'SUBJECT', 'DATA'], ...page.items.map((e) => [String(e.seq), e.at, e.actor, e.action, e.subjectId ?? '-', JSON.stringify(e.data).slice(0, 80)])]));
      if (page.nextCursor) console.log(`\nMore entries. Next page: --cursor ${page.nextCursor}`);
    });

  const keys = program.command('keys').description('The key-encryption keyring');
  keys
    .command('generate')
    .description('Print a new random key as CUSTODY_KEYRING takes it ("VERSION:KEY"; join versions with commas)')
    .option('--key-version <n>', 'the version number to give it', '1')
    .option('--json', 'print JSON ({"keyring": "1:…"})')
    .action(async (flags) => {
      const version = intOption(flags.keyVersion, '--key-version', 1, 1_000_000);
      const { generateKeyMaterial } = await import('../../vault/local-keyring.ts');
      const value = `${version}:${generateKeyMaterial()}`;
      if (flags.json) return printJson({ keyring: value });
      console.log(value);
      if (process.stdout.isTTY) console.error(`\nUse it as is: export CUSTODY_KEYRING='${version}:…'. To rotate, append a higher version: CUSTODY_KEYRING='1:…,2:…'.`);
    });
  keys
    .command('rotate')
    .description('Add a key version (file keyrings) and re-wrap every data key under it, online and resumable; exit 8 when some could not be (run again)')
    .option('--no-new-version', 're-wrap under the current newest version without adding one')
    .option('--json', 'print the result as JSON')
    .option(...dbOption)
    .action(async (flags) => {
      existingDatabase(flags);
      const config = configFrom(flags);
      const bar = progressBar('Re-wrapping data keys');
      try {
        const { addKeyVersion } = await import('../../vault/local-keyring.ts');
        const result = await withDirectCustody(flags, 'cli', async (c) => {
          const pending = await c.keyRotation.pendingRotation();
          if (!pending && flags.newVersion) {
            if (config.keyring.kind !== 'file') {
              throw new CliError(
                'The keyring comes from CUSTODY_KEYRING, which this command cannot change. Add a new version to it ' +
                  '(custody keys generate --key-version N), restart the servers with it, then run `custody keys rotate --no-new-version`.',
                EXIT.usage,
              );
            }
            const version = addKeyVersion(config.keyring.file, c.clock.now());
            c.keyring.reload();
            await c.storage.db.transaction().execute((trx) => c.ledger.append(trx, { actor: 'system:cli', action: 'keyring.version_added', data: { version, kms: c.keyring.name } }));
            console.error(`Added key version ${version} to ${config.keyring.file}`);
          } else if (pending) {
            console.error(`Resuming the unfinished rotation to version ${pending.target_version} (started ${pending.started_at})`);
          }
          return c.keyRotation.rotate((p) => bar.update(p.done, p.total));
        });
        await bar.stop();
        if (flags.json) printJson(result);
        else if (result.completed) {
          console.log(`Done: ${result.rewrapped} data keys re-wrapped; every data key is now under version ${result.targetVersion}.`);
          console.log('Older versions are no longer needed for data keys; keep them until every server has restarted with the new keyring.');
        } else {
          console.log(`Incomplete: ${result.rewrapped} re-wrapped, ${result.failed.length} could not be (run again to resume):`);
          for (const f of result.failed.slice(0, 20)) console.log(`  - ${f.ownerId}: ${f.error}`);
        }
        if (!result.completed) process.exitCode = EXIT.incomplete;
      } finally {
        await bar.stop();
      }
    });
}
