import fs from 'node:fs';
import os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { DatabaseConfig } from '../config/config.ts';
import { openStorage } from '../storage/database.ts';
import { createTokenFactsReader } from '../tokens/token.facts.ts';
import { diffFindings, tokenCandidates, tokenSubjects } from './finding.diff.ts';
import { createFindingRepo } from './finding.repo.ts';
import { buildContext, type ContextData } from './governance.context.ts';
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
 * which writes them. At most two pages wait for their writes, so memory stays bounded however
 * many tokens there are.
 */
const port = parentPort!;
const { database, context, pageSize, range } = workerData as { database: DatabaseConfig; context: ContextData; pageSize: number; range: { after: string | null; upTo: string | null } };
lowerPriority();
const storage = openStorage(database, { poolSize: 1 });
const ctx = buildContext(context);
const facts = createTokenFactsReader(storage.dialect);
const repo = createFindingRepo(storage.dialect);

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
  let afterId: string | null = range.after;
  for (let page = 1; !stopping; page++) {
    const rows = await facts.livePage(storage.db, afterId, pageSize, range.upTo);
    const full = rows.length === pageSize;
    // The page's id range: up to its last token, or (the range's last page) up to the range's end.
    const last = full ? rows[rows.length - 1]!.id : range.upTo;
    const live = await repo.liveInTokenRange(storage.db, afterId, last);
    const diff = diffFindings(tokenSubjects(rows.map((r) => r.id), rows), tokenCandidates(rows, ctx), ctx, live);
    while (page - written > 2 && !stopping) await new Promise<void>((r) => (wake = r));
    send({ type: 'page', page, tokens: rows.length, diff });
    if (!full) break;
    afterId = last;
  }
  send({ type: 'done' });
} catch (err) {
  send({ type: 'failed', error: (err as Error).message });
} finally {
  await storage.close().catch(() => {});
  port.close();
}
