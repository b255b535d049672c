import { hash } from 'node:crypto';
import { parse as parseCsvStream } from 'csv-parse';
import { csvLineTracker, isBlankRecord } from './import.parse.ts';
import { columnNamed, externalKeyOf, headerProblems } from './import.rules.ts';

/**
 * Cutting a file into import batches as it streams (the CLI): each batch is a slice of the file's
 * own text, so the server reads it exactly as it would read the whole file and answers with the
 * file's line numbers (`firstLine`; for CSV the header travels as `columns`). A record can be
 * left out of a batch (a row repeating an earlier one, found only across batches) by blanking it:
 * its characters go, its line breaks stay, so every later line keeps its number.
 */

/** One row of the file: where it starts, its text, and the key a repeat of it would share. */
export interface SplitRow {
  line: number;
  /** CSV: the raw record (with the empty lines skipped before it). JSON: the element's text. */
  text: string;
  /** JSON: what lies between the previous element and this one (the comma, blanks, line breaks). */
  gap: string;
  /** Tenant, provider and external id (null without an external id, or when the row cannot be read). */
  key: string | null;
  /** Digests of tenant, provider and each credential the row carries: a repeat of a credential in a later batch is found by these (no credential is kept). */
  credentialKeys: string[];
}

/** The credential keys of a row's values (sha256: the CLI keeps no credential in memory past its batch). */
export function credentialKeysOf(values: Record<string, unknown>): string[] {
  const text = (v: unknown) => (typeof v === 'string' ? v.trim() : '');
  const pair = `${text(values.tenantId)}\u0000${text(values.providerId)}\u0000`;
  const out: string[] = [];
  for (const name of ['accessToken', 'refreshToken']) {
    const credential = text(values[name]);
    if (credential !== '') out.push(hash('sha256', pair + credential, 'hex'));
  }
  return out;
}

export class ImportFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImportFileError';
  }
}

/** The rows of a CSV file as it streams; the header is checked before the first row comes out. */
export async function* csvRows(source: AsyncIterable<Buffer | string>, onHeader: (columns: string[]) => void): AsyncGenerator<SplitRow> {
  const parser = parseCsvStream({ bom: true, raw: true, relax_column_count: true, skip_empty_lines: true });
  // Waits for the parser to take more — or to be gone (failed, or its reader stopped): a 'drain'
  // that never comes would otherwise hold this promise, and the process, for ever.
  const room = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        parser.off('drain', done);
        parser.off('close', done);
        parser.off('error', done);
        resolve();
      };
      parser.once('drain', done);
      parser.once('close', done);
      parser.once('error', done);
    });
  const feed = (async () => {
    try {
      for await (const chunk of source) {
        if (parser.destroyed) return;
        if (!parser.write(chunk)) await room();
      }
      if (!parser.destroyed) parser.end();
    } catch (err) {
      parser.destroy(err as Error);
    }
  })();
  const lineOf = csvLineTracker(1);
  let header: string[] | null = null;
  try {
    for await (const { record, raw } of parser as AsyncIterable<{ record: string[]; raw: string }>) {
      const line = lineOf(raw);
      if (!header) {
        const problems = headerProblems(record);
        if (problems.length > 0) throw new ImportFileError(`The header (line ${line}) is not valid: ${problems.join('; ')}.`);
        header = record;
        onHeader(record);
        continue;
      }
      if (isBlankRecord(record)) {
        // Sent along (the server skips it too) so the lines after it keep their numbers.
        yield { line, text: raw, gap: '', key: null, credentialKeys: [] };
        continue;
      }
      const values: Record<string, string> = {};
      header.forEach((name, i) => {
        const c = columnNamed(name);
        if (c && record[i] !== undefined) values[c] = record[i]!;
      });
      yield { line, text: raw, gap: '', key: externalKeyOf(values), credentialKeys: credentialKeysOf(values) };
    }
  } catch (err) {
    if (err instanceof ImportFileError) throw err;
    const e = err as Error & { lines?: number };
    throw new ImportFileError(`The CSV could not be read near line ${e.lines ?? '?'}: ${e.message.replace(/\s*\(.*$/, '').replace(/,?\s*value is .*$/s, '')}. Quote fields holding commas, quotes or line breaks.`);
  } finally {
    // Stopped early (a bad record, or the reader gave up on a failed batch): the feed ends with it.
    if (!parser.destroyed) parser.destroy();
    await feed;
  }
  if (!header) throw new ImportFileError('The file is empty: a CSV import starts with a header row naming the columns (docs/import.md).');
}

/**
 * The elements of the rows array of a JSON file (`[ … ]` or `{"tokens": [ … ]}`) as it streams,
 * each with its line and its exact text: a small scanner that follows strings and nesting, not a
 * validator (the server parses every batch).
 */
export class JsonRowSplitter {
  private line = 1;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private root: 'array' | 'object' | null = null;
  private rowsDepth = 0;
  private finished = false;
  // The root object's keys (depth 1): which value is being read.
  private expectingKey = false;
  private key: string | null = null;
  private keyText: string | null = null;
  private afterColon = false;
  // The element being read.
  private element: 'container' | 'string' | 'scalar' | null = null;
  private elementLine = 0;
  private gap = '';
  private carry = '';
  private segStart = 0;
  private chunk = '';
  private out: SplitRow[] = [];

  private cut(end: number): string {
    const piece = this.carry + this.chunk.slice(this.segStart, end);
    this.carry = '';
    this.segStart = end;
    return piece;
  }

  private startElement(kind: 'container' | 'string' | 'scalar', at: number): void {
    this.gap = this.cut(at);
    this.element = kind;
    this.elementLine = this.line;
  }

  private endElement(end: number): void {
    const text = this.cut(end);
    let key: string | null = null;
    let credentialKeys: string[] = [];
    if (this.element === 'container') {
      try {
        const values = JSON.parse(text) as Record<string, unknown>;
        key = externalKeyOf(values);
        credentialKeys = credentialKeysOf(values);
      } catch {
        key = null;
      }
    }
    this.out.push({ line: this.elementLine, text, gap: this.gap, key, credentialKeys });
    this.element = null;
  }

  private fail(message: string): never {
    throw new ImportFileError(`${message} (line ${this.line}). A JSON import is an array of objects, or {"tokens": [...]} holding one (docs/import.md).`);
  }

  /** Feeds a chunk; answers the elements it completed. */
  push(chunk: string): SplitRow[] {
    if (this.root === null && this.depth === 0 && chunk.startsWith('\uFEFF') && this.carry === '') chunk = chunk.slice(1);
    this.chunk = chunk;
    this.segStart = 0;
    for (let k = 0; k < chunk.length; k++) {
      const c = chunk[k]!;
      if (c === '\n') this.line++;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if (c === '"') {
          this.inString = false;
          if (this.keyText !== null) {
            this.key = this.keyText;
            this.keyText = null;
          } else if (this.element === 'string' && this.depth === this.rowsDepth) this.endElement(k + 1);
        } else if (this.keyText !== null) this.keyText += c;
        continue;
      }
      const blank = c === ' ' || c === '\n' || c === '\r' || c === '\t';
      if (this.element === 'scalar' && (blank || c === ',' || c === ']' || c === '}')) this.endElement(k);
      if (blank) continue;
      if (this.finished) this.fail('Unexpected text after the rows');
      if (this.root === null) {
        if (c === '[') [this.root, this.rowsDepth] = ['array', 1];
        else if (c === '{') [this.root, this.expectingKey] = ['object', true];
        else this.fail('The file does not start with [ or {');
        this.depth = 1;
        continue;
      }
      const inRows = this.rowsDepth > 0 && this.depth === this.rowsDepth;
      switch (c) {
        case '"':
          this.inString = true;
          if (this.root === 'object' && this.depth === 1 && this.expectingKey) this.keyText = '';
          else if (inRows && this.element === null) this.startElement('string', k);
          break;
        case '{':
        case '[':
          if (inRows && this.element === null) this.startElement('container', k);
          else if (this.root === 'object' && this.depth === 1 && this.afterColon && this.key === 'tokens' && c === '[' && this.rowsDepth === 0) this.rowsDepth = 2;
          this.depth++;
          break;
        case '}':
        case ']':
          this.depth--;
          if (this.element === 'container' && this.depth === this.rowsDepth) this.endElement(k + 1);
          // The rows array closed: nothing after it is a row (-1: found, and closed).
          else if (this.rowsDepth > 0 && this.depth === this.rowsDepth - 1) this.rowsDepth = -1;
          if (this.depth === 0) this.finished = true;
          break;
        case ',':
          if (this.root === 'object' && this.depth === 1) [this.expectingKey, this.afterColon] = [true, false];
          break;
        case ':':
          if (this.root === 'object' && this.depth === 1) [this.expectingKey, this.afterColon] = [false, true];
          break;
        default:
          if (inRows && this.element === null) this.startElement('scalar', k);
      }
    }
    this.carry += chunk.slice(this.segStart);
    const done = this.out;
    this.out = [];
    return done;
  }

  /** The file has ended: answers the last element, if one was open; throws when the rows never closed. */
  end(): SplitRow[] {
    this.chunk = '';
    this.segStart = 0;
    if (this.element === 'scalar') this.endElement(0);
    const done = this.out;
    this.out = [];
    if (this.root === null) this.fail('The file is empty');
    if (this.rowsDepth === 0) this.fail('The object has no "tokens" array');
    if (!this.finished || this.inString) this.fail('The file ends before its rows array closes');
    return done;
  }
}

/** The rows of a JSON file as it streams. */
export async function* jsonRows(source: AsyncIterable<Buffer | string>): AsyncGenerator<SplitRow> {
  const splitter = new JsonRowSplitter();
  const decoder = new TextDecoder('utf-8');
  for await (const chunk of source) yield* splitter.push(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
  yield* splitter.push(decoder.decode());
  yield* splitter.end();
}

/** Line breaks kept, everything else gone: a left-out row's lines stay counted. */
function blank(s: string): string {
  return s.replace(/[^\r\n]/g, '');
}

/**
 * The body text of one batch from its rows: the rows' own text laid end to end (JSON: inside
 * `[` `]`, joined by their own separators), with the rows in `leaveOut` blanked. It starts on the
 * first row's line: send that as `firstLine`.
 */
export function batchData(format: 'csv' | 'json', rows: readonly SplitRow[], leaveOut: ReadonlySet<number> = new Set()): string {
  if (format === 'csv') {
    // The data starts on the first row's line: the empty lines before it are not sent.
    const text = (r: SplitRow, i: number) => (i === 0 ? r.text.replace(/^(?:\r\n|\r|\n)+/, '') : r.text);
    return rows.map((r, i) => (leaveOut.has(i) ? blank(text(r, i)) : text(r, i))).join('');
  }
  let out = '[';
  let kept = 0;
  rows.forEach((r, i) => {
    const gap = i === 0 ? '' : r.gap;
    if (leaveOut.has(i)) out += blank(gap + r.text);
    else {
      // The first row kept takes no comma before it.
      out += (kept === 0 ? blank(gap) : gap) + r.text;
      kept++;
    }
  });
  return `${out}]`;
}
