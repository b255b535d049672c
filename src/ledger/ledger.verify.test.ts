import { describe, expect, it } from 'vitest';
import { canonicalText, entryHash, GENESIS_HASH, type ChainEntry } from './ledger.chain.ts';
import { joinRanges, verifyRange, type CompactRow, type RangeScan } from './ledger.verify.ts';

/** A valid chain of `n` entries, as rows. */
function chain(n: number): ChainEntry[] {
  const out: ChainEntry[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const e = { seq, at: `2026-11-30T00:00:00.${String(seq % 1000).padStart(3, '0')}Z`, actor: 'a', action: 'x', tenantId: null, subjectId: `s${seq}`, data: `{"i":${seq}}`, prevHash: prev };
    const hash = entryHash(e);
    out.push({ ...e, hash });
    prev = hash;
  }
  return out;
}

const scanOf = (entries: ChainEntry[]): RangeScan => ({
  textFromDatabase: false,
  page: async (afterSeq, toSeq, limit) =>
    entries
      .filter((e) => e.seq > afterSeq && e.seq <= toSeq)
      .sort((a, b) => a.seq - b.seq)
      .slice(0, limit)
      .map((e): CompactRow => [e.seq, canonicalText(e), e.prevHash, e.hash]),
  entry: async (seq) => entries.find((e) => e.seq === seq),
});

/** The ledger walked in `parts` ranges of seq and joined, as the service does with worker threads. */
async function walk(entries: ChainEntry[], parts: number) {
  const maxSeq = Math.max(0, ...entries.map((e) => e.seq));
  const bounds = Array.from({ length: parts + 1 }, (_, i) => (i === parts ? maxSeq : Math.floor((maxSeq * i) / parts)));
  const ranges = await Promise.all(bounds.slice(0, -1).map((from, i) => verifyRange(scanOf(entries), from, bounds[i + 1]!, [], () => {})));
  const joined = joinRanges(ranges);
  return { count: joined.count, lastSeq: joined.lastSeq, lastHash: joined.lastHash, problems: joined.problems.map((p) => [p.kind, p.seq]), breaks: joined.linkBreaks.map((b) => b.seq) };
}

describe('the ledger walked in ranges and joined', () => {
  const N = 40;
  // Tampering placed on the boundaries of a split in 2, 3, 4 and 5 ranges (seq 8, 10, 13, 16, 20, 21…) and inside them.
  const cases: [string, (c: ChainEntry[]) => ChainEntry[]][] = [
    ['an untouched ledger', (c) => c],
    ['an entry edited at a range boundary', (c) => c.map((e) => (e.seq === 21 ? { ...e, data: '{"i":"changed"}' } : e))],
    ['an entry deleted at a range boundary', (c) => c.filter((e) => e.seq !== 21)],
    ['a range boundary’s entry deleted and the rest renumbered', (c) => c.filter((e) => e.seq !== 20).map((e) => (e.seq > 20 ? { ...e, seq: e.seq - 1 } : e))],
    ['two entries swapped across a boundary', (c) => c.map((e) => (e.seq === 20 ? { ...c[20]!, seq: 20 } : e.seq === 21 ? { ...c[19]!, seq: 21 } : e))],
    ['the first entries deleted', (c) => c.filter((e) => e.seq > 3)],
    ['the last entries cut', (c) => c.filter((e) => e.seq <= 33)],
    ['a whole range missing', (c) => c.filter((e) => e.seq < 11 || e.seq > 20)],
  ];
  for (const [what, tamper] of cases) {
    it(`finds the same in 1 to 5 ranges as in one: ${what}`, async () => {
      const entries = tamper(chain(N));
      const whole = await walk(entries, 1);
      for (let parts = 2; parts <= 5; parts++) expect({ parts, ...(await walk(entries, parts)) }).toEqual({ parts, ...whole });
      if (what === 'an untouched ledger') expect(whole).toMatchObject({ count: N, lastSeq: N, problems: [], breaks: [] });
      // A cut tail leaves a valid chain: only a signed checkpoint beyond its end shows it (ledger.test.ts).
      else if (what === 'the last entries cut') expect(whole).toMatchObject({ lastSeq: 33, problems: [], breaks: [] });
      else expect(whole.problems.length + whole.breaks.length).toBeGreaterThan(0);
    });
  }
});
