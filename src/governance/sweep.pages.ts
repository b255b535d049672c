import type { Storage } from '../storage/database.ts';
import { createTokenFactsReader } from '../tokens/token.facts.ts';
import { judgeTokens, type Diff } from './finding.diff.ts';
import { createFindingRepo } from './finding.repo.ts';
import type { Context } from './governance.context.ts';

/** A range of token ids: after `after` (null: from the first), up to `upTo` inclusive (null: to the last). */
export interface TokenRange {
  after: string | null;
  upTo: string | null;
}

/**
 * The sweep's token pass over one range, page by page: live tokens and their live findings read,
 * judged (their findings and risk scores), and each page's changes handed to `emit` (which writes
 * them, or sends them to the thread that does). A page's id range runs up to its last token, or,
 * the range's last page, up to the range's end, so the findings of tokens no longer live in it
 * resolve too.
 */
export async function judgeRange(storage: Storage, ctx: Context, pageSize: number, range: TokenRange, emit: (diff: Diff, tokens: number) => Promise<void>, stopped: () => boolean = () => false): Promise<void> {
  const facts = createTokenFactsReader(storage.dialect);
  const repo = createFindingRepo(storage.dialect);
  let afterId = range.after;
  while (!stopped()) {
    const rows = await facts.livePage(storage.db, afterId, pageSize, range.upTo);
    const full = rows.length === pageSize;
    const last = full ? rows[rows.length - 1]!.id : range.upTo;
    const live = await repo.liveInTokenRange(storage.db, afterId, last);
    await emit(judgeTokens(rows.map((r) => r.id), rows, ctx, live), rows.length);
    if (!full) return;
    afterId = last;
  }
}
