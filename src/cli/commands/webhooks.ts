import type { Command } from 'commander';
import type { Webhook } from '../../webhooks/webhook.contract.ts';
import { api, endpoints, idArg, intOption, withApi } from '../command-helpers.ts';
import { CliError, EXIT } from '../errors.ts';
import { collect, printJson, table } from '../output.ts';

const line = (w: Webhook) => [w.id, w.tenantId ?? '(platform)', w.events.join(','), w.url, w.createdAt];

/** `custody webhooks add|list|remove|deliveries` and `custody events [--follow]`, through a server. */
export function registerWebhooks(program: Command) {
  const webhooks = program.command('webhooks').description('Signed webhook subscriptions (Standard Webhooks) and their delivery log (through a server)');
  withApi(webhooks.command('add <receiverUrl>').description('Subscribe a receiver (an https URL); prints the signing secret once'))
    .option('--event <filter>', 'an event type or prefix: token.revoked, alert.*, notice.*, * (repeat for more)', collect)
    .option('--tenant <id>', "only this tenant's events (a tenant administrator's key implies its tenant)")
    .option('--description <text>', 'what it is for')
    .option('--include-notice-links', "send notices' reauthorisation links (for a mailer that forwards them)")
    .action(async (receiverUrl: string, flags) => {
      const events: string[] = flags.event ?? [];
      if (events.length === 0) throw new CliError('Name at least one --event (e.g. --event "token.*" --event "alert.*", or --event "*" for everything).', EXIT.usage);
      const w = await api(flags)((await endpoints.webhooks()).create, {
        body: {
          url: receiverUrl,
          events,
          ...(flags.tenant ? { tenantId: idArg('tenant', flags.tenant) } : {}),
          ...(flags.description ? { description: flags.description } : {}),
          ...(flags.includeNoticeLinks ? { includeNoticeLinks: true } : {}),
        },
      });
      if (flags.json) return printJson(w);
      console.log(`Subscribed ${w.id} (${w.tenantId ?? 'platform-wide'}) to ${w.events.join(', ')} at ${w.url}`);
      console.log(`\nSigning secret (shown once; store it with the receiver):\n  ${w.secret}\n`);
      console.log('Verify each request per https://www.standardwebhooks.com (headers webhook-id, webhook-timestamp, webhook-signature).');
    });
  withApi(webhooks.command('list').description('Subscriptions (never their secrets)'))
    .option('--tenant <id>', 'only this tenant’s')
    .option('--cursor <cursor>', 'continue after the page that printed this cursor')
    .action(async (flags) => {
      const page = await api(flags)((await endpoints.webhooks()).list, { query: { ...(flags.tenant ? { tenantId: idArg('tenant', flags.tenant) } : {}), ...(flags.cursor ? { cursor: flags.cursor } : {}) } });
      if (flags.json) return printJson(page);
      if (page.items.length === 0) return console.log('No webhook subscriptions.');
      console.log(table([['ID', 'TENANT', 'EVENTS', 'URL', 'CREATED'], ...page.items.map(line)]));
      if (page.nextCursor) console.log(`\nMore: --cursor ${page.nextCursor}`);
    });
  withApi(webhooks.command('remove <id>').description('Remove a subscription (nothing more is sent to it)')).action(async (id: string, flags) => {
    const w = await api(flags)((await endpoints.webhooks()).remove, { params: { id: idArg('webhook', id) } });
    if (flags.json) return printJson(w);
    console.log(`Removed ${w.id} (${w.url}).`);
  });
  withApi(webhooks.command('deliveries <id>').description('The delivery log of a subscription, newest first'))
    .option('--limit <n>', 'how many (default 50, at most 1000)')
    .option('--cursor <cursor>', 'continue after the page that printed this cursor')
    .action(async (id: string, flags) => {
      const limit = intOption(flags.limit, '--limit', 1, 1000);
      const page = await api(flags)((await endpoints.webhooks()).deliveries, { params: { id: idArg('webhook', id) }, query: { ...(limit ? { limit: String(limit) } : {}), ...(flags.cursor ? { cursor: flags.cursor } : {}) } });
      if (flags.json) return printJson(page);
      if (page.items.length === 0) return console.log('No deliveries yet.');
      console.log(table([['AT', 'MESSAGE', 'EVENT', 'ATTEMPT', 'OUTCOME', 'STATUS', 'MS', 'ERROR'], ...page.items.map((d) => [d.at, d.messageId, d.eventType, String(d.attempt), d.outcome, d.statusCode === null ? '-' : String(d.statusCode), String(d.durationMs), d.error ?? ''])]));
      if (page.nextCursor) console.log(`\nMore: --cursor ${page.nextCursor}`);
    });

  withApi(program.command('events').description('Security events as OCSF JSON lines, oldest first (for a SIEM; through a server)'))
    .option('--cursor <seq>', 'start after this ledger position (the last event’s metadata.sequence)')
    .option('--tenant <id>', 'only this tenant’s events')
    .option('--limit <n>', 'events per request (default 500, at most 1000)')
    .option('--follow', 'keep going: print new events as they happen (Ctrl-C stops)')
    .option('--interval <seconds>', 'with --follow, how often to ask (default 2)')
    .action(async (flags) => {
      const e = (await endpoints.events()).list;
      const call = api(flags);
      const limit = intOption(flags.limit, '--limit', 1, 1000) ?? 500;
      const intervalMs = (intOption(flags.interval, '--interval', 1, 3600) ?? 2) * 1000;
      if (flags.cursor !== undefined && !/^\d{1,15}$/.test(flags.cursor)) throw new CliError(`--cursor must be a ledger position (a whole number; got "${flags.cursor}")`, EXIT.usage);
      let cursor: string | undefined = flags.cursor;
      for (;;) {
        const page = await call(e, { query: { limit: String(limit), ...(cursor !== undefined ? { cursor } : {}), ...(flags.tenant ? { tenantId: idArg('tenant', flags.tenant) } : {}) } });
        // One event a line, whatever --json says: this output is meant for pipes and shippers.
        for (const item of page.items) process.stdout.write(`${JSON.stringify(item)}\n`);
        cursor = page.nextCursor;
        if (page.items.length === limit) continue;
        if (!flags.follow) {
          console.error(`# next cursor: ${cursor}`);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
      }
    });
}
