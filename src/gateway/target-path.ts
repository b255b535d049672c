/**
 * Joining a caller's path onto a provider's API base URL. Pure. The caller controls `rawPath`
 * and `rawQuery` byte for byte, so the join refuses rather than repairs anything that could make
 * the upstream resolve a path outside the base: dot segments (plain or percent-encoded, once or
 * twice), encoded slashes and backslashes, empty segments, control characters, and (unless the
 * provider's API uses them) path parameters after ';'. The result is
 * built from the base's origin, so the host can never come from the caller.
 */
export type JoinResult =
  | {
      ok: true;
      /** The base's origin, host (with port) and hostname: never from the caller. */
      origin: string;
      host: string;
      hostname: string;
      /** What goes on the request line: the joined path and the caller's query, byte for byte. */
      requestPath: string;
      path: string;
      segments: string[];
    }
  | { ok: false; reason: string };

const DOUBLE_ENCODED = /%(?:2e|2f|5c|25|00)/i;
// Characters a request line may carry in a path: RFC 3986 pchar plus '/' and percent escapes.
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/;

function decodeSegment(raw: string): string | null {
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
}

interface ParsedBase {
  origin: string;
  host: string;
  hostname: string;
  /** The base's path without trailing slashes ('' for a root base). */
  basePath: string;
}

// Parsed base URLs, by text: a handful per provider, parsed once rather than on every call.
const parsedBases = new Map<string, ParsedBase | null>();

function parseBase(base: string): ParsedBase | null {
  let parsed = parsedBases.get(base);
  if (parsed === undefined) {
    try {
      const u = new URL(base);
      parsed = { origin: u.origin, host: u.host, hostname: u.hostname, basePath: u.pathname.replace(/\/+$/, '') };
    } catch {
      parsed = null;
    }
    if (parsedBases.size > 10_000) parsedBases.clear();
    parsedBases.set(base, parsed);
  }
  return parsed;
}

/**
 * @param base a provider API base URL (absolute, http(s), no query), e.g. https://api.example.com/v1
 * @param rawPath the path after /gw/{tokenId}, as received (still percent-encoded), '' or starting with '/'
 * @param rawQuery the query string without '?', as received, or ''
 */
export function joinTarget(base: string, rawPath: string, rawQuery: string, options: { allowPathParameters?: boolean } = {}): JoinResult {
  const baseUrl = parseBase(base);
  if (!baseUrl) return { ok: false, reason: 'the provider API base URL is not valid' };
  if (rawPath !== '' && !rawPath.startsWith('/')) return { ok: false, reason: 'the path must start with /' };
  if (!PATH_CHARS.test(rawPath)) return { ok: false, reason: 'the path contains characters that are not allowed' };
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (/[\u0000-\u0020\u007f#]/.test(rawQuery)) return { ok: false, reason: 'the query contains characters that are not allowed' };

  const segments = rawPath === '' ? [] : rawPath.slice(1).split('/');
  const decoded: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const raw = segments[i]!;
    if (raw === '') {
      // Only a trailing slash may leave an empty segment ("/items/"); "//" could read as a host.
      if (i === segments.length - 1 && i > 0) continue;
      return { ok: false, reason: 'the path contains an empty segment (//)' };
    }
    // Without a percent escape the segment is its own decoding, and PATH_CHARS has already
    // refused slashes, backslashes and control characters in it.
    const escaped = raw.includes('%');
    const value = escaped ? decodeSegment(raw) : raw;
    if (value === null) return { ok: false, reason: 'the path contains a malformed percent escape' };
    if (value === '.' || value === '..') return { ok: false, reason: 'the path contains a dot segment (. or ..)' };
    // A ';' starts a path parameter, which servers such as Tomcat strip before routing: /items/..;/admin
    // would be checked here as an /items path and served as /admin. Refused unless the provider's API uses them.
    if (!options.allowPathParameters && value.includes(';')) {
      return { ok: false, reason: "the path contains ';' (a path parameter); the provider allows them with allowPathParameters" };
    }
    if (escaped) {
      // eslint-disable-next-line no-control-regex -- refusing control characters is the point
      if (/[/\\\u0000-\u001f\u007f]/.test(value)) return { ok: false, reason: 'the path contains an encoded slash, backslash or control character' };
      if (DOUBLE_ENCODED.test(value)) return { ok: false, reason: 'the path contains a double-encoded character' };
    }
    decoded.push(value);
  }

  // The target is the base's origin followed by text this function has checked segment by
  // segment, so it is not parsed again: a URL parser would give back the same origin and path
  // (target-path.test.ts checks exactly that over a seeded corpus).
  const { basePath } = baseUrl;
  const path = `${basePath}${rawPath}` || '/';
  return {
    ok: true,
    origin: baseUrl.origin,
    host: baseUrl.host,
    hostname: baseUrl.hostname,
    requestPath: rawQuery ? `${path}?${rawQuery}` : path,
    path: rawPath === '' ? '/' : rawPath,
    segments: decoded,
  };
}

/** Splits a request URL after the /gw/{tokenId} prefix into raw path and raw query. */
export function splitGatewayUrl(requestUrl: string, tokenId: string): { rawPath: string; rawQuery: string } | null {
  const prefix = `/gw/${tokenId}`;
  if (!requestUrl.startsWith(prefix)) return null;
  const rest = requestUrl.slice(prefix.length);
  if (rest !== '' && !rest.startsWith('/') && !rest.startsWith('?')) return null;
  const q = rest.indexOf('?');
  return q < 0 ? { rawPath: rest, rawQuery: '' } : { rawPath: rest.slice(0, q), rawQuery: rest.slice(q + 1) };
}
