import type { Command } from 'commander';
import { isId, type IdKind } from '../shared/ids.ts';
import { apiClient } from './api-client.ts';
import { CliError, EXIT } from './errors.ts';

/** The options of every command that talks to a server. */
export function withApi(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'Custody server (CUSTODY_URL; else CUSTODY_HOST/CUSTODY_PORT; default http://127.0.0.1:7420)')
    .option('--api-key <key>', 'API key (CUSTODY_API_KEY)')
    .option('--json', 'print JSON (errors too, on stderr)');
}

export function api(flags: { url?: string; apiKey?: string }) {
  return apiClient(flags);
}

const EXAMPLES: Record<IdKind, string> = {
  tenant: 'ten_01J…',
  provider: 'prv_01J…',
  token: 'tok_01J…',
  apiKey: 'key_01J…',
  oauthFlow: 'flw_01J…',
  outboxJob: 'job_01J…',
  alert: 'alr_01J…',
  connectLink: 'lnk_01J…',
  owner: 'own_01J…',
  workload: 'wkl_01J…',
  finding: 'fnd_01J…',
  exception: 'exc_01J…',
  notice: 'ntc_01J…',
  webhook: 'whk_01J…',
  webhookDelivery: 'whd_01J…',
  leakReporter: 'lrp_01J…',
  transmitter: 'ssf_01J…',
  ssfStream: 'sfs_01J…',
  reviewCampaign: 'rvw_01J…',
  reviewItem: 'rvi_01J…',
  consoleSession: 'ses_01J…',
};

/** An id given on the command line, checked before anything is sent. */
export function idArg(kind: IdKind, value: string, what: string = kind): string {
  if (!isId(kind, value)) throw new CliError(`"${value}" is not ${/^[aeiou]/i.test(what) ? 'an' : 'a'} ${what} id (like ${EXAMPLES[kind]}: a prefix and 26 characters)`, EXIT.usage);
  return value;
}

/** A secret read from the environment variable named by a flag (never from the flag itself: flags land in shell history). */
export function secretFromEnv(name: string | undefined, flag: string): string | undefined {
  if (name === undefined) return undefined;
  const value = process.env[name];
  if (!value) throw new CliError(`${flag}: the environment variable ${name} is empty or not set.`, EXIT.usage);
  return value;
}

/** A list's pages: the first, or (`all`) every page to the end; and the cursor of the page after the last one read. */
export async function readPages<T>(page: (cursor: string | undefined) => Promise<{ items: T[]; nextCursor: string | null }>, first: string | undefined, all: boolean): Promise<{ items: T[]; nextCursor: string | null }> {
  const items: T[] = [];
  let cursor = first;
  for (;;) {
    const p = await page(cursor);
    items.push(...p.items);
    if (!all || !p.nextCursor) return { items, nextCursor: p.nextCursor };
    cursor = p.nextCursor;
  }
}

/** A positive whole number option. */
export function intOption(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) throw new CliError(`${flag} must be a whole number from ${min} to ${max} (got "${value}")`, EXIT.usage);
  return Number(value);
}

/** An option that must be one of a few values. */
export function oneOf<T extends string>(value: string | undefined, flag: string, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new CliError(`${flag} must be one of ${allowed.join(', ')} (got "${value}")`, EXIT.usage);
  return value as T;
}

/**
 * The API's endpoint declarations, loaded when a command runs: the schemas behind them (typebox)
 * are most of the CLI's start-up time, and `custody --help` must not pay for them.
 */
export const endpoints = {
  tokens: () => import('../tokens/token.contract.ts').then((m) => m.tokenEndpoints),
  oauth: () => import('../oauth/oauth.contract.ts').then((m) => m.oauthEndpoints),
  providers: () => import('../providers/provider.contract.ts').then((m) => m.providerEndpoints),
  tenants: () => import('../tenants/tenant.contract.ts').then((m) => m.tenantEndpoints),
  apiKeys: () => import('../apikeys/apikey.contract.ts').then((m) => m.apiKeyEndpoints),
  ledger: () => import('../ledger/ledger.contract.ts').then((m) => m.ledgerEndpoints),
  policy: () => import('../governance/policy.contract.ts').then((m) => m.policyEndpoints),
  directory: () => import('../governance/directory.contract.ts').then((m) => m.directoryEndpoints),
  findings: () => import('../governance/finding.contract.ts').then((m) => m.findingEndpoints),
  exceptions: () => import('../governance/exception.contract.ts').then((m) => m.exceptionEndpoints),
  notices: () => import('../governance/notice.contract.ts').then((m) => m.noticeEndpoints),
  webhooks: () => import('../webhooks/webhook.contract.ts').then((m) => m.webhookEndpoints),
  events: () => import('../events/events.contract.ts').then((m) => m.eventEndpoints),
};
