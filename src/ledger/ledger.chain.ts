import * as crypto from 'node:crypto';
import { LONE_SURROGATE } from '../shared/text.ts';

/**
 * The hash-chain rules, free of storage. Each entry's hash covers its content and the previous
 * entry's hash; the position (seq) is not hashed, so an entry moved to another position keeps a
 * valid hash of its own but breaks the link, which is how a reordering is told from an edit.
 */
export const GENESIS_HASH = '0'.repeat(64);

export interface ChainEntry {
  seq: number;
  at: string;
  actor: string;
  action: string;
  tenantId: string | null;
  subjectId: string | null;
  /** The JSON text exactly as stored. */
  data: string;
  prevHash: string;
  hash: string;
}

/**
 * One-shot crypto.hash (Node ≥ 20.12) gives the same digest as createHash().update().digest()
 * without allocating a Hash object per entry: verify hashes a million of these.
 */
export const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function' ? (text) => crypto.hash('sha256', text, 'hex') : (text) => crypto.createHash('sha256').update(text).digest('hex');

/** Length-prefixed, so no choice of field values can make two different entries encode alike. */
function field(value: string | null): string {
  return value === null ? '~' : `${value.length}:${value}`;
}

/** The text an entry's hash is taken over. */
export function canonicalText(e: Omit<ChainEntry, 'hash' | 'seq'>): string {
  // Cheaper than JSON encoding (no escaping pass), which matters when verify walks millions of entries.
  return `custody-ledger:v1|${field(e.prevHash)}${field(e.at)}${field(e.actor)}${field(e.action)}${field(e.tenantId)}${field(e.subjectId)}${field(e.data)}`;
}

export function entryHash(e: Omit<ChainEntry, 'hash' | 'seq'>): string {
  return sha256Hex(canonicalText(e));
}

/**
 * A canonical text built by SQLite (verification's fast read, ledger.repo.ts) counts each field's
 * length in characters, where canonicalText counts UTF-16 code units; the two agree exactly when
 * the text holds no surrogate (a character beyond the BMP), no NUL (where SQLite's length() stops)
 * and no U+FFFD (what invalid UTF-8, which SQLite counts by its own rule, decodes to). A text with
 * any of them is checked from the entry's fields instead.
 */
// eslint-disable-next-line no-control-regex -- NUL is one of the characters looked for
export const DATABASE_TEXT_DIFFERS = /[\u0000\uD800-\uDFFF\uFFFD]/;

/**
 * A field as it will read back: a lone surrogate (half of a character beyond the BMP, which no
 * encoding can store) becomes U+FFFD, as SQLite's UTF-8 would make it on reading, so the hash is
 * taken over what is stored and an untouched entry never reads as edited.
 */
export function wellFormed<T extends string | null>(value: T): T {
  return (value !== null && /[\uD800-\uDFFF]/.test(value) ? value.replace(LONE_SURROGATE, '\uFFFD') : value) as T;
}

/** "entry 7 is missing", or "entries 7–9 are missing". */
export function missing(from: number, to: number): string {
  return from === to ? `entry ${from} is missing` : `entries ${from}–${to} are missing`;
}

export function checkpointMessage(seq: number, hash: string): Buffer {
  return Buffer.from(`custody-ledger-checkpoint:v1:${seq}:${hash}`);
}

export type ProblemKind = 'edited' | 'deleted' | 'reordered' | 'truncated' | 'checkpoint_mismatch' | 'bad_signature';

export interface VerifyProblem {
  kind: ProblemKind;
  seq: number;
  message: string;
}

/**
 * Walks entries in seq order. `linkBreaks` collects positions whose content is intact but whose
 * link to the predecessor is not; the caller decides (with a lookup) whether the missing
 * predecessor exists elsewhere (reordered) or nowhere (deleted and renumbered).
 */
export function createChainWalker(options: { fromMiddle?: boolean } = {}) {
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let count = 0;
  /**
   * A walk over one range of a ledger verified in parts (`fromMiddle`) starts at whatever entry
   * comes first: its position and link are checked by whoever joins the parts (`first`).
   */
  let first: { seq: number; prevHash: string; contentOk: boolean } | null = null;
  const problems: VerifyProblem[] = [];
  const linkBreaks: { seq: number; prevHash: string }[] = [];
  const hashAt = new Map<number, string>();

  return {
    problems,
    linkBreaks,
    /** Stored hashes at the seqs a checkpoint names, filled as the walk passes them. */
    watch(seq: number) {
      hashAt.set(seq, '');
    },
    hashAt,
    push(e: ChainEntry): void {
      // A field read back as another type than text (SQLite keeps a blob a blob) is not what was
      // hashed, whatever its bytes: an edit.
      const textual = [e.at, e.actor, e.action, e.data, e.prevHash].every((f) => typeof f === 'string') && [e.tenantId, e.subjectId].every((f) => f === null || typeof f === 'string');
      this.pushChecked(e, textual && entryHash(e) === e.hash);
    },
    /**
     * An entry whose content was checked by the caller (`contentOk`: its hash covers its content);
     * `action`, when known, names it in a problem.
     */
    pushChecked(e: { seq: number; prevHash: string; hash: string; action?: string }, contentOk: boolean): void {
      count++;
      if (count === 1 && options.fromMiddle) {
        expectedSeq = e.seq;
        prevHash = e.prevHash;
        first = { seq: e.seq, prevHash: e.prevHash, contentOk };
      }
      let gap = false;
      if (e.seq !== expectedSeq) {
        gap = true;
        problems.push({
          kind: 'deleted',
          seq: expectedSeq,
          message: e.seq > expectedSeq ? missing(expectedSeq, e.seq - 1) : `entry ${e.seq} appears out of sequence`,
        });
      }
      if (!contentOk) {
        problems.push({ kind: 'edited', seq: e.seq, message: `entry ${e.seq}${e.action === undefined ? '' : ` (${e.action})`} does not match its hash: it was edited` });
      } else if (e.prevHash !== prevHash && !gap) {
        linkBreaks.push({ seq: e.seq, prevHash: e.prevHash });
      }
      if (hashAt.has(e.seq)) hashAt.set(e.seq, e.hash);
      prevHash = e.hash;
      expectedSeq = e.seq + 1;
    },
    get count() {
      return count;
    },
    /** For a walk from the middle: the first entry's position, link and whether its content held. */
    get first() {
      return first;
    },
    get lastSeq() {
      return expectedSeq - 1;
    },
    get lastHash() {
      return prevHash;
    },
  };
}
