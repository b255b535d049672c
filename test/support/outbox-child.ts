/**
 * A Custody process for the crash test: it revokes one token (committing the outbox job) with its
 * worker running, prints COMMITTED, and keeps going until the test kills it with SIGKILL.
 * Env: CUSTODY_DATABASE_URL, CUSTODY_KEYRING, CHILD_TOKEN_ID.
 */
import { createCustody } from '../../src/app/custody.ts';
import { systemPrincipal } from '../../src/auth/roles.ts';
import { loadConfig } from '../../src/config/config.ts';
import { createLogger } from '../../src/shared/logger.ts';

const config = loadConfig({ ...process.env, CUSTODY_ENV: 'test', CUSTODY_LOG_LEVEL: 'silent' });
const custody = await createCustody(config, {
  logger: createLogger('silent'),
  oauth: { requestTimeoutMs: 60_000, outbox: { pollMs: 20, leaseMs: 500, baseDelayMs: 50, maxDelayMs: 200 } },
});
custody.outbox.start();
await custody.tokens.transition(systemPrincipal('crash-test'), process.env.CHILD_TOKEN_ID!, 'revoke', 'crash test');
process.stdout.write('COMMITTED\n');
setInterval(() => {}, 1000);
