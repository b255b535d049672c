import { isUtf8 } from 'node:buffer';
import { CustodyError } from '../shared/errors.ts';

/*
 * The rules every JSON request body of the API meets beyond its schema, before it is read: UTF-8
 * text, each key once per object, no prototype keys. Used by the server's JSON parser and by the
 * leak-report route's own (which must see the signed bytes first).
 */

/**
 * Where a JSON text names the same key twice in one object, or null when it never does.
 *
 * `JSON.parse` keeps the last of two equal keys and drops the other without a word, so
 * `{"reason": "incident 42", "reason": ""}` would be read as if the first had never been sent:
 * a field silently dropped, and two readers of one body (a proxy, an audit log, Custody) could
 * disagree on what it said. The API refuses such a body instead (RFC 8259 §4: names SHOULD be
 * unique; RFC 7493 I-JSON: MUST).
 *
 * Runs on text that `JSON.parse` has accepted (so its syntax is known to be right): one pass, no
 * recursion (nesting depth costs nothing but the stack of open containers), and a key is decoded
 * only when it holds an escape, so `"\u0061"` and `"a"` are the same key.
 * The path names the object, as `details` paths do (`body/scopes/0`).
 */
export function duplicateKeyOf(text: string): { key: string; path: string } | null {
  // One entry per open container: an object's keys seen so far (null for an array), where it
  // sits, and (for an array) the index of the current item.
  const keys: (Set<string> | null)[] = [];
  const names: string[] = [];
  const indexes: number[] = [];
  let expectKey = false;
  let pendingKey = 'body';
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      // The closing quote: the first one not escaped by an odd run of backslashes.
      let end = i + 1;
      for (;;) {
        end = text.indexOf('"', end);
        let backslashes = 0;
        for (let j = end - 1; text.charCodeAt(j) === 0x5c; j--) backslashes++;
        if (backslashes % 2 === 0) break;
        end++;
      }
      if (expectKey) {
        const raw = text.slice(i + 1, end);
        const key = raw.includes('\\') ? (JSON.parse(text.slice(i, end + 1)) as string) : raw;
        const seen = keys[keys.length - 1]!;
        if (seen.has(key)) return { key, path: names.join('/') };
        seen.add(key);
        pendingKey = key;
        expectKey = false;
      }
      i = end;
    } else if (c === 0x7b /* { */) {
      names.push(childName(pendingKey, keys, indexes));
      keys.push(new Set());
      indexes.push(0);
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      names.push(childName(pendingKey, keys, indexes));
      keys.push(null);
      indexes.push(0);
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      keys.pop();
      names.pop();
      indexes.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      const top = keys.length - 1;
      if (keys[top] === null) indexes[top]!++;
      else expectKey = true;
    }
  }
  return null;
}

/** The name a container opened now gets: its key in the enclosing object, or its index in the enclosing array. */
function childName(pendingKey: string, keys: (Set<string> | null)[], indexes: number[]): string {
  if (keys.length === 0) return 'body';
  return keys[keys.length - 1] === null ? String(indexes[indexes.length - 1]) : pendingKey;
}

/**
 * The API's refusal of a JSON text that names a key twice, or null when it names none twice (the
 * key is shortened in the answer: a 100 KB key is not echoed back twice).
 */
export function duplicateKeyRefusal(text: string): CustodyError | null {
  const dup = duplicateKeyOf(text);
  if (!dup) return null;
  const key = dup.key.length > 80 ? `${dup.key.slice(0, 80)}…` : dup.key;
  return new CustodyError(
    'malformed_request',
    `The request body names the key "${key}" twice in one object (at ${dup.path}): JSON would keep only the last, so it is refused rather than read with a value dropped. Send each key once. Nothing was changed.`,
    [{ path: dup.path, message: `names the key "${key}" twice` }],
  );
}

/** The refusal of a JSON body that is not UTF-8 (RFC 8259 §8.1), or null. */
export function notUtf8Refusal(body: Buffer): CustodyError | null {
  return isUtf8(body) ? null : new CustodyError('malformed_request', 'The request body is not valid UTF-8; JSON text must be UTF-8 (RFC 8259 §8.1). Nothing was changed.');
}

/**
 * Fastify's parser (secure-json-parse) refuses keys that would reach an object's prototype, and
 * says only "not valid JSON". When the text is valid JSON that was the reason: say so. (Called on
 * the parser's error path only, so the second parse costs a refused body alone.)
 */
export function prototypeKeyRefusal(text: string): CustodyError | null {
  try {
    JSON.parse(text);
  } catch {
    return null;
  }
  return new CustodyError('malformed_request', 'The request body uses the key "__proto__" (or "constructor" holding "prototype"), which no request accepts: such keys can change how every object behaves. Nothing was changed.');
}
