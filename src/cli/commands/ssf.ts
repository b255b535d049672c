import type { Command } from 'commander';
import type { StreamConfig } from '../../streams/stream.contract.ts';
import { api, idArg, oneOf, secretFromEnv, withApi } from '../command-helpers.ts';
import { printJson, table } from '../output.ts';

// Loaded when a command runs, like the other contracts.
const streamEndpoints = () => import('../../streams/stream.contract.ts').then((m) => m.streamEndpoints);
const PUSH = 'urn:ietf:rfc:8935';
const EVENTS = { 'session-revoked': 'https://schemas.openid.net/secevent/caep/event-type/session-revoked', 'credential-change': 'https://schemas.openid.net/secevent/caep/event-type/credential-change' } as const;
const STATUSES = ['enabled', 'paused', 'disabled'] as const;

function streamLine(s: StreamConfig): string[] {
  const short = s.events_delivered.map((e) => e.slice(e.lastIndexOf('/') + 1)).join(',') || '-';
  return [s.stream_id, s.tenant_id, s.status, s.delivery.endpoint_url, short, String(s.pending_events), String(s.delivered_events), String(s.dropped_events), s.last_error ?? ''];
}

function showStream(s: StreamConfig) {
  console.log(table([['STREAM', 'TENANT', 'STATUS', 'ENDPOINT', 'EVENTS', 'PENDING', 'DELIVERED', 'DROPPED', 'LAST ERROR'], streamLine(s)]));
}

/** `custody ssf streams …`: the SSF transmitter's streams (docs/ssf-transmitter.md), through a server. */
export function registerSsf(program: Command) {
  const ssf = program.command('ssf').description('Shared Signals: the transmitter streams that push CAEP events to customers’ receivers');
  const streams = ssf.command('streams').description('Streams: one per receiver a tenant registered');
  withApi(streams.command('list').description('The streams you may see')).action(async (flags) => {
    const items = (await api(flags)((await streamEndpoints()).read, { query: {} })) as StreamConfig[];
    if (flags.json) return printJson(items);
    console.log(items.length === 0 ? 'No streams.' : table([['STREAM', 'TENANT', 'STATUS', 'ENDPOINT', 'EVENTS', 'PENDING', 'DELIVERED', 'DROPPED', 'LAST ERROR'], ...items.map(streamLine)]));
  });
  withApi(streams.command('create').description('Register a push receiver (RFC 8935) for a tenant'))
    .requiredOption('--endpoint <url>', 'the receiver’s push URL (https)')
    .option('--tenant <id>', 'the tenant (admin and security; a tenant administrator’s key implies its own)')
    .option('--events <list>', `comma-separated: ${Object.keys(EVENTS).join(', ')} (default: both)`)
    .option('--aud <value>', 'the aud claim the receiver expects (default: the endpoint URL)')
    .option('--description <text>', 'what the receiver is')
    .option('--authorization-env <name>', 'an environment variable holding the Authorization header value the receiver wants')
    .action(async (flags) => {
      const events = flags.events === undefined ? undefined : String(flags.events).split(',').map((e) => EVENTS[oneOf(e.trim(), '--events', Object.keys(EVENTS) as (keyof typeof EVENTS)[])!]);
      const authorization = secretFromEnv(flags.authorizationEnv, '--authorization-env');
      const s = await api(flags)((await streamEndpoints()).create, {
        body: {
          delivery: { method: PUSH, endpoint_url: flags.endpoint, ...(authorization ? { authorization_header: authorization } : {}) },
          ...(events ? { events_requested: events } : {}),
          ...(flags.tenant ? { tenant_id: idArg('tenant', flags.tenant) } : {}),
          ...(flags.aud ? { aud: flags.aud } : {}),
          ...(flags.description ? { description: flags.description } : {}),
        },
      });
      if (flags.json) return printJson(s);
      showStream(s);
    });
  withApi(streams.command('status <streamId> <status>').description(`Set a stream’s status: ${STATUSES.join(', ')}`))
    .option('--reason <text>', 'why (ledgered)')
    .action(async (streamId: string, status: string, flags) => {
      const s = await api(flags)((await streamEndpoints()).setStatus, { body: { stream_id: idArg('ssfStream', streamId, 'SSF stream'), status: oneOf(status, 'status', STATUSES)!, ...(flags.reason ? { reason: flags.reason } : {}) } });
      if (flags.json) return printJson(s);
      console.log(`Stream ${s.stream_id} is ${s.status}.`);
    });
  withApi(streams.command('verify <streamId>').description('Push a verification event to the receiver'))
    .option('--state <text>', 'a value the receiver expects back in the event')
    .action(async (streamId: string, flags) => {
      await api(flags)((await streamEndpoints()).verify, { body: { stream_id: idArg('ssfStream', streamId, 'SSF stream'), ...(flags.state ? { state: flags.state } : {}) } });
      if (flags.json) return printJson({ requested: true });
      console.log('Verification event queued; the receiver gets it within seconds.');
    });
  withApi(streams.command('delete <streamId>').description('Delete a stream (its waiting events are dropped)')).action(async (streamId: string, flags) => {
    await api(flags)((await streamEndpoints()).delete, { query: { stream_id: idArg('ssfStream', streamId, 'SSF stream') } });
    if (flags.json) return printJson({ deleted: streamId });
    console.log(`Deleted ${streamId}.`);
  });
}
