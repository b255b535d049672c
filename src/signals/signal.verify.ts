import { createLocalJWKSet, createRemoteJWKSet, customFetch, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type FetchImplementation, type JWK, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { request } from 'undici';
import { createSsrfGuard, type Resolver, type SsrfGuard } from '../gateway/ssrf-guard.ts';
import type { SsfTransmittersTable } from '../storage/schema.ts';

/** RFC 8935 §2.4 error codes, plus the one answer that is not the transmitter's fault. */
export type SetErrorCode = 'invalid_request' | 'invalid_key' | 'invalid_issuer' | 'invalid_audience' | 'authentication_failed' | 'access_denied' | 'temporarily_unavailable';

export class SetRefusal extends Error {
  constructor(
    readonly err: SetErrorCode,
    readonly description: string,
    /** The transmitter the SET was shown to come from (its signature verified), if any. */
    readonly transmitterId: string | null = null,
    readonly jti: string | null = null,
    /**
     * Set only for a refusal a third party cannot repeat at will: the first refusal of a verified
     * SET's jti, held (like an accepted one's) until this time; ledgered on its own, once per jti.
     * Every other refusal of a verified SET is replayable by whoever captured it: rolled up.
     */
    readonly holdUntil: string | null = null,
  ) {
    super(description);
  }
}

/**
 * The window a SET's `iat` must fall in: at most MAX_AGE_S old and at most SKEW_S ahead of this
 * server's clock (SKEW_S also widens the past side). SSF push delivery is immediate and retried
 * for minutes at most; an older SET is a replay or a stuck queue, and the replay table need only
 * hold a jti this long.
 */
export const MAX_AGE_S = 300;
export const SKEW_S = 60;
export const REPLAY_HOLD_MS = (MAX_AGE_S + 2 * SKEW_S) * 1000;

/** Remote key sets: fetched with a timeout, cached, refetched on an unknown kid at most every 30 s. */
const JWKS_TIMEOUT_MS = 5_000;
const JWKS_COOLDOWN_MS = 30_000;
const JWKS_MAX_AGE_MS = 10 * 60_000;
/** A JWK set larger than this is not read (a few keys are a few kilobytes). */
export const MAX_JWKS_BYTES = 256 * 1024;

type KeyResolver = ReturnType<typeof createLocalJWKSet>;

/** Whether a decoded JOSE header or claims set holds U+0000 anywhere (a key or a string), walked without recursion. */
export function containsNul(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return true;
    } else if (Array.isArray(v)) stack.push(...v);
    else if (v !== null && typeof v === 'object') {
      for (const [k, inner] of Object.entries(v)) {
        if (k.includes('\u0000')) return true;
        stack.push(inner);
      }
    }
  }
  return false;
}

/**
 * The fetch jose uses for a transmitter's JWKS URL: undici through the gateway's SSRF guard
 * (every address the name resolves to checked, the socket pinned to it; an IP literal checked
 * here), no redirect followed (a 3xx is not 200, so jose refuses it), at most MAX_JWKS_BYTES read,
 * jose's timeout as the abort signal.
 */
function guardedFetch(guard: SsrfGuard, allowPrivate: boolean): FetchImplementation {
  return async (url, options) => {
    const target = new URL(url);
    const literal = guard.checkLiteralHost(target.hostname, allowPrivate);
    if (!literal.ok) throw new Error(`the JWKS host ${target.hostname} is a ${literal.range} address, which Custody does not fetch from`);
    const res = await request(target, { method: 'GET', headers: Object.fromEntries(options.headers.entries()), signal: options.signal, dispatcher: guard.dispatcherFor(allowPrivate) });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_JWKS_BYTES) {
        res.body.destroy();
        throw new Error(`the JWKS response is larger than ${MAX_JWKS_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
    return new Response(res.statusCode === 200 ? Buffer.concat(chunks) : null, { status: res.statusCode < 200 || res.statusCode > 599 ? 502 : res.statusCode });
  };
}

/**
 * Verifies SETs (RFC 8417) with jose against a configured transmitter's keys. One key resolver per
 * transmitter, rebuilt when its configuration changes (updated_at), so a remote JWK set is fetched
 * once and reused, and a re-key takes effect at once. A remote set is fetched through the SSRF
 * guard: private and loopback addresses only for a `development` transmitter outside production;
 * metadata and link-local never.
 */
export function createSetVerifier(options: { jwksTimeoutMs?: number; production?: boolean; resolve?: Resolver } = {}) {
  const resolvers = new Map<string, { version: string; resolve: KeyResolver }>();
  const timeoutMs = options.jwksTimeoutMs ?? JWKS_TIMEOUT_MS;
  const guard = createSsrfGuard({ connectionsPerOrigin: 4, connectTimeoutMs: timeoutMs, ...(options.resolve ? { resolve: options.resolve } : {}) });

  function resolverOf(t: SsfTransmittersTable): KeyResolver {
    const cached = resolvers.get(t.id);
    if (cached && cached.version === t.updated_at) return cached.resolve;
    const allowPrivate = t.development === 1 && options.production !== true;
    const resolve: KeyResolver = t.jwks_url
      ? (createRemoteJWKSet(new URL(t.jwks_url), { timeoutDuration: timeoutMs, cooldownDuration: JWKS_COOLDOWN_MS, cacheMaxAge: JWKS_MAX_AGE_MS, [customFetch]: guardedFetch(guard, allowPrivate) }) as unknown as KeyResolver)
      : createLocalJWKSet(JSON.parse(t.jwks ?? '{"keys":[]}') as { keys: JWK[] });
    // Bounded by the transmitters configured (platform staff create them).
    resolvers.set(t.id, { version: t.updated_at, resolve });
    return resolve;
  }

  return {
    /**
     * The unverified header and claims (to find the transmitter); throws invalid_request. A SET
     * with U+0000 anywhere in its header or claims is refused here, before any database access
     * (PostgreSQL text cannot hold it; no legitimate SET carries it).
     */
    peek(jws: string): { iss: string; aud: string[]; jti: string | null } {
      let payload: JWTPayload;
      let header: ProtectedHeaderParameters;
      try {
        header = decodeProtectedHeader(jws);
        payload = decodeJwt(jws);
      } catch {
        throw new SetRefusal('invalid_request', 'The body is not a signed JWT in compact serialization (RFC 8417 SET, Content-Type application/secevent+jwt).');
      }
      if (containsNul(header) || containsNul(payload)) throw new SetRefusal('invalid_request', 'The SET\'s header or claims contain a U+0000 (NUL) character, which no SET field may hold.');
      if (typeof payload.iss !== 'string' || payload.iss.length === 0) throw new SetRefusal('invalid_request', 'The SET has no "iss" claim.');
      const aud = typeof payload.aud === 'string' ? [payload.aud] : Array.isArray(payload.aud) ? payload.aud.filter((a): a is string => typeof a === 'string') : [];
      return { iss: payload.iss, aud, jti: typeof payload.jti === 'string' ? payload.jti : null };
    },

    /** The verified claims of a SET from `t`; throws a SetRefusal naming what failed. */
    async verify(jws: string, t: SsfTransmittersTable, now: Date, jti: string | null = null): Promise<JWTPayload & { jti: string; iat: number }> {
      try {
        const { payload } = await jwtVerify(jws, resolverOf(t), {
          issuer: t.issuer,
          audience: t.audience,
          algorithms: JSON.parse(t.algorithms) as string[],
          typ: 'secevent+jwt',
          currentDate: now,
          maxTokenAge: MAX_AGE_S,
          clockTolerance: SKEW_S,
          requiredClaims: ['iat', 'jti'],
        });
        if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 200) throw new SetRefusal('invalid_request', 'The SET\'s "jti" must be a string of 1 to 200 characters.', t.id);
        // RFC 8417 §2.2: a SET is not an access token; a "sub" with no events would be a JWT of another kind.
        return payload as JWTPayload & { jti: string; iat: number };
      } catch (err) {
        throw refusalOf(err, t.id, jti !== null && jti.length > 0 && jti.length <= 200 ? jti : null);
      }
    },
    close: () => guard.close(),
  };
}

/**
 * jose's failure, as the RFC 8935 code the transmitter can act on. A claim failure comes after the
 * signature verified (jose checks it first): tied to the transmitter, with the SET's jti.
 */
function refusalOf(err: unknown, transmitterId: string, jti: string | null): SetRefusal {
  if (err instanceof SetRefusal) return err;
  if (err instanceof errors.JWTExpired) return new SetRefusal('invalid_request', `The SET is too old: its "iat" is more than ${MAX_AGE_S} s (plus ${SKEW_S} s of clock skew) in the past.`, transmitterId, jti);
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return new SetRefusal('invalid_audience', 'The SET\'s "aud" does not name this receiver as the transmitter was configured.', transmitterId, jti);
    if (err.claim === 'iss') return new SetRefusal('invalid_issuer', 'The SET\'s "iss" is not the configured issuer.', transmitterId, jti);
    if (err.claim === 'iat') return new SetRefusal('invalid_request', `The SET's "iat" is missing or outside the accepted window (at most ${MAX_AGE_S} s old, at most ${SKEW_S} s ahead).`, transmitterId, jti);
    if (err.claim === 'typ') return new SetRefusal('invalid_request', 'The SET\'s header "typ" must be "secevent+jwt" (RFC 8417 §2.3).', transmitterId, jti);
    return new SetRefusal('invalid_request', `The SET's "${err.claim}" claim is missing or not valid.`, transmitterId, jti);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return new SetRefusal('invalid_key', 'The SET is signed with an algorithm this transmitter is not configured for.', null);
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) return new SetRefusal('invalid_key', 'No configured key of this transmitter matches the SET\'s "kid" and algorithm.', null);
  if (err instanceof errors.JWSSignatureVerificationFailed) return new SetRefusal('invalid_key', 'The SET\'s signature does not verify with the transmitter\'s keys.', null);
  // A key set that cannot be fetched or read (timeout, network, a non-200, not JSON) is not the SET's fault: retry.
  const fetchFailed = err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || (err instanceof errors.JOSEError && /JSON Web Key Set/i.test(err.message));
  if (fetchFailed || (err instanceof Error && !(err instanceof errors.JOSEError))) {
    return new SetRefusal('temporarily_unavailable', 'The transmitter\'s keys could not be fetched from its JWKS URL; retry later.', null);
  }
  return new SetRefusal('invalid_request', 'The SET is not a valid signed JWT.', null);
}
