import { serialize } from 'node:v8';
import { Worker } from 'node:worker_threads';
import type { DatabaseConfig } from '../config/config.ts';
import type { Storage } from '../storage/database.ts';
import type { Diff } from './finding.diff.ts';
import { buildContext, type ContextData } from './governance.context.ts';
import { judgeRange } from './sweep.pages.ts';

/** Messages between the sweep runner and sweep.worker.ts. */
export type ToSweepWorker = { type: 'written'; page: number } | { type: 'stop' };
export type FromSweepWorker = { type: 'page'; page: number; tokens: number; diff: Diff } | { type: 'done' } | { type: 'failed'; error: string };

/**
 * A sweep thread's heap: a page's tokens and findings are a few megabytes, and without a bound a
 * thread's heap grows far past that before it collects (the server's memory is what is bounded).
 * A steady sweep reads as fast as the threads can judge: at 64 MB each the sweeping server peaked
 * near 357 MB, at 32 MB (young generation 4 MB) near 306–322 MB (100k tokens, 500-token pages,
 * a small directory), as fast. Each thread holds the context (directories, policies, exceptions)
 * twice — as received and as built into maps, several times its serialised size — so the bound
 * grows with it.
 */
function workerLimits(context: ContextData) {
  const contextMb = serialize(context).length / 1_048_576;
  return { maxOldGenerationSizeMb: 32 + Math.ceil(8 * contextMb), maxYoungGenerationSizeMb: 4 };
}

const WORKER_ENTRY = import.meta.url.endsWith('.ts') ? new URL('./sweep.worker.mjs', import.meta.url) : new URL('./sweep.worker.js', import.meta.url);

export interface SweepPages {
  database: DatabaseConfig;
  /** The serving thread's storage: used for the inline pass (an in-memory SQLite database cannot be shared with a thread). */
  storage: Storage;
  context: ContextData;
  pageSize: number;
  /** Writes one page's changes (on this thread); the next pages wait for it. `stopped`: the sweep has failed, write no more. */
  apply(diff: Diff, tokens: number, stopped: () => boolean): Promise<void>;
}

/**
 * Runs the token pass of a sweep: reading and judging on threads of their own (a million tokens
 * take tens of seconds of database reads and rule evaluation, which must not hold up the thread
 * that serves requests and gateway calls; each takes a range of token ids, at a lower scheduling
 * priority than serving), writing on this one, page by page, one page at a time.
 */
export function runSweepPages(o: SweepPages & { splitPoints: string[] }): Promise<void> {
  if (o.database.kind === 'sqlite' && o.database.file === ':memory:') return runInline(o);
  const bounds = [null, ...o.splitPoints];
  const ranges = bounds.map((after, i) => ({ after, upTo: o.splitPoints[i] ?? null }));
  const limits = workerLimits(o.context);
  return new Promise<void>((resolve, reject) => {
    const workers: Worker[] = [];
    // The sweep ends when every thread has exited, not when each has said it is done: a thread
    // still closing its database connection when the process exits (a shutdown right after a
    // sweep) can take the process down with it.
    const exited: Promise<void>[] = [];
    let chain = Promise.resolve();
    let settled = false;
    let done = 0;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      for (const w of workers) {
        w.postMessage({ type: 'stop' } satisfies ToSweepWorker);
        void w.terminate();
      }
      // Settled once the page being written has stopped too (it checks `stopped` between its
      // transactions): nothing of this sweep is written after its caller hears it failed.
      void Promise.all([...exited, chain.catch(() => {})]).then(() => reject(err));
    };
    for (const range of ranges) {
      const worker = new Worker(WORKER_ENTRY, { workerData: { database: o.database, context: o.context, pageSize: o.pageSize, range }, resourceLimits: limits });
      workers.push(worker);
      exited.push(new Promise<void>((r) => worker.once('exit', () => r())));
      worker.on('message', (m: FromSweepWorker) => {
        if (m.type === 'page') {
          chain = chain.then(async () => {
            if (settled) return;
            await o.apply(m.diff, m.tokens, () => settled);
            worker.postMessage({ type: 'written', page: m.page } satisfies ToSweepWorker);
          });
          chain.catch((err: Error) => fail(err));
        } else if (m.type === 'done') {
          chain.then(
            () => {
              if (settled || ++done < ranges.length) return;
              settled = true;
              void Promise.all(exited).then(() => resolve());
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
    }
  });
}

function runInline(o: SweepPages): Promise<void> {
  return judgeRange(o.storage, buildContext(o.context), o.pageSize, { after: null, upTo: null }, (diff, tokens) => o.apply(diff, tokens, () => false));
}
