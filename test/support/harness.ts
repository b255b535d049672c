import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Custody, CustodyOptions } from '../../src/app/custody.ts';
import { startRuntime, type RuntimeOptions } from '../../src/app/runtime.ts';
import { systemPrincipal, type Principal, type Role } from '../../src/auth/roles.ts';
import { loadConfig, type Config } from '../../src/config/config.ts';
import type { Clock } from '../../src/shared/clock.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from './databases.ts';

/** A keyring string of one fresh version, as CUSTODY_KEYRING takes it. */
export function testKeyring(versions = 1): string {
  return Array.from({ length: versions }, (_, i) => `${i + 1}:${randomBytes(32).toString('base64')}`).join(',');
}

export interface Harness {
  db: TestDatabase;
  config: Config;
  custody: Custody;
  app: FastifyInstance;
  /** Every log line the server wrote, as text. */
  logs: string[];
  admin: Principal;
  close(): Promise<void>;
}

export interface HarnessOptions {
  clock?: Clock;
  env?: Record<string, string>;
  keyring?: string;
  /** Reuse a database (e.g. to restart on the same data). */
  database?: TestDatabase;
  /** OAuth client and outbox tuning (short timeouts and backoff in tests). */
  oauth?: CustodyOptions['oauth'];
  /** Runtime timers (a short shutdown grace in tests). */
  timers?: RuntimeOptions['timers'];
  /** Notifiers beyond the log (tests of notices). */
  notifiers?: RuntimeOptions['notifiers'];
}

/** A migrated Custody on its own fresh database, with the HTTP server built (not listening). */
export async function startHarness(kind: DatabaseKind, options: HarnessOptions = {}): Promise<Harness> {
  const db = options.database ?? (await createTestDatabase(kind));
  const keyring = options.keyring ?? testKeyring();
  const config = loadConfig({
    CUSTODY_ENV: 'test',
    CUSTODY_DATABASE_URL: db.config.kind === 'sqlite' ? db.config.file : db.config.url,
    CUSTODY_KEYRING: keyring,
    CUSTODY_LOG_LEVEL: 'info',
    // Tests send many requests from one address and key; test/rate-limit.test.ts sets limits itself.
    CUSTODY_RATE_LIMIT_PER_ADDRESS: '0',
    CUSTODY_RATE_LIMIT_PER_KEY: '0',
    ...options.env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const logger = createLogger('info', sink);
  // The runtime `serve` uses, without listening or background work: tests drive those themselves.
  const runtime = await startRuntime(config, {
    logger,
    listen: false,
    background: false,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.oauth ? { oauth: options.oauth } : {}),
    ...(options.timers ? { timers: options.timers } : {}),
    ...(options.notifiers ? { notifiers: options.notifiers } : {}),
    // Enforcement passes run when a test sweeps (or asks), not on a timer behind its back.
    enforceAfterChanges: false,
  });
  const { custody, app } = runtime;
  return {
    db,
    config,
    custody,
    app,
    logs,
    admin: systemPrincipal('test'),
    async close() {
      await runtime.stop();
      if (!options.database) await db.drop();
    },
  };
}

/** Creates an API key of a role through the service and returns the bearer string. */
export async function keyFor(h: Harness, role: Role, tenantId?: string, workload?: string): Promise<string> {
  const { key } = await h.custody.apiKeys.create(h.admin, { role, name: `${role}-${randomBytes(3).toString('hex')}`, ...(tenantId ? { tenantId } : {}), ...(workload ? { workload } : {}) });
  return key;
}

export interface Seeded {
  tenantA: string;
  tenantB: string;
  providerId: string;
  tokenA: string;
  tokenB: string;
}

export const CANARY_PREFIX = 'CANARY-SECRET-';

/** Two tenants, one provider, one token in each tenant. */
export async function seed(h: Harness, opts: { revocationEndpoint?: string } = {}): Promise<Seeded> {
  const tenantA = (await h.custody.tenants.create(h.admin, { name: `acme-${randomBytes(3).toString('hex')}` })).id;
  const tenantB = (await h.custody.tenants.create(h.admin, { name: `globex-${randomBytes(3).toString('hex')}` })).id;
  const provider = await h.custody.providers.create(h.admin, {
    name: `provider-${randomBytes(3).toString('hex')}`,
    tokenEndpoint: 'https://issuer.example.com/token',
    revocationEndpoint: opts.revocationEndpoint ?? 'https://issuer.example.com/revoke',
    clientId: 'custody-client',
    clientSecret: 'provider-client-secret',
    apiBaseUrls: ['https://api.example.com/v1'],
  });
  const token = async (tenantId: string) =>
    (
      await h.custody.tokens.register(h.admin, {
        tenantId,
        providerId: provider.id,
        owner: 'team-integrations',
        approver: { subject: 'alice', email: 'alice@customer.example' },
        purpose: 'sync invoices',
        workloads: ['billing-sync'],
        scopes: ['invoices.read'],
        accessToken: new (await import('../../src/shared/secret.ts')).Secret(`at-${randomBytes(8).toString('hex')}`),
      })
    ).id;
  return { tenantA, tenantB, providerId: provider.id, tokenA: await token(tenantA), tokenB: await token(tenantB) };
}

export function bearer(key: string) {
  return { authorization: `Bearer ${key}` };
}
