import fs from 'node:fs';
import type { Command } from 'commander';
import type { InactiveApprover } from '../../signals/approver.contract.ts';
import type { Transmitter } from '../../signals/transmitter.contract.ts';
import { api, idArg, withApi } from '../command-helpers.ts';
import { CliError, EXIT } from '../errors.ts';
import { printJson, table } from '../output.ts';

// Loaded when a command runs, like the other contracts.
const contracts = () => Promise.all([import('../../signals/transmitter.contract.ts'), import('../../signals/approver.contract.ts')]).then(([t, a]) => ({ t: t.transmitterEndpoints, a: a.approverEndpoints }));

const HEAD = ['TRANSMITTER', 'TENANT', 'NAME', 'ISSUER', 'AUDIENCE', 'KEYS', 'ENABLED'];
const line = (t: Transmitter) => [t.id, t.tenantId, t.name, t.issuer, t.audience, t.jwksUrl ?? `${t.jwks?.keys.length ?? 0} inline`, t.enabled ? 'yes' : 'no'];

/** `custody transmitters …` and `custody approvers …`: the Shared Signals receiver's configuration and approver offboarding (docs/signals.md). */
export function registerSignals(program: Command) {
  const transmitters = program.command('transmitters').description('Shared Signals transmitters whose SETs Custody receives (through a server)');
  withApi(transmitters.command('list').description('The configured transmitters'))
    .option('--tenant <id>', 'only those speaking for this tenant')
    .action(async (flags) => {
      const { t } = await contracts();
      const { items } = await api(flags)(t.list, { query: flags.tenant ? { tenantId: idArg('tenant', flags.tenant) } : {} });
      if (flags.json) return printJson(items);
      console.log(items.length === 0 ? 'No transmitters.' : table([HEAD, ...items.map(line)]));
    });
  withApi(transmitters.command('add').description('Trust a transmitter: its SETs act on its tenant’s tokens per the tenant’s signalActions policy'))
    .requiredOption('--tenant <id>', 'the tenant it speaks for')
    .requiredOption('--name <text>', 'what it is')
    .requiredOption('--issuer <iss>', 'the iss of its SETs')
    .requiredOption('--audience <aud>', 'the aud its SETs carry')
    .option('--jwks-url <url>', 'where its public keys are published (https)')
    .option('--jwks-file <path>', 'a file holding its public JWK set (instead of --jwks-url)')
    .option('--alg <list>', 'comma-separated allowed algorithms (default RS256,ES256)')
    .option('--development', 'allow plain http on loopback for --jwks-url (not in production)')
    .action(async (flags) => {
      if (Boolean(flags.jwksUrl) === Boolean(flags.jwksFile)) throw new CliError('Give exactly one of --jwks-url and --jwks-file.', EXIT.usage);
      let jwks: unknown;
      if (flags.jwksFile) {
        try {
          jwks = JSON.parse(fs.readFileSync(String(flags.jwksFile), 'utf8'));
        } catch (err) {
          throw new CliError(`--jwks-file: cannot read a JSON JWK set from ${flags.jwksFile} (${(err as Error).message})`, EXIT.usage);
        }
      }
      const { t } = await contracts();
      const created = await api(flags)(t.create, {
        body: {
          tenantId: idArg('tenant', flags.tenant),
          name: flags.name,
          issuer: flags.issuer,
          audience: flags.audience,
          ...(flags.jwksUrl ? { jwksUrl: flags.jwksUrl } : { jwks: jwks as never }),
          ...(flags.alg ? { algorithms: String(flags.alg).split(',').map((a) => a.trim()) as never } : {}),
          ...(flags.development ? { development: true } : {}),
        },
      });
      if (flags.json) return printJson(created);
      console.log(table([HEAD, line(created)]));
    });
  for (const [verb, enabled] of [['enable', true], ['disable', false]] as const) {
    withApi(transmitters.command(`${verb} <id>`).description(enabled ? 'Accept its SETs again' : 'Refuse its SETs (access_denied) until enabled again'))
      .option('--reason <text>', 'why (ledgered)')
      .action(async (id: string, flags) => {
        const { t } = await contracts();
        const changed = await api(flags)(t.patch, { params: { id: idArg('transmitter', id) }, body: { enabled, ...(flags.reason ? { reason: flags.reason } : {}) } });
        if (flags.json) return printJson(changed);
        console.log(`Transmitter ${changed.id} is ${changed.enabled ? 'enabled' : 'disabled'}.`);
      });
  }

  const approvers = program.command('approvers').description('Customer approvers: offboarding when one leaves (through a server)');
  withApi(approvers.command('deactivate').description('An approver left: their tokens in the tenant get approver_inactive (notice, then suspension per policy), and their consent is refused'))
    .requiredOption('--tenant <id>', 'the tenant')
    .requiredOption('--issuer <iss>', 'the issuer they sign in at')
    .requiredOption('--subject <sub>', 'their account at that issuer')
    .option('--reason <text>', 'why (ledgered)')
    .action(async (flags) => {
      const { a } = await contracts();
      const r = await api(flags)(a.deactivate, { body: { tenantId: idArg('tenant', flags.tenant), issuer: flags.issuer, subject: flags.subject, ...(flags.reason ? { reason: flags.reason } : {}) } });
      if (flags.json) return printJson(r);
      console.log(`${r.approver.subject} at ${r.approver.issuer} is inactive in ${r.approver.tenantId}${r.alreadyInactive ? ' (already was)' : ''}: ${r.tokensFlagged} token${r.tokensFlagged === 1 ? '' : 's'} now without an active approver.`);
      if (r.tokenIds.length > 0) console.log(r.tokenIds.join('\n'));
    });
  withApi(approvers.command('inactive').description('Approvers recorded as inactive, newest first'))
    .option('--tenant <id>', 'only this tenant')
    .action(async (flags) => {
      const { a } = await contracts();
      const { items } = await api(flags)(a.listInactive, { query: flags.tenant ? { tenantId: idArg('tenant', flags.tenant) } : {} });
      if (flags.json) return printJson(items);
      console.log(items.length === 0 ? 'No inactive approvers.' : table([['TENANT', 'ISSUER', 'SUBJECT', 'SOURCE', 'SINCE', 'REASON'], ...items.map((x: InactiveApprover) => [x.tenantId, x.issuer, x.subject, x.source, x.deactivatedAt, x.reason])]));
    });
}
