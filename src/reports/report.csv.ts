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
  // Every line of a multi-line value too: a reader that splits on a lone line break would start a cell there.
  const lines = cell.replace(/([\r\n])([=+\-@\t])/g, "$1'$2");
  return /^[=+\-@\t\r\n]/.test(lines) ? `'${lines}` : lines;
}

/**
 * One table as an RFC 4180 file: a header row, CRLF line ends, fields quoted when they must be —
 * and any field holding a line break of either kind (csv-stringify quotes only the record
 * delimiter itself, and a lone LF in a value would otherwise end the row for many readers).
 */
export function tableCsv(table: ReportTableData): string {
  return stringify([table.columns, ...table.rows.map((row) => row.map(neutralise))], { record_delimiter: 'windows', quoted_string: false, quoted_match: /[\r\n]/ });
}
