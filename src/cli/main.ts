import fs from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerAdmin } from './commands/admin.ts';
import { registerAlerts } from './commands/alerts.ts';
import { registerConnect } from './commands/connect.ts';
import { registerGovernance } from './commands/governance.ts';
import { registerWebhooks } from './commands/webhooks.ts';
import { registerLeaks } from './commands/leaks.ts';
import { registerImport } from './commands/import.ts';
import { registerProviders } from './commands/providers.ts';
import { registerReviews } from './commands/reviews.ts';
import { registerReport } from './commands/report.ts';
import { registerServe } from './commands/serve.ts';
import { registerSsf } from './commands/ssf.ts';
import { registerSignals } from './commands/signals.ts';
import { registerTokens } from './commands/tokens.ts';
import { CliError, EXIT, exitCodeForStatus } from './errors.ts';
import { escapeControls, guardTerminalOutput } from './output.ts';

// src/cli/main.ts and dist/cli/main.js both sit two levels below the package.
const { version } = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

// With --json, errors are JSON too (on stderr), so a script reads one format.
const json = process.argv.includes('--json');

const program = new Command('custody')
  .description('Custody: govern the OAuth tokens your platform holds for its customers.')
  .version(version, '-V, --version', 'print the version')
  .showHelpAfterError(json ? false : '(add --help for usage)')
  .configureOutput({ outputError: (text, write) => write(json ? '' : text) })
  .exitOverride()
  .addHelpText(
    'after',
    `
Exit codes: 0 ok · 1 error · 2 usage or invalid input · 3 not found · 4 refused (key or role)
            5 conflict · 6 ledger or report tampered · 7 server unreachable · 8 incomplete (run again)
Commands that talk to a server take --url (CUSTODY_URL; else CUSTODY_HOST/CUSTODY_PORT) and
--api-key (CUSTODY_API_KEY); --json prints JSON, errors too ({"error":{"code","message"}} on stderr).`,
  );

registerServe(program);
registerConnect(program);
registerTokens(program);
registerProviders(program);
registerGovernance(program);
registerReport(program);
registerWebhooks(program);
registerAlerts(program);
registerReviews(program);
registerLeaks(program);
registerImport(program);
registerSsf(program);
registerSignals(program);
registerAdmin(program);

function fail(code: string, message: string, exitCode: number): never {
  if (json) process.stderr.write(`${JSON.stringify({ error: { code, message } })}\n`);
  else process.stderr.write(`custody: ${escapeControls(message)}\n`);
  process.exit(exitCode);
}

// Text from the API (names, purposes, reasons) shown in a terminal must not steer it.
guardTerminalOutput();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version end here with exit code 0. Otherwise commander has already said what
    // was wrong (and how to get help); with --json it said nothing and the error is written here.
    if (err.exitCode === 0) process.exit(0);
    if (!json) process.exit(EXIT.usage);
    fail('usage_error', err.message.replace(/^error: /, ''), EXIT.usage);
  }
  if (err instanceof CliError) fail(err.code, err.message, err.exitCode);
  const e = err as Error & { code?: string };
  switch (e.name) {
    case 'ConfigError':
      fail('invalid_configuration', e.message, EXIT.usage);
      break;
    case 'KmsError':
      fail('keyring_error', e.message, EXIT.usage);
      break;
    case 'CustodyError':
      fail(e.code ?? 'error', e.message, exitCodeForStatus((e as Error & { status?: number }).status ?? 500));
      break;
  }
  fail('unexpected_error', `unexpected error: ${e.message}`, EXIT.error);
}
