import { createChainWalker, DATABASE_TEXT_DIFFERS, missing, sha256Hex, type ChainEntry, type VerifyProblem } from './ledger.chain.ts';

/** What the walk of one range of the ledger found, for the join (`joinRanges`). */
export interface RangeResult {
  count: number;
  first: { seq: number; prevHash: string; contentOk: boolean } | null;
  lastSeq: number;
  lastHash: string;
  problems: VerifyProblem[];
  linkBreaks: { seq: number; prevHash: string }[];
  /** The stored hash at each checkpointed seq in the range. */
  hashAt: [number, string][];
}

/**
 * An entry as verification's long scan reads it: its position, the text its hash is taken over as
 * the database builds it (null when a field is not stored as text, so the text could not be the
 * one hashed), its link and its hash.
 */
export type CompactRow = [seq: number, canonical: string | null, prevHash: string, hash: string];

export interface RangeScan {
  /** Whether the database built the texts (then a text holding a character it counts apart from JavaScript is checked from the fields). */
  textFromDatabase: boolean;
  /** A page of entries with afterSeq < seq ≤ toSeq, in seq order. */
  page(afterSeq: number, toSeq: number, limit: number): Promise<CompactRow[]>;
  /** One entry's fields, for an entry the database's text cannot vouch for. */
  entry(seq: number): Promise<ChainEntry | undefined>;
}

// Pages small enough that a page's rows die young (cheap scavenges instead of old-space GC); the
// page size was chosen by `npm run bench` (docs/benchmarks.md, foundation).
const PAGE = 5_000;

/**
 * Walks entries in (fromSeq, toSeq]: every hash re-computed, every link inside the range checked;
 * the range's first link and position are left to the join. Pure but for `scan`.
 */
export async function verifyRange(scan: RangeScan, fromSeq: number, toSeq: number, watch: number[], onProgress: (checked: number) => void): Promise<RangeResult> {
  const walker = createChainWalker({ fromMiddle: fromSeq > 0 });
  for (const seq of watch) walker.watch(seq);
  let after = fromSeq;
  for (;;) {
    const page = await scan.page(after, toSeq, PAGE);
    if (page.length === 0) break;
    for (const [seq, canonical, prevHash, hash] of page) {
      // The database's text is the hashed one when it holds no character the two count apart:
      // then its hash vouches for the entry (one string a row read, not seven).
      if (canonical !== null && !(scan.textFromDatabase && DATABASE_TEXT_DIFFERS.test(canonical)) && sha256Hex(canonical) === hash) {
        walker.pushChecked({ seq, prevHash, hash }, true);
        continue;
      }
      // Otherwise (such a character, a field not stored as text, or an edit) from its fields.
      const full = await scan.entry(seq);
      if (full) walker.push(full);
      else walker.pushChecked({ seq, prevHash, hash }, false);
    }
    after = page[page.length - 1]![0];
    onProgress(walker.count);
    if (page.length < PAGE) break;
  }
  return {
    count: walker.count,
    first: walker.first,
    lastSeq: walker.count > 0 ? walker.lastSeq : fromSeq,
    lastHash: walker.lastHash,
    problems: [...walker.problems],
    linkBreaks: [...walker.linkBreaks],
    hashAt: [...walker.hashAt].filter(([, h]) => h !== ''),
  };
}

/**
 * Joins ranges walked apart, in order: each range's first entry must sit right after the previous
 * range's last one and link to its hash; a gap is a deletion, a wrong link a break to be told apart
 * (reordered or deleted) as within a range. The first range starts at the genesis.
 */
export function joinRanges(ranges: RangeResult[]): { count: number; lastSeq: number; lastHash: string; problems: VerifyProblem[]; linkBreaks: { seq: number; prevHash: string }[]; hashAt: Map<number, string> } {
  const problems: VerifyProblem[] = [];
  const linkBreaks: { seq: number; prevHash: string }[] = [];
  const hashAt = new Map<number, string>();
  let count = 0;
  let lastSeq = 0;
  let lastHash = '0'.repeat(64);
  for (const r of ranges) {
    problems.push(...r.problems);
    linkBreaks.push(...r.linkBreaks);
    for (const [seq, h] of r.hashAt) hashAt.set(seq, h);
    if (r.count === 0) continue;
    // A range walked from its middle: its first entry must follow the last one joined (the genesis
    // at first), as an entry inside a range must follow the one before it.
    if (r.first) {
      if (r.first.seq !== lastSeq + 1) {
        problems.push({ kind: 'deleted', seq: lastSeq + 1, message: r.first.seq > lastSeq + 1 ? missing(lastSeq + 1, r.first.seq - 1) : `entry ${r.first.seq} appears out of sequence` });
      } else if (r.first.contentOk && r.first.prevHash !== lastHash) {
        linkBreaks.push({ seq: r.first.seq, prevHash: r.first.prevHash });
      }
    }
    count += r.count;
    lastSeq = r.lastSeq;
    lastHash = r.lastHash;
  }
  linkBreaks.sort((a, b) => a.seq - b.seq);
  return { count, lastSeq, lastHash, problems, linkBreaks, hashAt };
}
