import fs from 'node:fs';
import type { Command } from 'commander';
import type { LeakCheckItem, LeakReporter } from '../../leaks/leak.contract.ts';
import { api, idArg, withApi } from '../command-helpers.ts';
import { CliError, EXIT } from '../errors.ts';
import { printJson, table } from '../output.ts';

const leakEndpoints = () => import('../../leaks/leak.contract.ts').then((m) => m);

/**
 * How much one check request carries: the server's default body limit is 256 KiB, so strings go
 * in batches well under it (and under the contract's 1,000 per request).
 */
const BATCH_BYTES = 192 * 1024;

/** A found string as the CLI shows it: never in full (a terminal and its scrollback are logs too). */
export function maskString(s: string): string {
  return s.length <= 8 ? `${'*'.repeat(s.length)} (${s.length} chars)` : `${s.slice(0, 4)}…${'*'.repeat(4)} (${s.length} chars)`;
}

/** The strings of stdin, one a line (surrounding blanks and a CR removed; empty lines skipped), with their line numbers. */
export function readLines(text: string): { line: number; value: string }[] {
  return text
    .split('\n')
    .map((raw, i) => ({ line: i + 1, value: raw.trim() }))
    .filter((l) => l.value.length > 0);
}

function batches<T extends { line: number; value: string }>(lines: T[], maxItems: number, maxChars: number): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const l of lines) {
    const size = Buffer.byteLength(l.value) + 8;
    if (current.length > 0 && (current.length >= maxItems || bytes + size > BATCH_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    if (l.value.length > maxChars) throw new CliError(`line ${l.line}: longer than ${maxChars} characters, longer than any credential Custody stores`, EXIT.usage);
    current.push(l);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

function reporterLine(r: LeakReporter): string[] {
  return [r.id, r.name, r.keyId, r.state, r.createdAt, r.lastReportAt ?? '-'];
}

export function registerLeaks(program: Command) {
  const leaks = program.command('leaks').description('Leaked tokens: check strings you found, manage who may report (through a server)');

  withApi(
    leaks
      .command('check')
      .description('Read strings from stdin, one a line (e.g. copied from a log), look each up against the stored credentials, and revoke any token they match')
      .addHelpText('after', '\nExample: grep -o "at-[a-z0-9]*" app.log | custody leaks check\nThe strings are never printed in full. A match is revoked at once (upstream too, through the outbox), alerted and ledgered.'),
  ).action(async (flags) => {
    const { leakEndpoints: e, MAX_LEAK_ITEMS, MAX_CHECK_STRING_CHARS } = await leakEndpoints();
    if (process.stdin.isTTY) console.error('Reading strings from stdin, one a line; end with Ctrl-D.');
    const lines = readLines(fs.readFileSync(0, 'utf8'));
    if (lines.length === 0) throw new CliError('No strings on stdin: pipe them in, one a line.', EXIT.usage);
    const call = api(flags);
    const results: { line: number; value: string; item: LeakCheckItem }[] = [];
    for (const batch of batches(lines, MAX_LEAK_ITEMS, MAX_CHECK_STRING_CHARS)) {
      const answer = await call(e.check, { body: { strings: batch.map((l) => l.value) } });
      for (const item of answer.items) results.push({ ...batch[item.index]!, item });
    }
    const matchedLines = new Set(results.filter((r) => r.item.label === 'true_positive').map((r) => r.line));
    const revoked = new Set(results.filter((r) => r.item.revoked).map((r) => r.item.tokenId));
    const tokens = new Set(results.filter((r) => r.item.tokenId).map((r) => r.item.tokenId));
    if (flags.json) {
      printJson({ checked: lines.length, matched: matchedLines.size, revoked: revoked.size, items: results.map((r) => ({ line: r.line, ...r.item })) });
      return;
    }
    console.log(`Checked ${lines.length} string${lines.length === 1 ? '' : 's'}: ${matchedLines.size} matched a stored credential, ${lines.length - matchedLines.size} did not.`);
    const hits = results.filter((r) => r.item.label === 'true_positive');
    if (hits.length > 0) {
      console.log(
        table([
          ['LINE', 'STRING', 'TOKEN', 'CREDENTIAL', 'NOW'],
          ...hits.map((r) => [String(r.line), maskString(r.value), r.item.tokenId ?? '-', r.item.credential ?? '-', r.item.revoked ? 'revoked by this check' : `already ${r.item.state}`]),
        ]),
      );
      console.log(`Revoked ${revoked.size} of the ${tokens.size} token${tokens.size === 1 ? '' : 's'} matched; upstream revocation follows through the outbox. Each has a critical token_leaked alert.`);
    }
  });

  const reporters = leaks.command('reporters').description('Who may send signed leak reports (POST /v1/leaks), and their keys');
  withApi(reporters.command('list').description('List reporter keys')).action(async (flags) => {
    const { leakEndpoints: e } = await leakEndpoints();
    const { items } = await api(flags)(e.listReporters);
    if (flags.json) printJson(items);
    else console.log(items.length ? table([['ID', 'NAME', 'KEY ID', 'STATE', 'ADDED', 'LAST REPORT'], ...items.map(reporterLine)]) : 'No leak reporters yet.');
  });
  withApi(reporters.command('add <name>').description("Register a reporter's ECDSA P-256 public key"))
    .requiredOption('--key-id <id>', 'what its reports send in Custody-Leak-Key-Id (required)')
    .requiredOption('--public-key-file <path>', 'its public key, PEM ("BEGIN PUBLIC KEY"), P-256 (required)')
    .action(async (name: string, flags) => {
      const { leakEndpoints: e } = await leakEndpoints();
      let publicKey: string;
      try {
        publicKey = fs.readFileSync(flags.publicKeyFile as string, 'utf8');
      } catch (err) {
        throw new CliError(`--public-key-file: cannot read ${flags.publicKeyFile as string}: ${(err as Error).message}`, EXIT.usage);
      }
      const r = await api(flags)(e.addReporter, { body: { name, keyId: flags.keyId as string, publicKey } });
      if (flags.json) printJson(r);
      else console.log(`Added leak reporter ${r.id} (${r.name}, key id ${r.keyId}).`);
    });
  withApi(reporters.command('disable <id>').description('Stop accepting reports signed with this key'))
    .requiredOption('--reason <text>', 'why (recorded in the ledger)')
    .action(async (id: string, flags) => {
      const { leakEndpoints: e } = await leakEndpoints();
      const r = await api(flags)(e.disableReporter, { params: { id: idArg('leakReporter', id, 'leak reporter') }, body: { reason: flags.reason as string } });
      if (flags.json) printJson(r);
      else console.log(`Leak reporter ${r.id} (${r.name}, key id ${r.keyId}) is ${r.state}.`);
    });
}
