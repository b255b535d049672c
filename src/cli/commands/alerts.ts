import type { Command } from 'commander';
import type { Alert, AlertDetail } from '../../alerts/alert.contract.ts';
import { ALERT_SEVERITIES, ALERT_STATUSES } from '../../alerts/alert.types.ts';
import { api, idArg, intOption, oneOf, readPages, withApi } from '../command-helpers.ts';
import { CliError, EXIT } from '../errors.ts';
import { printJson, table } from '../output.ts';

// Loaded when a command runs, like the other contracts (command-helpers.ts endpoints).
const alertEndpoints = () => import('../../alerts/alert.contract.ts').then((m) => m.alertEndpoints);

function alertLine(a: Alert): string[] {
  return [a.id, a.severity, a.status, a.kind, a.tenantId ?? '(platform)', a.tokenId ?? a.subjectId ?? '-', String(a.count), a.lastSeenAt, a.message.slice(0, 80)];
}

function showAlert(a: AlertDetail) {
  const lines = [
    `${a.id}  ${a.kind}  ${a.severity.toUpperCase()}  ${a.status}`,
    `  about       ${a.tokenId ? `token ${a.tokenId}` : (a.subjectId ?? '(no subject)')}`,
    `  tenant      ${a.tenantId ?? '(platform-wide)'}`,
    `  seen        ${a.count} time${a.count === 1 ? '' : 's'}: first ${a.firstSeenAt}, last ${a.lastSeenAt}`,
    `  ${a.message}`,
  ];
  if (a.acknowledgement) lines.push(`  acknowledged ${a.acknowledgement.at} by ${a.acknowledgement.by}${a.acknowledgement.reason ? `: ${a.acknowledgement.reason}` : ''}`);
  if (a.resolution) lines.push(`  resolved    ${a.resolution.at} by ${a.resolution.by}${a.resolution.reason ? `: ${a.resolution.reason}` : ''}`);
  if (Object.keys(a.data).length > 0) lines.push(`  data        ${JSON.stringify(a.data)}`);
  if (a.evidence.length > 0) lines.push(`  evidence (newest ${a.evidence.length}, oldest first):`, ...a.evidence.map((e) => `    - ${JSON.stringify(e)}`));
  console.log(lines.join('\n'));
}

export function registerAlerts(program: Command) {
  const alerts = program.command('alerts').description('Alerts on unusual use and failures, with their evidence (through a server)');
  withApi(alerts.command('list').description('Alerts, newest first (without --status: every alert not resolved)'))
    .option('--tenant <id>', 'only this tenant')
    .option('--token <id>', 'only this token')
    .option('--kind <kind>', 'only this kind, e.g. use_after_revoke')
    .option('--severity <s>', ALERT_SEVERITIES.join(', '))
    .option('--status <s>', ALERT_STATUSES.join(', '))
    .option('--limit <n>', 'page size, 1–1000', '50')
    .option('--cursor <cursor>', 'continue after the page that printed this cursor')
    .option('--all', 'follow pages to the end')
    .action(async (flags) => {
      const e = await alertEndpoints();
      const call = api(flags);
      if (flags.kind !== undefined && !/^[a-z][a-z0-9_.]{0,63}$/.test(flags.kind)) throw new CliError(`--kind must be a kind name such as use_after_revoke (got "${flags.kind}")`, EXIT.usage);
      const query = {
        tenantId: flags.tenant ? idArg('tenant', flags.tenant) : undefined,
        tokenId: flags.token ? idArg('token', flags.token) : undefined,
        kind: flags.kind as string | undefined,
        severity: oneOf(flags.severity, '--severity', ALERT_SEVERITIES),
        status: oneOf(flags.status, '--status', ALERT_STATUSES),
        limit: String(intOption(flags.limit, '--limit', 1, 1000)),
      };
      const { items, nextCursor } = await readPages((cursor) => call(e.list, { query: { ...query, cursor } }), flags.cursor as string | undefined, Boolean(flags.all));
      if (flags.json) return printJson({ items, nextCursor });
      console.log(items.length === 0 ? 'No alerts match.' : table([['ID', 'SEVERITY', 'STATUS', 'KIND', 'TENANT', 'SUBJECT', 'COUNT', 'LAST SEEN', 'WHAT'], ...items.map(alertLine)]));
      if (nextCursor) console.log(`\nMore alerts match: --cursor ${nextCursor} (or --all).`);
    });
  withApi(alerts.command('show <id>').description('One alert, with its evidence')).action(async (id: string, flags) => {
    const a = await api(flags)((await alertEndpoints()).get, { params: { id: idArg('alert', id) } });
    if (flags.json) printJson(a);
    else showAlert(a);
  });
  withApi(alerts.command('ack <id>').description('Acknowledge an alert (seen, being worked on; repeats still count)'))
    .requiredOption('--reason <text>', 'why (ledgered) (required)')
    .action(async (id: string, flags) => {
      const a = await api(flags)((await alertEndpoints()).acknowledge, { params: { id: idArg('alert', id) }, body: { reason: flags.reason } });
      if (flags.json) printJson(a);
      else console.log(`Acknowledged ${a.id} (${a.kind}, ${a.severity}).`);
    });
  withApi(alerts.command('resolve <id>').description('Resolve an alert (a repeat of its cause opens a new one)'))
    .requiredOption('--reason <text>', 'why (ledgered) (required)')
    .action(async (id: string, flags) => {
      const a = await api(flags)((await alertEndpoints()).resolve, { params: { id: idArg('alert', id) }, body: { reason: flags.reason } });
      if (flags.json) printJson(a);
      else console.log(`Resolved ${a.id} (${a.kind}, ${a.severity}, raised ${a.count} time${a.count === 1 ? '' : 's'}).`);
    });
}
