import { parse as parseCsv } from 'csv-parse/sync';
import { CustodyError } from '../shared/errors.ts';
import { columnNamed, headerProblems, MAX_BATCH_ROWS, shownName, type ImportColumn, type RawRow } from './import.rules.ts';

/**
 * Reading an import batch (CSV with a header row, or JSON) into rows that know their line in the
 * file. A batch may be a slice of a larger file: `firstLine` is the line its data starts on, and
 * (CSV) `columns` the file's header when the slice carries none — so every line number an answer
 * gives is a line of the user's file. Problems with the batch as a whole are CustodyErrors; a bad
 * row is a row with problems.
 */
export interface ImportBatchInput {
  format: 'csv' | 'json';
  data: string;
  /** The line of the file `data` starts on (default 1). */
  firstLine?: number;
  /** CSV: the header, when `data` is a slice after it. */
  columns?: string[];
}

const CSV_OPTIONS = { bom: true, raw: true, relax_column_count: true, skip_empty_lines: true } as const;

const BREAKS = /\r\n|\r|\n/g;
const LEADING_BREAKS = /^(?:\r\n|\r|\n)*/;

function countBreaks(s: string): number {
  return s.match(BREAKS)?.length ?? 0;
}

/**
 * Follows line numbers through csv-parse's records: each record's raw text starts with the empty
 * lines skipped before it, so the raw texts laid end to end are the input, and a record starts
 * after its leading line breaks. The CLI walks a streamed file the same way.
 */
export function csvLineTracker(firstLine = 1) {
  let next = firstLine;
  return (raw: string): number => {
    const start = next + countBreaks(LEADING_BREAKS.exec(raw)![0]);
    next += countBreaks(raw);
    return start;
  };
}

/** A CSV record that holds nothing but empty fields (a line of commas): skipped like an empty line. */
export function isBlankRecord(record: readonly string[]): boolean {
  return record.every((f) => f.trim() === '');
}

function columnsOrFail(names: readonly string[], line: number): ImportColumn[] {
  const problems = headerProblems(names);
  if (problems.length > 0) throw new CustodyError('import_columns_invalid', `The header (line ${line}) is not valid: ${problems.join('; ')}.`);
  return names.map((n) => columnNamed(n)!);
}

function tooLarge(rows: number): never {
  throw new CustodyError('import_batch_too_large', `The batch holds ${rows} rows; at most ${MAX_BATCH_ROWS} are taken at once. Send the file in batches (custody import does).`);
}

function readCsv(input: ImportBatchInput): RawRow[] {
  let records: { record: string[]; raw: string }[];
  try {
    records = parseCsv(input.data, CSV_OPTIONS) as unknown as { record: string[]; raw: string }[];
  } catch (err) {
    const e = err as Error & { lines?: number };
    const line = (input.firstLine ?? 1) - 1 + (e.lines ?? 1);
    throw new CustodyError('import_malformed', `The CSV could not be read near line ${line}: ${e.message.replace(/^Invalid Record Length: /, '').replace(/\s*\(.*$/, '').replace(/,?\s*value is .*$/s, '')}. Quote fields holding commas, quotes or line breaks ("like ""this""").`);
  }
  const lineOf = csvLineTracker(input.firstLine ?? 1);
  let columns: ImportColumn[] | undefined = input.columns ? columnsOrFail(input.columns, 1) : undefined;
  const rows: RawRow[] = [];
  for (const { record, raw } of records) {
    const line = lineOf(raw);
    if (!columns) {
      columns = columnsOrFail(record, line);
      continue;
    }
    if (isBlankRecord(record)) continue;
    if (rows.length >= MAX_BATCH_ROWS) tooLarge(records.length - 1);
    const values: RawRow['values'] = {};
    columns.forEach((c, i) => {
      if (record[i] !== undefined) values[c] = record[i];
    });
    const problems = record.length === columns.length ? [] : [{ column: null, message: `has ${record.length} field${record.length === 1 ? '' : 's'}; the header has ${columns.length}` }];
    rows.push({ line, values, problems });
  }
  if (!columns) throw new CustodyError('import_columns_invalid', 'The CSV has no header row: its first line must name the columns (docs/import.md).');
  return rows;
}

/**
 * Where invalid JSON goes wrong, as a line of the file: the parser's position when its message
 * gives one, else the first row (element) that does not parse on its own, else the end of the last
 * one that does (a missing comma or bracket between rows).
 */
function jsonErrorLine(err: Error, text: string, firstLine: number): number {
  const position = /position (\d+)/.exec(err.message);
  if (position) return firstLine + countBreaks(text.slice(0, Number(position[1])));
  let starts: number[];
  try {
    starts = elementStarts(text);
  } catch {
    return firstLine;
  }
  let end = 0;
  for (const start of starts) {
    end = skipValue(text, start);
    try {
      JSON.parse(text.slice(start, end));
    } catch {
      return firstLine + countBreaks(text.slice(0, start));
    }
  }
  return firstLine + countBreaks(text.slice(0, end));
}

function skipWhitespace(text: string, i: number): number {
  while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  return i;
}

function skipString(text: string, i: number): number {
  for (i++; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i + 1;
  }
  return i;
}

/** The end of the (valid) JSON value starting at `i`. */
function skipValue(text: string, i: number): number {
  if (text[i] === '"') return skipString(text, i);
  if (text[i] === '{' || text[i] === '[') {
    let depth = 0;
    while (i < text.length) {
      const c = text[i]!;
      if (c === '"') {
        i = skipString(text, i);
        continue;
      }
      if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    return i;
  }
  while (i < text.length && !',]} \n\r\t'.includes(text[i]!)) i++;
  return i;
}

/** Where each element of the rows' array starts in (already validated) JSON text. */
function elementStarts(text: string): number[] {
  let i = skipWhitespace(text, 0);
  if (text[i] === '{') {
    i = skipWhitespace(text, i + 1);
    while (i < text.length) {
      const keyEnd = skipString(text, i);
      const key = JSON.parse(text.slice(i, keyEnd)) as string;
      i = skipWhitespace(text, skipWhitespace(text, keyEnd) + 1);
      if (key === 'tokens') break;
      i = skipWhitespace(text, skipValue(text, i));
      i = skipWhitespace(text, i + 1);
    }
  }
  const starts: number[] = [];
  i = skipWhitespace(text, i + 1);
  while (i < text.length && text[i] !== ']') {
    starts.push(i);
    // Always forward, even over text that is not JSON (this also locates errors in invalid text).
    i = skipWhitespace(text, Math.max(skipValue(text, i), i + 1));
    if (text[i] === ',') i = skipWhitespace(text, i + 1);
  }
  return starts;
}

function readJson(input: ImportBatchInput): RawRow[] {
  const firstLine = input.firstLine ?? 1;
  const text = input.data.startsWith('\uFEFF') ? input.data.slice(1) : input.data;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    // The parser's own message can quote the text around the error, which may be a credential: not repeated.
    throw new CustodyError('import_malformed', `The JSON could not be read near line ${jsonErrorLine(err as Error, text, firstLine)}: it is not valid JSON there (check quotes, commas and brackets).`);
  }
  const list = Array.isArray(parsed) ? parsed : parsed !== null && typeof parsed === 'object' && Object.keys(parsed).length === 1 && Array.isArray((parsed as { tokens?: unknown }).tokens) ? (parsed as { tokens: unknown[] }).tokens : null;
  if (!list) throw new CustodyError('import_malformed', 'The JSON must be an array of objects, one a token, or an object {"tokens": [...]} holding one.');
  if (list.length > MAX_BATCH_ROWS) tooLarge(list.length);
  const starts = elementStarts(text);
  let line = firstLine;
  let at = 0;
  return list.map((item, k) => {
    line += countBreaks(text.slice(at, starts[k]));
    at = starts[k]!;
    if (item === null || typeof item !== 'object' || Array.isArray(item)) return { line, values: {}, problems: [{ column: null, message: 'must be an object whose keys are the columns (docs/import.md)' }] };
    const values: RawRow['values'] = {};
    const problems = [];
    for (const [key, value] of Object.entries(item)) {
      const column = columnNamed(key);
      if (column) values[column] = value;
      else problems.push({ column: shownName(key).replace(/^"|"$/g, ''), message: 'is not a column Custody knows (docs/import.md lists them)' });
    }
    return { line, values, problems };
  });
}

/** The rows of one batch, each with its line in the file. */
export function readImportBatch(input: ImportBatchInput): RawRow[] {
  return input.format === 'csv' ? readCsv(input) : readJson(input);
}
