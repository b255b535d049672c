import { Worker } from 'node:worker_threads';
import type { DatabaseConfig } from '../config/config.ts';
import type { Storage } from '../storage/database.ts';
import { createTokenFactsReader } from '../tokens/token.facts.ts';
import { diffFindings, tokenCandidates, tokenSubjects, type Diff } from './finding.diff.ts';
import { createFindingRepo } from './finding.repo.ts';
import { buildContext, type ContextData } from './governance.context.ts';

/** Messages between the sweep runner and sweep.worker.ts. */
export type ToSweepWorker = { type: 'written'; page: number } | { type: 'stop' };
export type FromSweepWorker = { type: 'page'; page: number; tokens: number; diff: Diff } | { type: 'done' } | { type: 'failed'; error: string };

const WORKER_ENTRY = import.meta.url.endsWith('.ts') ? new URL('./sweep.worker.mjs', import.meta.url) : new URL('./sweep.worker.js', import.meta.url);

export interface SweepPages {
  database: DatabaseConfig;
  /** The serving thread's storage: used for the inline pass (an in-memory SQLite database cannot be shared with a thread). */
  storage: Storage;
  context: ContextData;
  pageSize: number;
  /** Writes one page's changes (on this thread); the next pages wait for it. */
  apply(diff: Diff, tokens: number): Promise<void>;
}

/**
 * Runs the token pass of a sweep: reading and judging on a thread of its own (a million tokens
 * take tens of seconds of database reads and rule evaluation, which must not hold up the thread
 * that serves requests and gateway calls), writing on this one, page by page.
 */
export function runSweepPages(o: SweepPages): Promise<void> {
  if (o.database.kind === 'sqlite' && o.database.file === ':memory:') return runInline(o);
  return new Promise<void>((resolve, reject) => {
    const worker = new Worker(WORKER_ENTRY, { workerData: { database: o.database, context: o.context, pageSize: o.pageSize } });
    let chain = Promise.resolve();
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      worker.postMessage({ type: 'stop' } satisfies ToSweepWorker);
      void worker.terminate();
      reject(err);
    };
    worker.on('message', (m: FromSweepWorker) => {
      if (m.type === 'page') {
        chain = chain.then(async () => {
          if (settled) return;
          await o.apply(m.diff, m.tokens);
          worker.postMessage({ type: 'written', page: m.page } satisfies ToSweepWorker);
        });
        chain.catch((err: Error) => fail(err));
      } else if (m.type === 'done') {
        chain.then(
          () => {
            if (settled) return;
            settled = true;
            resolve();
          },
          (err: Error) => fail(err),
        );
      } else {
        fail(new Error(`the sweep thread failed: ${m.error}`));
      }
    });
    worker.on('error', (err) => fail(new Error(`the sweep thread failed: ${err.message}`)));
    worker.on('exit', (code) => {
      if (code !== 0) fail(new Error(`the sweep thread stopped (exit code ${code})`));
    });
  });
}

async function runInline(o: SweepPages): Promise<void> {
  const ctx = buildContext(o.context);
  const facts = createTokenFactsReader(o.storage.dialect);
  const repo = createFindingRepo(o.storage.dialect);
  let afterId: string | null = null;
  for (;;) {
    const rows = await facts.livePage(o.storage.db, afterId, o.pageSize);
    const last = rows.length === o.pageSize ? rows[rows.length - 1]!.id : null;
    const live = await repo.liveInTokenRange(o.storage.db, afterId, last);
    await o.apply(diffFindings(tokenSubjects(rows.map((r) => r.id), rows), tokenCandidates(rows, ctx), ctx, live), rows.length);
    if (last === null) return;
    afterId = last;
  }
}
