import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/config.ts';
import { KmsError } from '../vault/kms.ts';
import { registerAdmin } from './commands/admin.ts';
import { registerResources } from './commands/resources.ts';
import { registerServe } from './commands/serve.ts';
import { CliError } from './context.ts';
import { CustodyError } from '../shared/errors.ts';

const program = new Command('custody')
  .description('Custody: govern the OAuth tokens your platform holds for its customers.')
  .showHelpAfterError()
  .exitOverride();

registerServe(program);
registerAdmin(program);
registerResources(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exit(err.exitCode);
  }
  const known = err instanceof CliError || err instanceof ConfigError || err instanceof KmsError || err instanceof CustodyError;
  console.error(`custody: ${known ? (err as Error).message : `unexpected error: ${(err as Error).message}`}`);
  process.exit(err instanceof CliError ? err.exitCode : 1);
}
