import { isIP } from 'node:net';
import path from 'node:path';
import { parseSsoConfig, type SsoConfig } from './sso-config.ts';

/**
 * All settings, parsed once at start-up from the environment (and CLI flags, which win), with
 * every problem reported at once. The result is frozen and passed down; nothing below reads
 * process.env.
 */
export interface Config {
  readonly env: 'development' | 'production' | 'test';
  readonly database: DatabaseConfig;
  readonly host: string;
  readonly port: number;
  readonly publicUrl: string;
  readonly keyring: KeyringSource;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readonly bodyLimitBytes: number;
  /** An API request's body must arrive within this (ms), its headers within the lesser of this and 15 s: else 408 request_timeout. */
  readonly requestTimeoutMs: number;
  readonly ledgerCheckpointEvery: number;
  /** The default of the global policy's dormantAfterDays (the policy, once set, decides). */
  readonly dormantAfterDays: number;
  /** Seconds between governance sweeps (findings over every live token); 0: only on demand. */
  readonly sweepIntervalSeconds: number;
  /**
   * Which kinds of suspension a customer's new consent lifts (the rest only admin or security
   * resume), as given; the composition root checks them against the token capability's kinds.
   */
  readonly consentLiftsSuspensions: readonly string[];
  readonly gateway: GatewayConfig;
  /** Requests a minute per source address and per API key, for every route but the gateway (0: off). */
  readonly rateLimits: { readonly perAddressPerMinute: number; readonly perKeyPerMinute: number };
  /** How long the outbox keeps retrying an upstream revocation before it gives up with an alert. */
  readonly revocationGiveUpMs: number;
  /** Upstream revocations of a bulk revocation started per second (per instance): the drain is paced. */
  readonly revocationBulkPerSecond: number;
  /** Where the SIEM file sink appends OCSF JSON lines (CUSTODY_SIEM_FILE); null: no sink. */
  readonly siemFile: string | null;
  /** Days the webhook delivery log keeps its rows (CUSTODY_WEBHOOK_LOG_RETENTION_DAYS; 0: forever). */
  readonly webhookLogRetentionDays: number;
  /** The console's sign-in sessions (src/sessions). */
  readonly sessions: { readonly ttlMs: number; readonly idleMs: number };
  /** Single sign-on to the console through an OpenID Connect issuer (CUSTODY_SSO_*); null: API keys only. */
  readonly sso: SsoConfig | null;
  /** Where the built console is (CUSTODY_CONSOLE_DIR); null: dist/web of this installation. */
  readonly consoleDir: string | null;
  /**
   * Reverse proxies whose X-Forwarded-For is believed (CUSTODY_TRUST_PROXY: addresses or CIDR
   * ranges); empty: none, and every request's address is the connection's.
   */
  readonly trustProxy: readonly string[];
}

/** The gateway's limits (src/gateway). */
export interface GatewayConfig {
  readonly bodyLimitBytes: number;
  readonly upstreamTimeoutMs: number;
  /** Longest a cached token decision is used before the database is read again (fallback for lost notifications). */
  readonly recheckMs: number;
  /** Gateway usage events older than this many days are deleted; 0 keeps them forever. */
  readonly usageRetentionDays: number;
  /** A caller's body that stops arriving, or a response the caller stops reading, is cut after this long. */
  readonly idleTimeoutMs: number;
  /** No call lasts longer than this, whatever moves. */
  readonly callDeadlineMs: number;
  /** A caller's body or reading slower than this many bytes a second is cut (0: no minimum). */
  readonly minBytesPerSecond: number;
  /** Upstream connections per provider origin. */
  readonly connectionsPerOrigin: number;
  /** Calls one tenant may have in flight to one provider origin; past it, 429 concurrency_limited. */
  readonly maxCallsPerTenant: number;
  /** Calls one workload of a tenant may have in flight to one provider origin. */
  readonly maxCallsPerWorkload: number;
}

export type DatabaseConfig =
  | { readonly kind: 'sqlite'; readonly file: string }
  | { readonly kind: 'postgres'; readonly url: string };

/** Where the key-encryption keys come from: inline (`CUSTODY_KEYRING`) or a key file. */
export type KeyringSource =
  | { readonly kind: 'inline'; readonly value: string }
  | { readonly kind: 'file'; readonly file: string; readonly createIfMissing: boolean };

export type ConfigInput = Record<string, string | undefined>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Configuration is not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function parseDatabaseUrl(value: string): DatabaseConfig | undefined {
  if (/^postgres(ql)?:\/\//.test(value)) {
    try {
      new URL(value);
      return { kind: 'postgres', url: value };
    } catch {
      return undefined;
    }
  }
  if (value.startsWith('sqlite:')) return { kind: 'sqlite', file: value.slice('sqlite:'.length).replace(/^\/\//, '') };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return undefined;
  return { kind: 'sqlite', file: value };
}

/**
 * @param input environment variables, with flags already merged over them by the caller
 * @param cwd the directory relative paths are taken from
 */
export function loadConfig(input: ConfigInput, cwd: string = process.cwd()): Config {
  const problems: string[] = [];
  const get = (name: string): string | undefined => {
    const v = input[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };

  const envName = get('CUSTODY_ENV') ?? (get('NODE_ENV') === 'production' ? 'production' : get('NODE_ENV') === 'test' ? 'test' : 'development');
  if (envName !== 'development' && envName !== 'production' && envName !== 'test') {
    problems.push(`CUSTODY_ENV: must be development, production or test (got "${envName}")`);
  }

  const dbRaw = get('CUSTODY_DATABASE_URL') ?? './data/custody.db';
  let database = parseDatabaseUrl(dbRaw);
  if (!database) {
    problems.push('CUSTODY_DATABASE_URL: must be a SQLite file path (e.g. ./data/custody.db) or a postgres:// URL');
  } else if (database.kind === 'sqlite' && database.file !== ':memory:') {
    database = { kind: 'sqlite', file: path.resolve(cwd, database.file) };
  }

  const host = get('CUSTODY_HOST') ?? '127.0.0.1';
  const port = intSetting('CUSTODY_PORT', get('CUSTODY_PORT'), 7420, 0, 65535, problems);

  let publicUrl = get('CUSTODY_PUBLIC_URL') ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  try {
    const u = new URL(publicUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
    publicUrl = publicUrl.replace(/\/+$/, '');
  } catch {
    problems.push('CUSTODY_PUBLIC_URL: must be an absolute http(s) URL such as https://custody.example.com');
  }

  const logLevel = (get('CUSTODY_LOG_LEVEL') ?? 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    problems.push(`CUSTODY_LOG_LEVEL: must be one of ${LOG_LEVELS.join(', ')} (got "${logLevel}")`);
  }

  const inline = get('CUSTODY_KEYRING');
  const keyFile = get('CUSTODY_KEYRING_FILE');
  let keyring: KeyringSource;
  if (inline && keyFile) {
    problems.push('CUSTODY_KEYRING and CUSTODY_KEYRING_FILE: set one, not both');
    keyring = { kind: 'inline', value: inline };
  } else if (inline) {
    keyring = { kind: 'inline', value: inline };
  } else {
    const dataDir = database?.kind === 'sqlite' && database.file !== ':memory:' ? path.dirname(database.file) : path.resolve(cwd, 'data');
    keyring = {
      kind: 'file',
      file: keyFile ? path.resolve(cwd, keyFile) : path.join(dataDir, 'keyring.json'),
      // A production deployment must bring its own keys; generating one silently would hide a lost key.
      createIfMissing: envName !== 'production',
    };
  }

  const bodyLimitBytes = intSetting('CUSTODY_BODY_LIMIT_BYTES', get('CUSTODY_BODY_LIMIT_BYTES'), 256 * 1024, 1024, 64 * 1024 * 1024, problems);
  const requestTimeoutMs = intSetting('CUSTODY_REQUEST_TIMEOUT_MS', get('CUSTODY_REQUEST_TIMEOUT_MS'), 30_000, 100, 600_000, problems);
  const ledgerCheckpointEvery = intSetting('CUSTODY_LEDGER_CHECKPOINT_EVERY', get('CUSTODY_LEDGER_CHECKPOINT_EVERY'), 1000, 1, 10_000_000, problems);
  const dormantAfterDays = intSetting('CUSTODY_DORMANT_AFTER_DAYS', get('CUSTODY_DORMANT_AFTER_DAYS'), 90, 1, 3650, problems);
  const liftsRaw = input.CUSTODY_CONSENT_LIFTS_SUSPENSIONS === undefined ? 'customer,policy' : input.CUSTODY_CONSENT_LIFTS_SUSPENSIONS.trim();
  const consentLiftsSuspensions = liftsRaw === '' ? [] : liftsRaw.split(',').map((k) => k.trim());
  const gateway: GatewayConfig = Object.freeze({
    bodyLimitBytes: intSetting('CUSTODY_GATEWAY_BODY_LIMIT_BYTES', get('CUSTODY_GATEWAY_BODY_LIMIT_BYTES'), 10 * 1024 * 1024, 1024, 1024 * 1024 * 1024, problems),
    upstreamTimeoutMs: intSetting('CUSTODY_GATEWAY_TIMEOUT_MS', get('CUSTODY_GATEWAY_TIMEOUT_MS'), 30_000, 100, 600_000, problems),
    recheckMs: intSetting('CUSTODY_GATEWAY_RECHECK_MS', get('CUSTODY_GATEWAY_RECHECK_MS'), 2_000, 10, 60_000, problems),
    usageRetentionDays: intSetting('CUSTODY_USAGE_RETENTION_DAYS', get('CUSTODY_USAGE_RETENTION_DAYS'), 90, 0, 3650, problems),
    idleTimeoutMs: intSetting('CUSTODY_GATEWAY_IDLE_TIMEOUT_MS', get('CUSTODY_GATEWAY_IDLE_TIMEOUT_MS'), 15_000, 100, 600_000, problems),
    callDeadlineMs: intSetting('CUSTODY_GATEWAY_CALL_DEADLINE_MS', get('CUSTODY_GATEWAY_CALL_DEADLINE_MS'), 300_000, 500, 3_600_000, problems),
    minBytesPerSecond: intSetting('CUSTODY_GATEWAY_MIN_BYTES_PER_SECOND', get('CUSTODY_GATEWAY_MIN_BYTES_PER_SECOND'), 1024, 0, 1_000_000_000, problems),
    connectionsPerOrigin: intSetting('CUSTODY_GATEWAY_CONNECTIONS_PER_ORIGIN', get('CUSTODY_GATEWAY_CONNECTIONS_PER_ORIGIN'), 256, 1, 4096, problems),
    maxCallsPerTenant: intSetting('CUSTODY_GATEWAY_MAX_CALLS_PER_TENANT', get('CUSTODY_GATEWAY_MAX_CALLS_PER_TENANT'), 64, 1, 4096, problems),
    maxCallsPerWorkload: intSetting('CUSTODY_GATEWAY_MAX_CALLS_PER_WORKLOAD', get('CUSTODY_GATEWAY_MAX_CALLS_PER_WORKLOAD'), 48, 1, 4096, problems),
  });
  if (gateway.maxCallsPerTenant > gateway.connectionsPerOrigin) {
    problems.push(
      `CUSTODY_GATEWAY_MAX_CALLS_PER_TENANT: must not exceed CUSTODY_GATEWAY_CONNECTIONS_PER_ORIGIN (${gateway.connectionsPerOrigin}), or one tenant could hold every connection (the defaults are 64 of 256, and 48 per workload)`,
    );
  }
  if (gateway.maxCallsPerWorkload > gateway.maxCallsPerTenant) {
    problems.push(`CUSTODY_GATEWAY_MAX_CALLS_PER_WORKLOAD: must not exceed CUSTODY_GATEWAY_MAX_CALLS_PER_TENANT (${gateway.maxCallsPerTenant}; the default is 48 per workload)`);
  }

  const rateLimits = Object.freeze({
    perAddressPerMinute: intSetting('CUSTODY_RATE_LIMIT_PER_ADDRESS', get('CUSTODY_RATE_LIMIT_PER_ADDRESS'), 3000, 0, 10_000_000, problems),
    perKeyPerMinute: intSetting('CUSTODY_RATE_LIMIT_PER_KEY', get('CUSTODY_RATE_LIMIT_PER_KEY'), 1200, 0, 10_000_000, problems),
  });
  const revocationBulkPerSecond = intSetting('CUSTODY_REVOCATION_BULK_PER_SECOND', get('CUSTODY_REVOCATION_BULK_PER_SECOND'), 200, 1, 100_000, problems);
  const sweepIntervalSeconds = intSetting('CUSTODY_SWEEP_INTERVAL_SECONDS', get('CUSTODY_SWEEP_INTERVAL_SECONDS'), 300, 0, 86_400 * 7, problems);
  const revocationGiveUpHours = intSetting('CUSTODY_REVOCATION_GIVE_UP_HOURS', get('CUSTODY_REVOCATION_GIVE_UP_HOURS'), 24, 1, 24 * 30, problems);

  const siemRaw = get('CUSTODY_SIEM_FILE');
  const siemFile = siemRaw === undefined ? null : path.resolve(cwd, siemRaw);
  const webhookLogRetentionDays = intSetting('CUSTODY_WEBHOOK_LOG_RETENTION_DAYS', get('CUSTODY_WEBHOOK_LOG_RETENTION_DAYS'), 30, 0, 3650, problems);

  const sessions = Object.freeze({
    ttlMs: intSetting('CUSTODY_SESSION_TTL_MINUTES', get('CUSTODY_SESSION_TTL_MINUTES'), 480, 5, 10_080, problems) * 60_000,
    idleMs: intSetting('CUSTODY_SESSION_IDLE_MINUTES', get('CUSTODY_SESSION_IDLE_MINUTES'), 60, 1, 1_440, problems) * 60_000,
  });

  const sso = parseSsoConfig(get, problems);

  const trustProxy = (get('CUSTODY_TRUST_PROXY') ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
  for (const entry of trustProxy) {
    const [address, prefix, extra] = entry.split('/');
    const family = isIP(address ?? '');
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 6 ? 128 : 32));
    if (family === 0 || !prefixOk || extra !== undefined) problems.push(`CUSTODY_TRUST_PROXY: "${entry}" is not an IP address or CIDR range (e.g. 10.0.0.1, 10.0.0.0/8, fd00::/8)`);
  }

  const consoleRaw = get('CUSTODY_CONSOLE_DIR');
  const consoleDir = consoleRaw === undefined ? null : path.resolve(cwd, consoleRaw);

  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    env: envName as Config['env'],
    database: database!,
    host,
    port,
    publicUrl,
    keyring,
    logLevel: logLevel as Config['logLevel'],
    bodyLimitBytes,
    requestTimeoutMs,
    ledgerCheckpointEvery,
    dormantAfterDays,
    sweepIntervalSeconds,
    consentLiftsSuspensions: Object.freeze(consentLiftsSuspensions),
    gateway,
    rateLimits,
    revocationGiveUpMs: revocationGiveUpHours * 3600_000,
    revocationBulkPerSecond,
    siemFile,
    webhookLogRetentionDays,
    sessions,
    sso,
    consoleDir,
    trustProxy: Object.freeze(trustProxy),
  });
}

function intSetting(name: string, raw: string | undefined, fallback: number, min: number, max: number, problems: string[]): number {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) {
    problems.push(`${name}: must be a whole number between ${min} and ${max} (got "${raw}")`);
    return fallback;
  }
  const n = Number(raw);
  if (n < min || n > max) {
    problems.push(`${name}: must be between ${min} and ${max} (got ${n})`);
    return fallback;
  }
  return n;
}

/** Describes where the database is without printing credentials embedded in a URL. */
export function describeDatabase(db: DatabaseConfig): string {
  if (db.kind === 'sqlite') return `SQLite ${db.file}`;
  const u = new URL(db.url);
  if (u.password) u.password = '***';
  // pg (like libpq) also reads credentials from the query string: ?password=…, ?sslpassword=…
  for (const name of [...u.searchParams.keys()]) if (/pass/i.test(name)) u.searchParams.set(name, '***');
  return `PostgreSQL ${u.toString()}`;
}
