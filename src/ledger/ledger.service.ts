import { verify as verifySignature } from 'node:crypto';
import type { Clock } from '../shared/clock.ts';
import type { Storage, Db } from '../storage/database.ts';
import type { LedgerEntriesTable } from '../storage/schema.ts';
import type { LedgerSigner } from '../vault/vault.service.ts';
import { checkpointMessage, entryHash, GENESIS_HASH, wellFormed } from './ledger.chain.ts';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { DatabaseConfig } from '../config/config.ts';
import { createLedgerRangeScan, createLedgerRepo, toLedgerEntry } from './ledger.repo.ts';
import { joinRanges, verifyRange, type RangeResult } from './ledger.verify.ts';
import type { LedgerEntry, LedgerFilter, NewLedgerEntry, VerifyProgress, VerifyResult } from './ledger.types.ts';

export interface LedgerDeps {
  storage: Storage;
  /** Where verification workers connect (each a connection of its own); without it, verify walks in this thread. */
  database?: DatabaseConfig;
  signer: LedgerSigner;
  clock: Clock;
  checkpointEvery: number;
}


/**
 * The identity ledger. `append` must be called inside the transaction that makes the change it
 * records, so a change and its entry commit or vanish together. Appends are serialised (advisory
 * lock on PostgreSQL, the single writer on SQLite) so the chain never forks.
 */
export function createLedgerService(deps: LedgerDeps) {
  const { storage, signer, clock } = deps;
  const repo = createLedgerRepo();
  let running: Promise<VerifyResult> | null = null;
  let verifyRun = 0;
  const verifiedListeners: ((r: VerifyResult) => void)[] = [];
  // What the running verification has walked, and how the last one ended (for the progress route).
  let progressNow: { startedAt: string; checked: number; total: number } | null = null;
  let lastVerify: { startedAt: string; finishedAt: string; ok: boolean | null; entries: number; problems: number; durationMs: number; error: string | null } | null = null;
  // Which range lists were walked in worker threads (for the result's `threads`).
  const inWorkers = new WeakSet<RangeResult[]>();

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
        actor: wellFormed(e.actor),
        action: wellFormed(e.action),
        tenantId: wellFormed(e.tenantId ?? null),
        subjectId: wellFormed(e.subjectId ?? null),
        // JSON.stringify escapes a lone surrogate itself.
        data: JSON.stringify(e.data ?? {}),
        prevHash,
      };
      const hash = entryHash(content);
      rows.push({ seq, at, actor: content.actor, action: content.action, tenant_id: content.tenantId, subject_id: content.subjectId, data: content.data, prev_hash: prevHash, hash });
      if (seq % deps.checkpointEvery === 0) checkpoints.push({ seq, hash });
      prevHash = hash;
    }
    // A few entries: a plain insert. Many (a bulk operation): one JSON parameter per 5,000.
    if (rows.length <= 50) await repo.insert(trx, rows);
    else for (let i = 0; i < rows.length; i += 5_000) await storage.dialect.insertRows(trx, 'ledger_entries', rows.slice(i, i + 5_000));
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

    /** The newest signed checkpoint: the head it names, signed with the ledger's key; undefined before the first. */
    latestCheckpoint(): Promise<{ seq: number; hash: string; at: string; keyId: string; signature: string } | undefined> {
      return repo.latestCheckpoint(storage.db);
    },

    /**
     * The ledger's public signing key (Ed25519), published so anyone can check a checkpoint, or a
     * report signed with it, without access to the database or the keyring.
     */
    publicKey(): { keyId: string; alg: 'EdDSA'; jwk: { kty: 'OKP'; crv: 'Ed25519'; x: string; kid: string; alg: 'EdDSA'; use: 'sig' }; pem: string } {
      const { x } = signer.publicKey.export({ format: 'jwk' }) as { x: string };
      return {
        keyId: signer.keyId,
        alg: 'EdDSA',
        jwk: { kty: 'OKP', crv: 'Ed25519', x, kid: signer.keyId, alg: 'EdDSA', use: 'sig' },
        pem: signer.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
      };
    },

    list(filter: LedgerFilter): Promise<LedgerEntry[]> {
      return repo.list(storage.db, filter);
    },

    /**
     * Re-computes every hash and link, then checks each signed checkpoint against the entry it names.
     * Detects edited, deleted, reordered and (up to the last checkpoint) truncated entries, and says
     * how many entries stand after the last valid checkpoint (they could be cut undetected).
     *
     * The walk runs in worker threads, never on the thread that serves requests: the ledger is split
     * into ranges of seq walked in parallel on connections of their own and joined at their
     * boundaries (ledger.verify.ts). One verification at a time: a second caller gets the running
     * one's result.
     */
    verify(onProgress?: (p: VerifyProgress) => void): Promise<VerifyResult> {
      if (running) return running;
      const startedAt = clock.now().toISOString();
      const run = ++verifyRun;
      progressNow = { startedAt, checked: 0, total: 0 };
      running = runVerify((p) => {
        // Only this run's own progress, and only while it runs: a range still reporting after the
        // run failed (its other ranges are stopped) never writes over what a later run shows.
        if (run !== verifyRun || !running) return;
        progressNow = { startedAt, checked: Math.min(p.checked, p.total), total: p.total };
        onProgress?.(p);
      }).then(
        (r) => {
          lastVerify = { startedAt, finishedAt: clock.now().toISOString(), ok: r.ok, entries: r.entries, problems: r.problems.length, durationMs: r.durationMs, error: null };
          for (const l of verifiedListeners) l(r);
          return r;
        },
        (err: unknown) => {
          lastVerify = { startedAt, finishedAt: clock.now().toISOString(), ok: null, entries: progressNow?.checked ?? 0, problems: 0, durationMs: clock.now().getTime() - Date.parse(startedAt), error: 'the verification stopped before the end (see the server log)' };
          throw err;
        },
      );
      void running
        .finally(() => {
          running = null;
          progressNow = null;
        })
        .catch(() => undefined);
      return running;
    },

    /** Told of each finished verification's result (a server raises an alert when it found tampering). */
    onVerified(listener: (r: VerifyResult) => void) {
      verifiedListeners.push(listener);
    },

    /**
     * The verification running on this instance (entries walked of the total) and how the last one
     * on this instance ended: read from memory, so it can be polled while `verify` runs.
     */
    verifyProgress() {
      return { running: progressNow !== null, startedAt: progressNow?.startedAt ?? null, checked: progressNow?.checked ?? 0, total: progressNow?.total ?? 0, last: lastVerify };
    },
  };

  async function runVerify(onProgress?: (p: VerifyProgress) => void): Promise<VerifyResult> {
    const started = performance.now();
    const db = storage.db;
    // Checkpoints are read first: the later reads' snapshots hold every entry they name.
    const checkpoints = await repo.checkpoints(db);
    const total = await repo.count(db);
    const maxSeq = (await repo.head(db))?.seq ?? 0;
    let checked = 0;
    const progress = (n: number) => {
      checked += n;
      onProgress?.({ checked, total });
    };
    onProgress?.({ checked: 0, total });
    const walking = walkRanges(maxSeq, checkpoints.map((c) => c.seq), total, progress);
    // The checkpoints' signatures (one a thousand entries: ~0.14 ms each) are checked here while
    // the worker threads walk, rather than after them.
    const signatureOk = checkpoints.map((c) => safeVerify(checkpointMessage(c.seq, c.hash), c.signature, signer));
    const ranges = await walking;
    const walkedInWorkers = (r: RangeResult[]) => inWorkers.has(r);
    const walked = joinRanges(ranges);
    const problems = [...walked.problems];

    // A link break with intact content: if the missing predecessor exists elsewhere, entries were
    // moved; if it exists nowhere, one was removed and the rest renumbered to hide the gap.
    for (const brk of walked.linkBreaks.slice(0, 20)) {
      const moved = await repo.hashExists(db, brk.prevHash);
      problems.push(
        moved
          ? { kind: 'reordered', seq: brk.seq, message: `entry ${brk.seq} is not in its original position: entries were reordered` }
          : { kind: 'deleted', seq: brk.seq, message: `the entry before ${brk.seq} was removed` },
      );
    }

    let verified = 0;
    let lastCheckpointSeq: number | null = null;
    for (const [i, c] of checkpoints.entries()) {
      if (!signatureOk[i]) {
        problems.push({ kind: 'bad_signature', seq: c.seq, message: `checkpoint at ${c.seq} has an invalid signature (key ${c.key_id})` });
        continue;
      }
      verified++;
      lastCheckpointSeq = c.seq;
      const stored = walked.hashAt.get(c.seq);
      if (c.seq > walked.lastSeq) {
        problems.push({ kind: 'truncated', seq: c.seq, message: `the ledger ends at ${walked.lastSeq} but a signed checkpoint covers entry ${c.seq}: entries were removed from the end` });
      } else if (stored !== c.hash) {
        problems.push({ kind: 'checkpoint_mismatch', seq: c.seq, message: `entry ${c.seq} differs from the signed checkpoint: history was rewritten` });
      }
    }
    problems.sort((a, b) => a.seq - b.seq);
    return {
      ok: problems.length === 0,
      entries: walked.count,
      lastSeq: walked.lastSeq,
      lastHash: walked.lastHash,
      checkpoints: { total: checkpoints.length, verified, lastSeq: lastCheckpointSeq, unanchored: Math.max(0, walked.lastSeq - (lastCheckpointSeq ?? 0)) },
      problems,
      durationMs: Math.round(performance.now() - started),
      threads: ranges.length > 1 || walkedInWorkers(ranges) ? ranges.length : 0,
    };
  }

  /**
   * The ledger's ranges, walked in worker threads; in this thread only a ledger of one page (a few
   * milliseconds of work) or an in-memory database, which no other connection can open.
   */
  async function walkRanges(maxSeq: number, checkpointSeqs: number[], total: number, progress: (n: number) => void): Promise<RangeResult[]> {
    const database = deps.database;
    if (!database || (database.kind === 'sqlite' && database.file === ':memory:') || total <= IN_THREAD_ENTRIES) {
      let last = 0;
      return [
        await verifyRange(createLedgerRangeScan(storage), 0, maxSeq, checkpointSeqs, (n) => {
          progress(n - last);
          last = n;
        }),
      ];
    }
    // One range per core (at most four), and none under 100k entries: a thread costs a connection and start-up.
    const parts = Math.max(1, Math.min(availableParallelism(), MAX_VERIFY_THREADS, Math.ceil(total / 100_000)));
    const bounds = Array.from({ length: parts + 1 }, (_, i) => (i === parts ? maxSeq : Math.floor((maxSeq * i) / parts)));
    const workers: Worker[] = [];
    const walked = await Promise.all(
      bounds.slice(0, -1).map((fromSeq, i) => {
        const toSeq = bounds[i + 1]!;
        return walkInWorker(database, fromSeq, toSeq, checkpointSeqs.filter((s) => s > fromSeq && s <= toSeq), progress, workers);
      }),
    ).catch((err: unknown) => {
      // One range failed: the others stop too (they would hold a connection and a core for nothing).
      for (const w of workers) void w.terminate();
      throw err;
    });
    inWorkers.add(walked);
    return walked;
  }
}

const MAX_VERIFY_THREADS = 4;
/** A ledger this small is walked in one page, in the calling thread: starting a worker would cost more. */
const IN_THREAD_ENTRIES = 5_000;

/** The worker's entry: the compiled one beside this file, or a shim that loads the TypeScript loader first (tests, `npm run dev`). */
const VERIFY_WORKER = import.meta.url.endsWith('.ts') ? new URL('./ledger-verify.worker.mjs', import.meta.url) : new URL('./ledger-verify.worker.js', import.meta.url);

function walkInWorker(database: DatabaseConfig, fromSeq: number, toSeq: number, watch: number[], progress: (n: number) => void, started: Worker[]): Promise<RangeResult> {
  // Settled when the thread has exited, not when it has answered: a thread still closing its
  // database connection when the process exits (the CLI, a shutdown) can take the process with it.
  return new Promise((resolve, reject) => {
    const worker = new Worker(VERIFY_WORKER, { workerData: { database, fromSeq, toSeq, watch } });
    started.push(worker);
    let answer: { result: RangeResult } | { error: Error } | null = null;
    worker.on('message', (m: { type: 'progress'; checked: number } | { type: 'done'; result: RangeResult } | { type: 'failed'; error: string }) => {
      if (m.type === 'progress') progress(m.checked);
      else if (m.type === 'done') answer ??= { result: m.result };
      else answer ??= { error: new Error(`ledger verification failed: ${m.error}`) };
    });
    worker.on('error', (err) => {
      answer ??= { error: err };
    });
    worker.on('exit', (code) => {
      if (answer && 'result' in answer) resolve(answer.result);
      else reject(answer?.error ?? new Error(`a ledger verification worker stopped (exit ${code})`));
    });
  });
}

function safeVerify(message: Buffer, signature: string, signer: LedgerSigner): boolean {
  try {
    return verifySignature(null, message, signer.publicKey, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

export type LedgerService = ReturnType<typeof createLedgerService>;
