import type { Command } from 'commander';
import { api, endpoints, idArg, intOption, withApi } from '../command-helpers.ts';
import { collect, printJson } from '../output.ts';

export function registerConnect(program: Command) {
  withApi(
    program
      .command('connect')
      .description('Make a consent link for a customer administrator: they open it in a plain browser, approve at the issuer, and the token is recorded with them as its approver'),
  )
    .requiredOption('--provider <id>', 'the issuer (required)')
    .requiredOption('--tenant <id>', 'the customer (required)')
    .requiredOption('--owner <owner>', 'the accountable person or team on the platform side (required)')
    .option('--purpose <text>', 'the business justification')
    .option('--scope <scope>', 'an API scope to ask for (repeat for more; openid, email and offline_access are always asked)', collect)
    .option('--expires-in <minutes>', 'how long the link can be opened (default 4320: 72 hours)')
    .action(async (flags) => {
      const expiresInMinutes = intOption(flags.expiresIn, '--expires-in', 5, 30 * 24 * 60);
      const link = await api(flags)((await endpoints.oauth()).createConnectLink, {
        body: {
          providerId: idArg('provider', flags.provider),
          tenantId: idArg('tenant', flags.tenant),
          owner: flags.owner as string,
          ...(flags.purpose ? { purpose: flags.purpose as string } : {}),
          ...(flags.scope ? { scopes: flags.scope as string[] } : {}),
          ...(expiresInMinutes ? { expiresInMinutes } : {}),
        },
      });
      if (flags.json) return printJson(link);
      console.log(`Consent link (works once, until ${link.expiresAt}):\n\n  ${link.url}\n`);
      console.log("Send it to the customer's administrator. They open it in a browser, sign in at the issuer and approve;");
      console.log('the consent is bound to that browser. The new token then shows in `custody tokens list`.');
    });
}
