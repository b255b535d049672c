/** Plain-text output for people: aligned columns, and JSON for machines. */
export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
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
