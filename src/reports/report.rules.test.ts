import { describe, expect, it } from 'vitest';
import { neutralise, tableCsv } from './report.csv.ts';
import { duplicateKeys } from './report.signature.ts';
import { escapeHtml } from './report.html.ts';
import { aiRmfCategory, durationBuckets, durationStats, KILL_TIME_BUCKETS_MS, parsePeriod, periodDays, shareOf, tallyFindings } from './report.rules.ts';

const NOW = new Date('2026-11-01T12:00:00.000Z');

describe('the compliance report’s rules', () => {
  it('takes the last 30 days by default, a date as a whole UTC day, and refuses empty, long or impossible periods with report_period_invalid', () => {
    expect(parsePeriod({}, NOW)).toEqual({ from: new Date('2026-10-02T12:00:00.000Z'), to: NOW });
    expect(parsePeriod({ from: '2026-10-01', to: '2026-10-31' }, NOW)).toEqual({ from: new Date('2026-10-01T00:00:00.000Z'), to: new Date('2026-11-01T00:00:00.000Z') });
    expect(parsePeriod({ from: '2026-10-01T08:00:00+02:00', to: '2026-10-01T09:00:00Z' }, NOW)).toEqual({ from: new Date('2026-10-01T06:00:00.000Z'), to: new Date('2026-10-01T09:00:00.000Z') });
    expect(parsePeriod({ from: '2025-11-01', to: '2026-10-31' }, NOW).from.toISOString()).toBe('2025-11-01T00:00:00.000Z');
    for (const q of [{ from: '2026-10-02', to: '2026-10-01' }, { from: '2026-10-01T00:00:00Z', to: '2026-10-01T00:00:00Z' }, { from: '2025-10-30', to: '2026-10-31' }, { from: '2026-02-29' }, { to: '2026-04-31' }, { to: '2026-01-01T24:00:00Z' }, { from: '9999-12-01', to: '9999-12-31' }, { from: '0000-06-01', to: '0000-07-01' }]) {
      expect(() => parsePeriod(q, NOW), JSON.stringify(q)).toThrow(expect.objectContaining({ code: 'report_period_invalid' }));
    }
    // The last day a `to` date can name: its end is still a four-digit year.
    expect(parsePeriod({ from: '9999-12-01', to: '9999-12-30' }, NOW).to.toISOString()).toBe('9999-12-31T00:00:00.000Z');
    expect(periodDays(new Date('2026-10-01T00:00:00Z'), new Date('2026-11-01T00:00:00Z'))).toEqual({ fromDay: '2026-10-01', toDay: '2026-10-31' });
  });

  it('gives nearest-rank percentiles over (value, how many) pairs', () => {
    expect(durationStats([])).toEqual({ count: 0, p50Ms: null, p99Ms: null, maxMs: null });
    expect(durationStats([{ ms: 7, n: 1 }])).toEqual({ count: 1, p50Ms: 7, p99Ms: 7, maxMs: 7 });
    // 100 values 1..100: p50 is the 50th, p99 the 99th.
    const hundred = Array.from({ length: 100 }, (_, i) => ({ ms: i + 1, n: 1 }));
    expect(durationStats(hundred)).toEqual({ count: 100, p50Ms: 50, p99Ms: 99, maxMs: 100 });
    // A bulk revocation: 999 at 2 s and one slow one.
    expect(durationStats([{ ms: 2_000, n: 999 }, { ms: 90_000, n: 1 }])).toEqual({ count: 1_000, p50Ms: 2_000, p99Ms: 2_000, maxMs: 90_000 });
    expect(durationStats([{ ms: 2_000, n: 98 }, { ms: 90_000, n: 2 }]).p99Ms).toBe(90_000);
  });

  it('counts findings once per framework id and once per AI RMF category', () => {
    const t = tallyFindings([
      { type: 'unmanaged', status: 'open', n: 3 },
      { type: 'unmanaged', status: 'excepted', n: 1 },
      { type: 'review_overdue', status: 'acknowledged', n: 2 },
    ]);
    expect(t.total).toBe(6);
    expect(t.byStatus).toEqual({ open: 3, acknowledged: 2, excepted: 1 });
    expect(t.bySeverity).toEqual({ critical: 0, high: 4, medium: 2, low: 0 });
    expect(t.owaspNhi.find((x) => x.id === 'NHI1')!.count).toBe(6);
    expect(t.owaspNhi.find((x) => x.id === 'NHI3')!.count).toBe(4);
    expect(t.owaspNhi.map((x) => x.id)).toEqual(['NHI1', 'NHI2', 'NHI3', 'NHI4', 'NHI5', 'NHI6', 'NHI7', 'NHI8', 'NHI9', 'NHI10']);
    // unmanaged maps GOVERN 1.6 and 1.7 (one GOVERN 1) and MANAGE 2.4; review_overdue GOVERN 1.5 and MAP 1.4.
    expect(Object.fromEntries(t.nistAiRmf.categories.map((c) => [c.id, c.count]))).toMatchObject({ 'GOVERN 1': 6, 'MANAGE 2': 4, 'MAP 1': 2, 'GOVERN 2': 0 });
    expect(t.nistAiRmf.subcategories.find((s) => s.id === 'GOVERN 1.6')!.count).toBe(4);
    expect(aiRmfCategory('MEASURE 2.7')).toBe('MEASURE 2');
    expect(shareOf(2, 3)).toBe(0.6667);
    expect(shareOf(0, 0)).toBeNull();
  });

  it('neutralises formula-like CSV text and escapes HTML', () => {
    expect(['=1+1', '+1 CFO', '-x', '@SUM(A1)', '\tx', 'plain', 42, null, true].map(neutralise)).toEqual(["'=1+1", "'+1 CFO", "'-x", "'@SUM(A1)", "'\tx", 'plain', '42', '', 'true']);
    // After a line break as well, and the field is quoted so the break stays inside it.
    expect(neutralise("x\n=HYPERLINK('http://evil.example/')")).toBe("x\n'=HYPERLINK('http://evil.example/')");
    expect(neutralise('\n=cmd|calc')).toBe("'\n'=cmd|calc");
    expect(tableCsv({ name: 't', columns: ['owner', 'n'], rows: [["x\n=cmd|' /C calc'!A0", 1]] } as never)).toBe('owner,n\r\n"x\n\'=cmd|\' /C calc\'!A0",1\r\n');
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  it('finds keys named twice in one object (a forged figure ahead of the signed one), and none in a clean report', () => {
    expect(duplicateKeys('{"report":{"managedShare":{"share":0.99,"managed":5,"share":0.5,"managed":3}},"signature":{"a":"x"}}')).toEqual(['share', 'managed']);
    expect(duplicateKeys('{"a":{"k":1},"b":{"k":2},"c":[{"k":1},{"k":2}],"d":"\\"k\\":","e":{"x\\"y":1,"x\\"z":2}}')).toEqual([]);
  });
});

describe('durationBuckets', () => {
  it('counts each duration into the first bucket whose bound is above it, the rest into the open bucket, every bucket listed', () => {
    const b = durationBuckets([
      { ms: 0, n: 2 },
      { ms: 9, n: 1 },
      { ms: 10, n: 4 },
      { ms: 999, n: 1 },
      { ms: 3_600_000, n: 3 },
    ]);
    expect(b).toHaveLength(KILL_TIME_BUCKETS_MS.length + 1);
    expect(b[0]).toEqual({ underMs: 10, count: 3 });
    expect(b[1]).toEqual({ underMs: 50, count: 4 });
    expect(b.find((x) => x.underMs === 1_000)).toEqual({ underMs: 1_000, count: 1 });
    expect(b.at(-1)).toEqual({ underMs: null, count: 3 });
    expect(b.reduce((s, x) => s + x.count, 0)).toBe(11);
    expect(durationBuckets([]).every((x) => x.count === 0)).toBe(true);
  });
});
