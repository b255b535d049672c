/**
 * Characters a terminal acts on instead of showing: C0 controls but tab and newline (ESC starts
 * the sequences that recolour, hide, clear the screen or set the window title; CR rewrites a
 * line), DEL, C1 controls, bidirectional overrides and isolates (which reorder what follows), the
 * zero-width space and the line and paragraph separators. Text from the API is data a tenant, a
 * provider or a caller chose: shown to staff in a terminal, it must not steer it.
 */
// eslint-disable-next-line no-control-regex -- control characters are what it finds
const TERMINAL_CONTROLS = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u200B\u2028\u2029\u202A-\u202E\u2066-\u2069]/g;

/** `text` with every terminal control shown as an escape (`\x1B`, `\u202E`) instead of acting. */
export function escapeControls(text: string): string {
  return text.replace(TERMINAL_CONTROLS, (ch) => {
    const cp = ch.codePointAt(0)!;
    return cp <= 0xff ? `\\x${cp.toString(16).toUpperCase().padStart(2, '0')}` : `\\u${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  });
}

/**
 * The CLI's standard output on a terminal shows terminal controls as escapes (escapeControls)
 * whatever prints them; redirected to a file or a pipe it is left exact (a CSV export keeps its
 * data). Its own progress bars draw on standard error.
 */
export function guardTerminalOutput(stream: NodeJS.WriteStream = process.stdout): void {
  if (!stream.isTTY) return;
  const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
  stream.write = ((chunk: unknown, ...rest: unknown[]) => write(typeof chunk === 'string' ? escapeControls(chunk) : chunk, ...rest)) as typeof stream.write;
}

/** Plain-text output for people: aligned columns, and JSON for machines. */
export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  rows = rows.map((r) => r.map(escapeControls));
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => displayWidth(r[i] ?? ''))));
  return rows.map((r) => r.map((c, i) => c + ' '.repeat(Math.max(0, widths[i]! - displayWidth(c)))).join('  ').trimEnd()).join('\n');
}

/** Marks drawn on the character before them, joiners and variation selectors: no column of their own. */
const MARK = /^[\p{Mn}\p{Me}]$/u;
const zeroWidth = (ch: string, cp: number) => MARK.test(ch) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0xfe00 && cp <= 0xfe0f);
/** East Asian wide and fullwidth characters, and emoji: two columns in a terminal. */
const WIDE = /^[\u1100-\u115F\u2E80-\u303E\u3041-\u33FF\u3400-\u4DBF\u4E00-\u9FFF\uA000-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6\u{1F300}-\u{1FAFF}\u{20000}-\u{3FFFD}]$/u;

/**
 * How many terminal columns a text takes, near enough for aligning tables: combining marks take
 * none, CJK and emoji two (a sequence of emoji joined into one picture is counted per emoji, as
 * many terminals draw it).
 */
export function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text) width += zeroWidth(ch, ch.codePointAt(0)!) ? 0 : WIDE.test(ch) ? 2 : 1;
  return width;
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** The value of a repeatable option (commander collects them with this). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export const yesNo = (v: boolean | null) => (v === null ? 'unknown yet' : v ? 'yes' : 'no');
