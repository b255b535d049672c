import type { Command } from 'commander';
import type { ReviewCampaign, ReviewItem } from '../../reviews/review.contract.ts';
import { CAMPAIGN_STATUSES, DECISIONS, ITEM_STATUSES, REVIEW_LIMITS } from '../../reviews/review.types.ts';
import { api, endpoints, idArg, intOption, oneOf, readPages, withApi } from '../command-helpers.ts';
import { upstreamSentence } from './tokens.ts';
import { CliError, EXIT } from '../errors.ts';
import { printJson, table } from '../output.ts';

// Loaded when a command runs, like the other contracts (command-helpers.ts endpoints).
const reviewEndpoints = () => import('../../reviews/review.contract.ts').then((m) => m.reviewEndpoints);

/** `--due`: an ISO 8601 time, or a number of days from now (`14d`). */
function dueAt(value: string): string {
  const days = /^(\d{1,3})d$/.exec(value);
  if (days) return new Date(Date.now() + Number(days[1]) * 86_400_000).toISOString();
  const at = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(at.getTime())) throw new CliError(`--due must be an ISO 8601 time (2027-01-15T17:00:00Z) or a number of days from now (14d) (got "${value}")`, EXIT.usage);
  return at.toISOString();
}

const progressText = (c: ReviewCampaign) => {
  const p = c.progress;
  return `${p.decided}/${p.total} decided (kept ${p.kept}, revoked ${p.revoked}, reassigned ${p.reassigned}), ${p.open} open, ${p.escalated} escalated`;
};

function campaignLine(c: ReviewCampaign): string[] {
  return [c.id, c.status, c.name.slice(0, 40), c.tenantId ?? '(platform)', c.dueAt, `${c.progress.decided}/${c.progress.total}`, String(c.progress.open), String(c.progress.escalated)];
}

function showCampaign(c: ReviewCampaign) {
  const scope = [c.tenantId ? `tenant ${c.tenantId}` : null, c.owner ? `owner ${c.owner}` : null, c.providerId ? `provider ${c.providerId}` : null].filter(Boolean).join(', ');
  const lines = [
    `${c.id}  ${c.name}  ${c.status}`,
    `  scope       ${scope}${c.tenantId ? '' : ' (platform campaign)'}`,
    `  deadline    ${c.dueAt} (undecided items are escalated then)`,
    `  reminders   ${c.remindersSentAt ? `sent ${c.remindersSentAt}` : c.status === 'closed' ? 'none sent (every item was settled before they were due)' : `due ${c.remindAt} (${c.remindDaysBefore} days before)`}`,
    `  progress    ${progressText(c)}`,
    `  created     ${c.createdAt} by ${c.createdBy}${c.closedAt ? `; closed ${c.closedAt}` : ''}`,
  ];
  console.log(lines.join('\n'));
}

function itemLine(i: ReviewItem): string[] {
  const outcome = i.status === 'kept' ? (i.justification ?? '') : i.status === 'reassigned' ? `→ ${i.newOwner}: ${i.reason ?? ''}` : (i.reason ?? '');
  return [i.id, i.tokenId, i.tenantId, i.reviewer.kind === 'owner' ? i.reviewer.name : '(tenant admins)', i.status, i.decidedBy ?? '-', outcome.slice(0, 60)];
}

export function registerReviews(program: Command) {
  const reviews = program.command('reviews').description('Access reviews: owners confirm, revoke or reassign each live token (through a server)');

  withApi(reviews.command('create').description('Start a campaign: one item per live token of a tenant, an owner or a provider (combined, they narrow)'))
    .requiredOption('--name <text>', 'what the campaign is (required)')
    .option('--tenant <id>', 'every live token of this tenant (a tenant administrator names their own)')
    .option('--owner <name>', 'every live token of this owner')
    .option('--provider <id>', 'every live token of this provider')
    .requiredOption('--due <when>', 'the deadline: an ISO 8601 time, or days from now such as 14d (required)')
    .option('--remind-days <n>', `reminders this many days before the deadline (default ${REVIEW_LIMITS.defaultRemindDaysBefore})`)
    .action(async (flags) => {
      if (!flags.tenant && !flags.owner && !flags.provider) throw new CliError('Name what to review: --tenant, --owner and/or --provider.', EXIT.usage);
      const body = {
        name: flags.name as string,
        dueAt: dueAt(flags.due),
        ...(flags.tenant ? { tenantId: idArg('tenant', flags.tenant) } : {}),
        ...(flags.owner ? { owner: flags.owner as string } : {}),
        ...(flags.provider ? { providerId: idArg('provider', flags.provider) } : {}),
        ...(flags.remindDays !== undefined ? { remindDaysBefore: intOption(flags.remindDays, '--remind-days', 0, REVIEW_LIMITS.maxRemindDaysBefore) } : {}),
      };
      const c = await api(flags)((await reviewEndpoints()).create, { body });
      if (flags.json) return printJson(c);
      console.log(`Started ${c.id} ("${c.name}"): ${c.progress.total} item${c.progress.total === 1 ? '' : 's'} to decide by ${c.dueAt}; reminders ${c.remindAt}.`);
      console.log(`List them with: custody reviews items ${c.id}`);
    });

  withApi(reviews.command('list').description('Campaigns, newest first, with their progress'))
    .option('--tenant <id>', 'only this tenant’s')
    .option('--status <s>', CAMPAIGN_STATUSES.join(', '))
    .option('--limit <n>', 'page size, 1–1000', '50')
    .option('--cursor <cursor>', 'continue after the page that printed this cursor')
    .option('--all', 'follow pages to the end')
    .action(async (flags) => {
      const e = await reviewEndpoints();
      const call = api(flags);
      const query = {
        tenantId: flags.tenant ? idArg('tenant', flags.tenant) : undefined,
        status: oneOf(flags.status, '--status', CAMPAIGN_STATUSES),
        limit: String(intOption(flags.limit, '--limit', 1, 1000)),
      };
      const { items, nextCursor } = await readPages((cursor) => call(e.list, { query: { ...query, cursor } }), flags.cursor as string | undefined, Boolean(flags.all));
      if (flags.json) return printJson({ items, nextCursor });
      console.log(items.length === 0 ? 'No campaigns match.' : table([['ID', 'STATUS', 'NAME', 'TENANT', 'DUE', 'DECIDED', 'OPEN', 'ESCALATED'], ...items.map(campaignLine)]));
      if (nextCursor) console.log(`\nMore campaigns match: --cursor ${nextCursor} (or --all).`);
    });

  withApi(reviews.command('show <id>').description('One campaign and its progress')).action(async (id: string, flags) => {
    const c = await api(flags)((await reviewEndpoints()).get, { params: { id: idArg('reviewCampaign', id, 'access review') } });
    if (flags.json) printJson(c);
    else showCampaign(c);
  });

  withApi(reviews.command('items <id>').description('A campaign’s items: each token, its reviewer and the decision'))
    .option('--status <s>', ITEM_STATUSES.join(', '))
    .option('--reviewer <name>', 'an owner’s name, or tenant_admins')
    .option('--limit <n>', 'page size, 1–1000', '50')
    .option('--cursor <cursor>', 'continue after the page that printed this cursor')
    .option('--all', 'follow pages to the end')
    .action(async (id: string, flags) => {
      const e = await reviewEndpoints();
      const call = api(flags);
      const params = { id: idArg('reviewCampaign', id, 'access review') };
      const query = { status: oneOf(flags.status, '--status', ITEM_STATUSES), reviewer: flags.reviewer as string | undefined, limit: String(intOption(flags.limit, '--limit', 1, 1000)) };
      const { items, nextCursor } = await readPages((cursor) => call(e.items, { params, query: { ...query, cursor } }), flags.cursor as string | undefined, Boolean(flags.all));
      if (flags.json) return printJson({ items, nextCursor });
      console.log(items.length === 0 ? 'No items match.' : table([['ITEM', 'TOKEN', 'TENANT', 'REVIEWER', 'STATUS', 'BY', 'WHY'], ...items.map(itemLine)]));
      if (nextCursor) console.log(`\nMore items match: --cursor ${nextCursor} (or --all).`);
    });

  withApi(reviews.command('decide <id> <itemId> <decision>').description(`Decide an item: ${DECISIONS.join(', ')}`))
    .option('--justification <text>', 'keep: why the token is still needed (becomes its purpose; its review date moves)')
    .option('--to <owner>', 'reassign: the new owner (active in the owners directory)')
    .option('--reason <text>', 'revoke, reassign: why (ledgered)')
    .action(async (id: string, itemId: string, decision: string, flags) => {
      const d = oneOf(decision, '<decision>', DECISIONS)!;
      const body = {
        decision: d,
        ...(flags.justification !== undefined ? { justification: flags.justification as string } : {}),
        ...(flags.to !== undefined ? { newOwner: flags.to as string } : {}),
        ...(flags.reason !== undefined ? { reason: flags.reason as string } : {}),
      };
      const r = await api(flags)((await reviewEndpoints()).decide, { params: { id: idArg('reviewCampaign', id, 'access review'), itemId: idArg('reviewItem', itemId, 'review item') }, body });
      if (flags.json) return printJson(r);
      const t = r.token;
      const what = { keep: `kept; its review is now due ${t.reviewDueAt}`, revoke: 'revoked', reassign: `reassigned to ${t.owner}` }[d];
      console.log(`Token ${t.id} ${what}. Item ${r.item.id} is ${r.item.status}.`);
      if (d === 'revoke') {
        // What happened at the issuer, as `custody tokens revoke` says it (an inventory-only record has no path there).
        const record = await api(flags)((await endpoints.tokens()).get, { params: { id: t.id } });
        console.log(upstreamSentence(record));
      }
    });
}
