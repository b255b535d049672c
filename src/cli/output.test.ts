import { describe, expect, it } from 'vitest';
import { displayWidth, table } from './output.ts';

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
});
