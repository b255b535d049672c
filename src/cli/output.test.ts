import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { displayWidth, escapeControls, guardTerminalOutput, table } from './output.ts';

describe('CLI tables', () => {
  it('count the columns a terminal draws: combining marks none, CJK and emoji two', () => {
    expect(displayWidth('José Nuñez')).toBe(10);
    expect(displayWidth('Jose\u0301')).toBe(4);
    expect(displayWidth('東京')).toBe(4);
    expect(displayWidth('🔥 incident')).toBe(11);
    expect(displayWidth('')).toBe(0);
  });

  it('align the next column after wide and combining text', () => {
    const rows = [
      ['OWNER', 'STATE'],
      ['東京チーム', 'active'],
      ['Jose\u0301', 'revoked'],
      ['🔥 ops', 'active'],
    ];
    const out = table(rows).split('\n');
    // Where the second column starts, in terminal columns, is the same on every line.
    const starts = out.map((line, i) => displayWidth(line.slice(0, line.length - rows[i]![1]!.length)));
    expect(starts).toEqual([12, 12, 12, 12]);
  });

  it('show terminal controls from the data as escapes instead of acting on them (ESC, BEL, CR, C1, bidi overrides)', () => {
    const owner = 'al\u001b[8mhidden\u001b[0mice';
    const purpose = 'ok\u001b]0;pwned\u0007\u001b[2J\rRED\u009b \u202e\u200balice';
    expect(escapeControls(owner)).toBe('al\\x1B[8mhidden\\x1B[0mice');
    expect(escapeControls(purpose)).toBe('ok\\x1B]0;pwned\\x07\\x1B[2J\\x0DRED\\x9B \\u202E\\u200Balice');
    // Tabs, newlines, accents, CJK, emoji and joiners are text.
    expect(escapeControls('a\tb\nJosé 東京 👩‍💻')).toBe('a\tb\nJosé 東京 👩‍💻');
    const out = table([['OWNER'], [owner]]);
    // eslint-disable-next-line no-control-regex -- control characters are what must not be there
    expect(out).not.toMatch(/[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/);
  });

  it('guard a terminal’s output whatever prints to it, and leave a file or pipe exact', () => {
    const written: string[] = [];
    const tty = Object.assign(new PassThrough(), { isTTY: true }) as unknown as NodeJS.WriteStream;
    tty.write = ((chunk: string) => written.push(chunk) > 0) as typeof tty.write;
    guardTerminalOutput(tty);
    tty.write('purpose: ok\u001b[2J\n');
    expect(written).toEqual(['purpose: ok\\x1B[2J\n']);
    const pipe = Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.WriteStream;
    const original = pipe.write;
    guardTerminalOutput(pipe);
    expect(pipe.write).toBe(original);
  });
});
