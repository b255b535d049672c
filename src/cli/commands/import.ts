import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { ImportResult } from '../../imports/import.contract.ts';
import type { SplitRow } from '../../imports/import.split.ts';
import type { ApiCall } from '../api-client.ts';
import { api, intOption, oneOf, withApi } from '../command-helpers.ts';
import { CliError, EXIT, type ExitCode } from '../errors.ts';
import { printJson } from '../output.ts';
import { progressBar } from '../progress.ts';

/**
 * `custody import FILE`: streams a CSV or JSON file of tokens held elsewhere to the server in
 * batches (POST /v1/tokens/import), each a slice of the file's own text so every answer names the
 * file's lines. All or nothing per batch; a run that stops half way is resumed by running it again
 * (the server recognises what it already holds). docs/import.md.
 */

/** The server's default body limit is 256 KiB: a batch's text stays well under it. */
const BATCH_BYTES = 192 * 1024;
const DEFAULT_BATCH_ROWS = 1_000;
/** Invalid rows printed on the terminal; the rest are in --report. */
const PRINTED_INVALID = 50;

export interface ImportOptions {
  file: string;
  format: 'csv' | 'json';
  batchRows: number;
  skipInvalid: boolean;
  dryRun: boolean;
  /** Told after each batch: rows read so far, bytes of the file read so far. */
  onProgress?: (p: { rows: number; bytes: number }) => void;
  /** Asked before each batch is sent: true stops the run there (Ctrl-C), as an interruption to resume. */
  shouldStop?: () => boolean;
}

export interface ImportReport {
  file: string;
  format: 'csv' | 'json';
  dryRun: boolean;
  skipInvalid: boolean;
  rows: number;
  imported: number;
  existing: number;
  /** Valid rows not held yet and not written (their batch was refused, or a dry run). */
  unwritten: number;
  invalid: number;
  batches: number;
  refusedBatches: number;
  seconds: number;
  /** Set when the run stopped before the end of the file. */
  stopped: { atLine: number; code: string; message: string; exitCode: number } | null;
  invalidRows: { line: number; reasons: { column: string | null; message: string }[] }[];
  results: { line: number; status: 'imported' | 'existing' | 'new'; tokenId: string | null; state: string | null; matchedBy: 'externalId' | 'fingerprint' | null }[];
}

type Batch = { rows: SplitRow[]; bytes: number };

/** Sends the file in batches and gathers what the server answered. Throws only for problems with the file itself or the command line. */
export async function runImport(call: ApiCall, options: ImportOptions): Promise<ImportReport> {
  const { importEndpoints } = await import('../../imports/import.contract.ts');
  const { csvRows, jsonRows, batchData, ImportFileError } = await import('../../imports/import.split.ts');
  const started = performance.now();
  const report: ImportReport = {
    file: options.file,
    format: options.format,
    dryRun: options.dryRun,
    skipInvalid: options.skipInvalid,
    rows: 0,
    imported: 0,
    existing: 0,
    unwritten: 0,
    invalid: 0,
    batches: 0,
    refusedBatches: 0,
    seconds: 0,
    stopped: null,
    invalidRows: [],
    results: [],
  };
  let columns: string[] | undefined;
  // Rows of earlier batches by (tenant, provider, external id): a repeat in a later batch is found here.
  const seen = new Map<string, number>();
  // And by a digest of each credential (tenant, provider, token): the same token under another external id.
  const seenCredentials = new Map<string, number>();
  let bytesRead = 0;

  /** Posts one batch (halved and retried if the server finds it too large for its body limit). */
  async function post(rows: SplitRow[], leaveOut: Set<number>, dryRun: boolean): Promise<ImportResult[]> {
    try {
      return [
        await call(importEndpoints.importTokens, {
          body: {
            format: options.format,
            data: batchData(options.format, rows, leaveOut),
            firstLine: rows[0]!.line,
            ...(columns ? { columns } : {}),
            ...(options.skipInvalid ? { skipInvalid: true } : {}),
            ...(dryRun ? { dryRun: true } : {}),
          },
        }),
      ];
    } catch (err) {
      if (!(err instanceof CliError) || err.code !== 'body_too_large' || rows.length < 2) throw err;
      const half = Math.ceil(rows.length / 2);
      const shift = (set: Set<number>, by: number, below: number) => new Set([...set].filter((i) => i >= by && i < below).map((i) => i - by));
      return [...(await post(rows.slice(0, half), shift(leaveOut, 0, half), dryRun)), ...(await post(rows.slice(half), shift(leaveOut, half, rows.length), dryRun))];
    }
  }

  async function flush(batch: Batch): Promise<void> {
    const rows = batch.rows;
    const local: ImportReport['invalidRows'] = [];
    const leaveOut = new Set<number>();
    rows.forEach((r, i) => {
      const byId = r.key === null ? undefined : seen.get(r.key);
      const byCredential = byId === undefined ? r.credentialKeys.map((k) => seenCredentials.get(k)).find((l) => l !== undefined) : undefined;
      const first = byId ?? byCredential;
      if (first === undefined) return;
      leaveOut.add(i);
      const what = byId !== undefined ? 'externalId' : 'credential';
      local.push({ line: r.line, reasons: [{ column: what === 'externalId' ? 'externalId' : 'accessToken', message: `repeats line ${first} (the same ${what} for this tenant and provider): one token is one row` }] });
    });
    // All or nothing: a batch holding a repeat is only checked, unless invalid rows may be skipped.
    const refusedHere = local.length > 0 && !options.skipInvalid;
    const answers = await post(rows, leaveOut, options.dryRun || refusedHere);
    rows.forEach((r, i) => {
      if (leaveOut.has(i)) return;
      if (r.key !== null && !seen.has(r.key)) seen.set(r.key, r.line);
      for (const k of r.credentialKeys) if (!seenCredentials.has(k)) seenCredentials.set(k, r.line);
    });
    report.batches++;
    const written = answers.every((a) => a.written) && !refusedHere;
    if (!written && !options.dryRun) report.refusedBatches++;
    const invalid = [...local];
    for (const a of answers) {
      report.rows += a.rows;
      report.imported += a.imported;
      report.existing += a.existing;
      report.unwritten += a.unwritten;
      report.invalid += a.invalid;
      invalid.push(...a.invalidRows);
      for (const x of a.results) report.results.push({ line: x.line, status: x.status, tokenId: x.tokenId, state: x.state, matchedBy: x.matchedBy });
    }
    report.rows += local.length;
    report.invalid += local.length;
    report.invalidRows.push(...invalid.sort((x, y) => x.line - y.line));
    options.onProgress?.({ rows: report.rows, bytes: bytesRead });
  }

  const source = fs.createReadStream(options.file);
  const rows = options.format === 'csv' ? csvRows(source, (c) => (columns = c)) : jsonRows(source);
  let batch: Batch = { rows: [], bytes: 0 };
  try {
    for await (const row of rows) {
      const size = Buffer.byteLength(row.text) + Buffer.byteLength(row.gap);
      bytesRead += size;
      if (batch.rows.length > 0 && (batch.rows.length >= options.batchRows || batch.bytes + size > BATCH_BYTES)) {
        if (options.shouldStop?.()) throw new CliError('Interrupted (Ctrl-C) before this batch was sent.', EXIT.incomplete, 'interrupted');
        await flush(batch);
        batch = { rows: [], bytes: 0 };
      }
      batch.rows.push(row);
      batch.bytes += size;
    }
    if (batch.rows.length > 0) {
      if (options.shouldStop?.()) throw new CliError('Interrupted (Ctrl-C) before this batch was sent.', EXIT.incomplete, 'interrupted');
      await flush(batch);
    }
  } catch (err) {
    if (err instanceof ImportFileError) throw new CliError(`${options.file}: ${err.message}`, EXIT.usage, 'import_file_invalid');
    if (!(err instanceof CliError)) throw err;
    // The server refused or failed a batch: what was written stays written, and a run again resumes.
    report.stopped = { atLine: batch.rows[0]?.line ?? 0, code: err.code, message: err.message, exitCode: err.exitCode };
  } finally {
    source.destroy();
  }
  report.seconds = (performance.now() - started) / 1000;
  return report;
}

const n = (x: number) => x.toLocaleString('en-US');
const plural = (x: number, one: string, many = `${one}s`) => `${n(x)} ${x === 1 ? one : many}`;

function summary(r: ImportReport): string[] {
  const lines: string[] = [];
  const rate = r.seconds > 0 ? Math.round(r.rows / r.seconds) : r.rows;
  const verb = r.dryRun ? 'Checked (dry run, nothing written)' : 'Read';
  lines.push(`${verb} ${plural(r.rows, 'row')} of ${r.file} in ${r.seconds.toFixed(1)} s (${n(rate)} rows/s), ${plural(r.batches, 'batch', 'batches')}.`);
  if (!r.dryRun) lines.push(`  imported: ${n(r.imported)} new token${r.imported === 1 ? '' : 's'}`);
  const ended = r.results.filter((x) => x.status === 'existing' && (x.state === 'revoked' || x.state === 'expired')).length;
  lines.push(`  existing: ${n(r.existing)} already held (left as they are)${ended > 0 ? `; ${n(ended)} of them revoked or expired (a final record is not brought back by an import)` : ''}`);
  if (r.dryRun) lines.push(`  new:      ${n(r.unwritten)} would be imported`);
  lines.push(`  invalid:  ${n(r.invalid)}`);
  if (!r.dryRun && r.unwritten > 0) {
    lines.push(`  not written: ${n(r.unwritten)} valid rows in ${plural(r.refusedBatches, 'batch', 'batches')} refused for invalid rows (all or nothing per batch). Fix the invalid rows and run the same command again, or add --skip-invalid.`);
  }
  return lines;
}

function printInvalid(r: ImportReport, reportFile: string | undefined): void {
  if (r.invalidRows.length === 0) return;
  const shown = r.invalidRows.slice(0, PRINTED_INVALID);
  for (const row of shown) console.error(`line ${row.line}: ${row.reasons.map((x) => (x.column ? `${x.column} ${x.message}` : x.message)).join('; ')}`);
  const more = r.invalid - shown.length;
  if (more > 0) console.error(`… and ${n(more)} more invalid row${more === 1 ? '' : 's'}${reportFile ? ` (all in ${reportFile})` : ' (--report FILE lists them all)'}.`);
}

export function registerImport(program: Command) {
  withApi(
    program
      .command('import <file>')
      .description('Import tokens held elsewhere from a CSV or JSON file (through a server): batches of rows, all or nothing per batch, safe to run again')
      .option('--format <format>', 'csv or json (default: from the file name)')
      .option('--batch <rows>', `rows per request, 1–2000 (default ${DEFAULT_BATCH_ROWS}; smaller when rows are long: a request stays under 192 KiB)`)
      .option('--skip-invalid', 'write the valid rows of a batch even when others are invalid')
      .option('--dry-run', 'check every row and say what would be imported, writing nothing')
      .option('--report <file>', 'write the full report (every invalid row, every row’s token id) as JSON to this file')
      .addHelpText(
        'after',
        `
Columns (docs/import.md): tenantId, providerId, externalId, owner, subject, approverSubject,
approverEmail, approverIssuer, approvedAt, purpose, reviewDueAt, workloads (a;b), scopes (a b),
accessToken, refreshToken, issuedAt, accessExpiresAt, refreshExpiresAt, servedTenants (a;b).
A row without credentials is an inventory-only record (it needs an externalId).
Run it again after an interruption: rows already imported are recognised, never duplicated.
Exit codes: 0 every row imported or already held · 2 invalid rows (listed on stderr) ·
8 stopped before the end (run the same command again to resume).`,
      ),
  ).action(async (file: string, flags) => {
    const format = oneOf(flags.format as string | undefined, '--format', ['csv', 'json'] as const) ?? formatOf(file);
    const batchRows = intOption(flags.batch as string | undefined, '--batch', 1, 2_000) ?? DEFAULT_BATCH_ROWS;
    let size: number;
    try {
      const stat = fs.statSync(file);
      if (!stat.isFile()) throw new Error('not a file');
      size = stat.size;
    } catch (err) {
      throw new CliError(`Cannot read ${file}: ${(err as Error).message}`, EXIT.usage);
    }
    // Ctrl-C stops after the batch in flight (it is all or nothing, so it is written or not), with
    // the summary and how to resume; a second Ctrl-C stops at once.
    let interrupted = false;
    const onInterrupt = () => {
      interrupted = true;
    };
    process.once('SIGINT', onInterrupt);
    const bar = progressBar('Importing', '{percentage}% | {rows} rows | {rate} rows/s | {duration_formatted}');
    const started = performance.now();
    let report: ImportReport;
    try {
      report = await runImport(api(flags), {
        file,
        format,
        batchRows,
        skipInvalid: flags.skipInvalid === true,
        dryRun: flags.dryRun === true,
        shouldStop: () => interrupted,
        onProgress: ({ rows, bytes }) => bar.update(bytes, size, { rows: n(rows), rate: n(Math.round(rows / Math.max((performance.now() - started) / 1000, 0.001))) }),
      });
    } finally {
      process.off('SIGINT', onInterrupt);
      await bar.stop();
    }
    const reportFile = flags.report as string | undefined;
    if (reportFile) fs.writeFileSync(reportFile, `${JSON.stringify(report, null, 2)}\n`);
    if (flags.json) printJson(report);
    else {
      for (const line of summary(report)) console.log(line);
      printInvalid(report, reportFile);
    }
    if (report.stopped) {
      throw new CliError(
        `Stopped at the batch starting on line ${report.stopped.atLine}: ${report.stopped.message} What was imported before it is kept; run the same command again to resume (rows already imported are recognised).`,
        // A refused key or no server at all says so (4, 7); a bad batch is the input's (2); anything else left it unfinished (8).
        report.stopped.code.startsWith('import_') || report.stopped.code === 'validation_failed'
          ? EXIT.usage
          : report.stopped.exitCode === EXIT.refused || report.stopped.exitCode === EXIT.unreachable
            ? (report.stopped.exitCode as ExitCode)
            : EXIT.incomplete,
        report.stopped.code,
      );
    }
    if (report.invalid > 0) process.exitCode = EXIT.usage;
  });
}

function formatOf(file: string): 'csv' | 'json' {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.json') return 'json';
  throw new CliError(`Cannot tell the format of ${file} from its name: add --format csv or --format json.`, EXIT.usage);
}
