import fs from 'node:fs';
import os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { DatabaseConfig } from '../config/config.ts';
import { openStorage } from '../storage/database.ts';
import { buildContext, type ContextData } from './governance.context.ts';
import { judgeRange, type TokenRange } from './sweep.pages.ts';
import type { FromSweepWorker, ToSweepWorker } from './sweep.runner.ts';

/**
 * Serving requests comes first: on Linux this thread lowers its own scheduling priority (a thread
 * id names just that thread to setpriority), so a sweep takes the CPU the serving thread leaves.
 */
function lowerPriority() {
  if (process.platform !== 'linux') return;
  try {
    const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) os.setPriority(tid, Math.min(19, os.getPriority(tid) + 10));
  } catch {
    // Not allowed or not there: the thread runs at the process's priority.
  }
}

/**
 * The sweep's thread (sweep.runner.ts): reads live tokens and their live findings page by page
 * over a connection of its own, judges them, and hands each page's changes to the serving thread,
 * which writes them. At most one page waits for its write while the next is judged, so memory stays
 * bounded however many tokens there are.
 */
const port = parentPort!;
const { database, context, pageSize, range } = workerData as { database: DatabaseConfig; context: ContextData; pageSize: number; range: TokenRange };
lowerPriority();
const storage = openStorage(database, { poolSize: 1 });
const ctx = buildContext(context);

let written = 0;
let stopping = false;
let wake: (() => void) | null = null;
port.on('message', (m: ToSweepWorker) => {
  if (m.type === 'written') written = m.page;
  else stopping = true;
  wake?.();
});
const send = (m: FromSweepWorker) => port.postMessage(m);

try {
  let page = 0;
  await judgeRange(
    storage,
    ctx,
    pageSize,
    range,
    async (diff, tokens) => {
      page++;
      while (page - written > 1 && !stopping) await new Promise<void>((r) => (wake = r));
      send({ type: 'page', page, tokens, diff });
    },
    () => stopping,
  );
  send({ type: 'done' });
} catch (err) {
  send({ type: 'failed', error: (err as Error).message });
} finally {
  await storage.close().catch(() => {});
  port.close();
}
