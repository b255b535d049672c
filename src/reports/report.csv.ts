import { stringify } from 'csv-stringify/sync';
import type { Cell, ReportTableData } from './report.rules.ts';

/**
 * A spreadsheet runs a cell that starts with = + - @ (or a tab or carriage return, which some
 * strip first) as a formula: text that could carry one (an owner's name, a reason, a scope) is
 * prefixed with a single quote, which the spreadsheet shows as text (OWASP "CSV injection").
 * Numbers are written as numbers.
 */
export function neutralise(cell: Cell): string {
  if (cell === null) return '';
  if (typeof cell === 'number' || typeof cell === 'boolean') return String(cell);
  return /^[=+\-@\t\r]/.test(cell) ? `'${cell}` : cell;
}

/** One table as an RFC 4180 file: a header row, CRLF line ends, fields quoted when they must be. */
export function tableCsv(table: ReportTableData): string {
  return stringify([table.columns, ...table.rows.map((row) => row.map(neutralise))], { record_delimiter: 'windows', quoted_string: false });
}
