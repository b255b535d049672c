import { CustodyError } from './errors.ts';
import { isId, type IdKind } from './ids.ts';

/**
 * The opaque cursor of a paged list: the id of the last item of the page, which the next page
 * starts after. A cursor that does not decode to an id of the list's kind is refused.
 */
export function encodeCursor(id: string): string {
  return Buffer.from(JSON.stringify({ after: id })).toString('base64url');
}

export function decodeCursor(kind: IdKind, cursor: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof parsed.after === 'string' && isId(kind, parsed.after)) return parsed.after;
  } catch {
    // fall through
  }
  throw new CustodyError('invalid_cursor');
}
