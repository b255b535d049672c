import { sql } from 'kysely';
import { CustodyError } from '../shared/errors.ts';
import { isId } from '../shared/ids.ts';
import type { Db } from '../storage/database.ts';
import type { StorageDialect } from '../storage/dialect.ts';
import type { TokenRecord } from './token.types.ts';

/**
 * The risk score on the token record (issue 16). Governance computes it (src/governance/
 * risk.rules.ts) with the findings and hands it here to store; the tokens folder owns the columns
 * and shows them. The score is derived data, like a finding: writing it is not a change of the
 * token (no ledger entry, no `updated_at`, no change notification to gateway caches — and so no
 * re-evaluation triggered by the write itself).
 */

/** One token's new score: `score`, `components` (JSON) and `digest` all null when it holds no privilege any more. */
export interface RiskWrite {
  tokenId: string;
  score: number | null;
  components: string | null;
  /** What governance compares to tell a change (a digest of what the components are made from). */
  digest: string | null;
}

/** Rows per statement: three CASE branches and an id each, well under either database's bound on parameters. */
const RISK_WRITE_CHUNK = 512;

export function createTokenRiskWriter(dialect: StorageDialect) {
  return {
    /**
     * Stores the scores, set-based: one UPDATE per 512 tokens (CASE over the ids, the ids one
     * parameter), in the caller's transaction (the findings' page or batch).
     */
    async record(db: Db, writes: readonly RiskWrite[]): Promise<void> {
      for (let i = 0; i < writes.length; i += RISK_WRITE_CHUNK) {
        const chunk = writes.slice(i, i + RISK_WRITE_CHUNK);
        // The CASE branches padded to a power of two (repeating the last; the first match wins):
        // the statement's text, and so what SQLite prepares and keeps, takes a few shapes, not one
        // per page of a sweep.
        const branches = [...chunk];
        while (branches.length & (branches.length - 1)) branches.push(chunk.at(-1)!);
        const cases = <T>(pick: (w: RiskWrite) => unknown, type: 'integer' | 'text') =>
          sql<T>`case ${sql.ref('id')} ${sql.join(
            branches.map((w) => sql`when ${w.tokenId} then cast(${pick(w)} as ${sql.raw(type)})`),
            sql` `,
          )} end`;
        await db
          .updateTable('tokens')
          .set({
            risk_score: cases<number | null>((w) => w.score, 'integer'),
            risk_components: cases<string | null>((w) => w.components, 'text'),
            risk_digest: cases<string | null>((w) => w.digest, 'text'),
          })
          .where(dialect.anyOf('id', chunk.map((w) => w.tokenId)))
          .execute();
      }
    },
  };
}

export type TokenRiskWriter = ReturnType<typeof createTokenRiskWriter>;

/** The record's `risk`, from the stored columns (null until first evaluated, and for a final token). */
export function riskOf(score: number | null | undefined, components: string | null | undefined): TokenRecord['risk'] {
  if (score === null || score === undefined) return null;
  return { score: Number(score), components: components ? (JSON.parse(components) as NonNullable<TokenRecord['risk']>['components']) : [] };
}

/**
 * The cursor of the inventory sorted by risk: the (score, id) of a page's last token, which the
 * next page starts after. The id-order cursor (shared/cursor.ts) is refused here, and this one
 * there, so a cursor cannot silently continue a list in another order.
 */
export function encodeRiskCursor(score: number, id: string): string {
  return Buffer.from(JSON.stringify({ after: id, risk: score })).toString('base64url');
}

export function decodeRiskCursor(cursor: string): { score: number; id: string } {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown; risk?: unknown };
    if (typeof parsed.after === 'string' && isId('token', parsed.after) && Number.isInteger(parsed.risk) && (parsed.risk as number) >= 0 && (parsed.risk as number) <= 100) {
      return { score: parsed.risk as number, id: parsed.after };
    }
  } catch {
    // fall through
  }
  throw new CustodyError('invalid_cursor', 'The cursor is not one this server issued for sort=risk; start again without it (a cursor continues the order it was issued in).');
}

/** Whether a cursor is one of sort=risk's (to refuse it in id order). */
export function isRiskCursor(cursor: string): boolean {
  try {
    return (JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { risk?: unknown }).risk !== undefined;
  } catch {
    return false;
  }
}
