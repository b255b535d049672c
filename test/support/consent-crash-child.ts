/**
 * A Custody process for the consent crash test: it runs one customer consent through its own API
 * and is killed with SIGKILL by its own hand at the moment the consent records the approval
 * (`token.approved`), the point where consent used to be split between two transactions.
 * Env: CUSTODY_DATABASE_URL, CUSTODY_KEYRING, CUSTODY_PUBLIC_URL, CHILD_PROVIDER_ID, CHILD_TENANT_ID,
 * CHILD_KEY (a key that may start a consent), CHILD_ACCOUNT (who approves at the issuer).
 */
import { createCustody } from '../../src/app/custody.ts';
import { buildServer } from '../../src/app/server.ts';
import { loadConfig } from '../../src/config/config.ts';
import type { NewLedgerEntry } from '../../src/ledger/ledger.types.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { connectThroughCustody } from './oidc.ts';

const env = process.env;
const config = loadConfig({ ...env, CUSTODY_ENV: 'test', CUSTODY_LOG_LEVEL: 'silent' });
const custody = await createCustody(config, { logger: createLogger('silent') });
const app = await buildServer(custody);

// Die, without a chance to commit or roll back, when the approval is about to be written.
const dieAt = (entries: NewLedgerEntry[]) => {
  if (entries.some((e) => e.action === 'token.approved')) {
    process.stdout.write('DYING\n');
    process.kill(process.pid, 'SIGKILL');
  }
};
const { append, appendMany } = custody.ledger;
custody.ledger.append = (trx, entry) => (dieAt([entry]), append(trx, entry));
custody.ledger.appendMany = (trx, entries) => (dieAt(entries), appendMany(trx, entries));

await connectThroughCustody(app, {
  key: env.CHILD_KEY!,
  providerId: env.CHILD_PROVIDER_ID!,
  tenantId: env.CHILD_TENANT_ID!,
  account: env.CHILD_ACCOUNT!,
  publicUrl: config.publicUrl,
});
process.stdout.write('SURVIVED\n');
process.exit(0);
