import fs from 'node:fs';
import type { KeyObject } from 'node:crypto';
import type { Command } from 'commander';
import { duplicateKeys, publicKeyFrom, verifyReport, type ReportVerification } from '../../reports/report.signature.ts';
import { REPORT_FORMATS, REPORT_TABLES } from '../../reports/report.types.ts';
import { serverUrl } from '../api-client.ts';
import { api, endpoints, idArg, oneOf, withApi } from '../command-helpers.ts';
import { CliError, EXIT, exitCodeForStatus } from '../errors.ts';
import { printJson } from '../output.ts';

const PERIOD = /^\d{4}-\d{2}-\d{2}(?:[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2}))?$/;

function periodArg(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (!PERIOD.test(value)) throw new CliError(`${flag} must be a date (2026-11-01) or an ISO 8601 timestamp (2026-11-01T09:00:00Z) (got "${value}")`, EXIT.usage);
  return value;
}

/**
 * The report as the server sends it (JSON, CSV or HTML): the CLI's API client reads JSON only, so
 * this asks for the text itself, with the same errors and exit codes.
 */
async function fetchReport(flags: { url?: string; apiKey?: string }, query: Record<string, string | undefined>): Promise<string> {
  const key = flags.apiKey ?? process.env.CUSTODY_API_KEY;
  if (!key) throw new CliError('No API key: set CUSTODY_API_KEY or pass --api-key.', EXIT.refused, 'unauthenticated');
  const base = serverUrl(flags.url);
  const search = new URLSearchParams(Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined));
  const path = `/v1/reports/compliance${[...search].length > 0 ? `?${search}` : ''}`;
  let response: Response;
  try {
    response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${key}` }, redirect: 'manual' });
  } catch (err) {
    const reason = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message;
    throw new CliError(`Cannot reach Custody at ${base}: ${reason}. Is it running? (set --url, CUSTODY_URL, or CUSTODY_HOST/CUSTODY_PORT)`, EXIT.unreachable, 'unreachable');
  }
  const text = await response.text();
  if (response.status !== 200) {
    let error: { code?: string; message?: string } | undefined;
    try {
      error = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
    } catch {
      // not a Custody error body
    }
    throw new CliError(error?.message ?? `GET ${path} answered ${response.status} ${response.statusText}`, exitCodeForStatus(response.status), error?.code ?? `http_${response.status}`);
  }
  return text;
}

function describeVerification(v: ReportVerification, keySource: string): string[] {
  const scope = v.scope ? (v.scope.tenantId ? `tenant ${v.scope.tenantName ?? ''} (${v.scope.tenantId})`.replace('  ', ' ') : 'every tenant') : 'unknown';
  return [
    `Report signature: ${v.signature.valid ? 'valid' : 'NOT VALID'} (EdDSA over RFC 8785, key ${v.signature.keyId ?? 'not named'})`,
    `Ledger head:      ${v.checkpoint ? `checkpoint at entry ${v.checkpoint.seq}, hash ${v.checkpoint.hash}, signed ${v.checkpoint.at}: ${v.checkpoint.valid ? 'valid' : 'NOT VALID'}` : 'none embedded'}`,
    `Scope:            ${scope}`,
    `Period:           ${v.period ? `${v.period.from} to ${v.period.to} (exclusive)` : 'unknown'}`,
    `Generated at:     ${v.generatedAt ?? 'unknown'}`,
    `Checked with:     ${v.keyId} (${keySource})`,
  ];
}

export function registerReport(program: Command) {
  const report = withApi(
    program
      .command('report')
      .description('The compliance report: signed JSON, one CSV table, or a printable HTML page (through a server); `report verify` checks a saved one')
      .option('--tenant <id>', 'one tenant (a tenant administrator key: its own, the default)')
      .option('--from <date>', 'start of the period: YYYY-MM-DD or an ISO 8601 timestamp (default: 30 days before --to)')
      .option('--to <date>', 'end of the period, exclusive; a date takes in that whole day (default: now)')
      .option('--format <f>', `${REPORT_FORMATS.join(', ')} (default json)`)
      .option('--table <t>', `with --format csv, the table: ${REPORT_TABLES.join(', ')}`)
      .option('--out <file>', 'write it to this file (default: standard output)'),
  ).action(async (flags) => {
    const format = oneOf(flags.format, '--format', REPORT_FORMATS) ?? 'json';
    const table = oneOf(flags.table, '--table', REPORT_TABLES);
    if (format === 'csv' && table === undefined) throw new CliError(`--format csv gives one table: add --table with one of ${REPORT_TABLES.join(', ')}`, EXIT.usage);
    if (format !== 'csv' && table !== undefined) throw new CliError('--table goes with --format csv', EXIT.usage);
    const query = {
      tenantId: flags.tenant ? idArg('tenant', flags.tenant) : undefined,
      from: periodArg(flags.from, '--from'),
      to: periodArg(flags.to, '--to'),
      format: format === 'json' ? undefined : format,
      table,
    };
    const text = await fetchReport(flags, query);
    // JSON is written indented for people to read: the signature covers its RFC 8785 form, not its spacing.
    const body = format === 'json' ? `${JSON.stringify(JSON.parse(text), null, 2)}\n` : text;
    if (!flags.out) {
      process.stdout.write(body);
      return;
    }
    fs.writeFileSync(flags.out, body);
    if (flags.json) printJson({ file: flags.out, format, bytes: Buffer.byteLength(body) });
    else console.log(`Wrote the ${format === 'csv' ? `${table} table (CSV)` : format.toUpperCase()} report to ${flags.out} (${Buffer.byteLength(body).toLocaleString('en-US')} bytes).${format === 'json' ? ` Check it with: custody report verify ${flags.out}` : ''}`);
  });

  report
    .command('verify <file>')
    .description("Check a saved JSON report: its signature and its embedded ledger checkpoint, against the ledger's public key (a key file, or the server's GET /v1/ledger/key)")
    .option('--key <file>', 'the public key: PEM, a JWK, or the JSON of GET /v1/ledger/key (offline; default: ask the server)')
    .configureHelp({ showGlobalOptions: true })
    .action(async (file: string, _flags, cmd: Command) => {
      // --url, --api-key and --json belong to `report` (commander gives them to the parent wherever they stand).
      const flags = cmd.optsWithGlobals() as { key?: string; url?: string; apiKey?: string; json?: boolean };
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (err) {
        throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`, EXIT.usage);
      }
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch {
        throw new CliError(`${file} is not valid JSON: it was changed after it was written, or it is not a JSON report (custody report --format json)`, EXIT.tampered, 'report_unreadable');
      }
      let key: KeyObject;
      let keySource: string;
      if (flags.key) {
        let keyText: string;
        try {
          keyText = fs.readFileSync(flags.key, 'utf8');
        } catch (err) {
          throw new CliError(`cannot read the key file ${flags.key}: ${(err as Error).message}`, EXIT.usage);
        }
        try {
          key = publicKeyFrom(keyText);
        } catch (err) {
          throw new CliError(`${flags.key}: ${(err as Error).message}`, EXIT.usage);
        }
        keySource = `key file ${flags.key}`;
      } else {
        if (!(flags.apiKey ?? process.env.CUSTODY_API_KEY)) throw new CliError('Give the ledger key with --key FILE (offline), or an API key (--api-key, CUSTODY_API_KEY) to fetch it from the server.', EXIT.usage);
        const published = await api(flags)((await endpoints.ledger()).key);
        key = publicKeyFrom(JSON.stringify(published));
        keySource = `published by ${serverUrl(flags.url)}`;
      }
      const v = verifyReport(doc, key);
      const repeated = duplicateKeys(text);
      if (repeated.length > 0) {
        v.ok = false;
        v.problems.push(`the file names ${[...new Set(repeated)].map((k) => JSON.stringify(k)).join(', ')} twice in one object: a JSON reader may take either value, so the figures are not the signed ones`);
      }
      if (flags.json) printJson(v);
      else console.log(describeVerification(v, keySource).join('\n'));
      if (!v.ok) throw new CliError(`the report does NOT verify: ${v.problems.join('; ')}`, EXIT.tampered, 'report_signature_invalid');
      if (!flags.json) console.log('OK: the report is as this Custody signed it, tied to the ledger head above.');
    });
}
