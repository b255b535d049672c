import { verify as verifySignature } from 'node:crypto';
import type { Clock } from '../shared/clock.ts';
import type { Storage, Db } from '../storage/database.ts';
import type { LedgerEntriesTable } from '../storage/schema.ts';
import type { LedgerSigner } from '../vault/vault.service.ts';
import { checkpointMessage, createChainWalker, entryHash, GENESIS_HASH } from './ledger.chain.ts';
import { createLedgerRepo, createLedgerScan, toLedgerEntry } from './ledger.repo.ts';
import type { LedgerEntry, LedgerFilter, NewLedgerEntry, VerifyProgress, VerifyResult } from './ledger.types.ts';

export interface LedgerDeps {
  storage: Storage;
  signer: LedgerSigner;
  clock: Clock;
  checkpointEvery: number;
}

// Pages small enough that a page's rows die young (cheap scavenges instead of old-space GC); the
// page size was chosen by `npm run bench` (docs/benchmarks.md, foundation).
const VERIFY_PAGE = 5_000;

/**
 * The identity ledger. `append` must be called inside the transaction that makes the change it
 * records, so a change and its entry commit or vanish together. Appends are serialised (advisory
 * lock on PostgreSQL, the single writer on SQLite) so the chain never forks.
 */
export function createLedgerService(deps: LedgerDeps) {
  const { storage, signer, clock } = deps;
  const repo = createLedgerRepo();
  const scanLedger = createLedgerScan(storage);

  async function writeCheckpoint(trx: Db, seq: number, hash: string, at: string) {
    await repo.insertCheckpoint(trx, { seq, hash, at, key_id: signer.keyId, signature: signer.sign(checkpointMessage(seq, hash)) });
  }

  async function appendMany(trx: Db, entries: NewLedgerEntry[]): Promise<LedgerEntry[]> {
    if (entries.length === 0) return [];
    await storage.dialect.lockLedger(trx);
    const head = await repo.head(trx);
    let seq = head?.seq ?? 0;
    let prevHash = head?.hash ?? GENESIS_HASH;
    const at = clock.now().toISOString();
    const rows: LedgerEntriesTable[] = [];
    const checkpoints: { seq: number; hash: string }[] = [];
    for (const e of entries) {
      seq++;
      const content = {
        at,
        actor: e.actor,
        action: e.action,
        tenantId: e.tenantId ?? null,
        subjectId: e.subjectId ?? null,
        data: JSON.stringify(e.data ?? {}),
        prevHash,
      };
      const hash = entryHash(content);
      rows.push({ seq, at, actor: content.actor, action: content.action, tenant_id: content.tenantId, subject_id: content.subjectId, data: content.data, prev_hash: prevHash, hash });
      if (seq % deps.checkpointEvery === 0) checkpoints.push({ seq, hash });
      prevHash = hash;
    }
    for (let i = 0; i < rows.length; i += 500) await repo.insert(trx, rows.slice(i, i + 500));
    for (const c of checkpoints) await writeCheckpoint(trx, c.seq, c.hash, at);
    return rows.map(toLedgerEntry);
  }

  return {
    appendMany,
    async append(trx: Db, entry: NewLedgerEntry): Promise<LedgerEntry> {
      const [written] = await appendMany(trx, [entry]);
      return written!;
    },

    /**
     * Signs the current head if it has moved since the last checkpoint (timer and shutdown). The
     * caller logs what it returns, so a copy of each checkpoint also lives outside the database.
     */
    async checkpointNow(): Promise<{ seq: number; hash: string; keyId: string } | null> {
      return storage.db.transaction().execute(async (trx) => {
        await storage.dialect.lockLedger(trx);
        const head = await repo.head(trx);
        if (!head || head.seq <= (await repo.lastCheckpointSeq(trx))) return null;
        await writeCheckpoint(trx, head.seq, head.hash, clock.now().toISOString());
        return { seq: head.seq, hash: head.hash, keyId: signer.keyId };
      });
    },

    /** The newest entry's position and hash; undefined for an empty ledger. */
    head(): Promise<{ seq: number; hash: string } | undefined> {
      return repo.head(storage.db);
    },

    list(filter: LedgerFilter): Promise<LedgerEntry[]> {
      return repo.list(storage.db, filter);
    },

    /**
     * Re-computes every hash and link, then checks each signed checkpoint against the entry it names.
     * Detects edited, deleted, reordered and (up to the last checkpoint) truncated entries.
     */
    async verify(onProgress?: (p: VerifyProgress) => void): Promise<VerifyResult> {
      const started = performance.now();
      const db = storage.db;
      const checkpoints = await repo.checkpoints(db);
      const total = await repo.count(db);
      const walker = createChainWalker();
      for (const c of checkpoints) walker.watch(c.seq);
      let after = 0;
      // Checkpoints were read first: the scan's later snapshot holds every entry they name.
      for (;;) {
        const page = await scanLedger(after, VERIFY_PAGE);
        if (page.length === 0) break;
        for (const [seq, at, actor, action, tenantId, subjectId, data, prevHash, hash] of page) {
          walker.push({ seq, at, actor, action, tenantId, subjectId, data, prevHash, hash });
        }
        after = page[page.length - 1]![0];
        onProgress?.({ checked: walker.count, total });
      }
      const problems = [...walker.problems];

      // A link break with intact content: if the missing predecessor exists elsewhere, entries were
      // moved; if it exists nowhere, one was removed and the rest renumbered to hide the gap.
      for (const brk of walker.linkBreaks.slice(0, 20)) {
        const moved = await repo.hashExists(db, brk.prevHash);
        problems.push(
          moved
            ? { kind: 'reordered', seq: brk.seq, message: `entry ${brk.seq} is not in its original position: entries were reordered` }
            : { kind: 'deleted', seq: brk.seq, message: `the entry before ${brk.seq} was removed` },
        );
      }

      let verified = 0;
      let lastCheckpointSeq: number | null = null;
      for (const c of checkpoints) {
        const okSig = safeVerify(checkpointMessage(c.seq, c.hash), c.signature, signer);
        if (!okSig) {
          problems.push({ kind: 'bad_signature', seq: c.seq, message: `checkpoint at ${c.seq} has an invalid signature (key ${c.key_id})` });
          continue;
        }
        verified++;
        lastCheckpointSeq = c.seq;
        const stored = walker.hashAt.get(c.seq);
        if (c.seq > walker.lastSeq) {
          problems.push({ kind: 'truncated', seq: c.seq, message: `the ledger ends at ${walker.lastSeq} but a signed checkpoint covers entry ${c.seq}: entries were removed from the end` });
        } else if (stored !== c.hash) {
          problems.push({ kind: 'checkpoint_mismatch', seq: c.seq, message: `entry ${c.seq} differs from the signed checkpoint: history was rewritten` });
        }
      }
      problems.sort((a, b) => a.seq - b.seq);
      return {
        ok: problems.length === 0,
        entries: walker.count,
        lastSeq: walker.lastSeq,
        lastHash: walker.lastHash,
        checkpoints: { total: checkpoints.length, verified, lastSeq: lastCheckpointSeq },
        problems,
        durationMs: Math.round(performance.now() - started),
      };
    },
  };
}

function safeVerify(message: Buffer, signature: string, signer: LedgerSigner): boolean {
  try {
    return verifySignature(null, message, signer.publicKey, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

export type LedgerService = ReturnType<typeof createLedgerService>;
