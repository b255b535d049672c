import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../auth/roles.ts';
import { fixedClock } from '../shared/clock.ts';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { seed, startHarness, testKeyring, type Harness, type Seeded } from '../../test/support/harness.ts';
import { MAX_SESSIONS_PER_ACTOR } from './session.service.ts';
import { SIGN_IN_ATTEMPTS_PER_MINUTE } from './session.routes.ts';

const MINUTE = 60_000;
const TTL_MINUTES = 10;
const IDLE_MINUTES = 2;

/** A source address of its own for each sign-in, so the per-address limit only bites where a test means it to. */
const freshAddress = () => `10.${randomBytes(3).join('.')}`;

describeEachDatabase('console sessions', (kind) => {
  const clock = fixedClock('2026-12-01T09:00:00.000Z');
  const keyring = testKeyring();
  let h: Harness;
  let s: Seeded;

  beforeAll(async () => {
    h = await startHarness(kind, { clock, keyring, env: { CUSTODY_SESSION_TTL_MINUTES: String(TTL_MINUTES), CUSTODY_SESSION_IDLE_MINUTES: String(IDLE_MINUTES) } });
    s = await seed(h);
  });
  afterAll(async () => {
    await h?.close();
  });

  async function newKey(role: Role, tenantId?: string) {
    const { key, apiKey } = await h.custody.apiKeys.create(h.admin, { role, name: `${role}-${randomBytes(3).toString('hex')}`, ...(tenantId ? { tenantId } : {}), ...(role === 'workload' ? { workload: 'billing-sync' } : {}) });
    return { key, id: apiKey.id };
  }

  const signIn = (body: unknown, remoteAddress = freshAddress()) => h.app.inject({ method: 'POST', url: '/v1/session', payload: body as object, remoteAddress });

  /** Signs in and answers the Cookie header, the CSRF token and the raw Set-Cookie. */
  async function sessionOf(key: string) {
    const res = await signIn({ apiKey: key });
    expect(res.statusCode).toBe(200);
    const setCookie = String(res.headers['set-cookie']);
    return { cookie: setCookie.split(';')[0]!, csrf: res.json().csrfToken as string, setCookie, view: res.json() };
  }

  const get = (url: string, cookie: string) => h.app.inject({ method: 'GET', url, headers: { cookie } });
  const suspend = (tokenId: string, headers: Record<string, string>) => h.app.inject({ method: 'POST', url: `/v1/tokens/${tokenId}/suspend`, headers, payload: { reason: 'session test' } });
  const resume = (tokenId: string) => h.custody.tokens.transition(h.admin, tokenId, 'resume', 'session test');
  const count = async (table: 'console_sessions' | 'ledger_entries') => Number((await h.custody.storage.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
  const codeOf = (res: { json(): unknown }) => (res.json() as { error: { code: string } }).error.code;

  it.each(['admin', 'security', 'auditor', 'tenant_admin'] as const)('signs in with a %s key: an httpOnly, SameSite=Strict, Path=/ cookie, not Secure over http', async (role) => {
    const { key } = await newKey(role, role === 'tenant_admin' ? s.tenantA : undefined);
    const { setCookie, view, cookie } = await sessionOf(key);
    expect(setCookie).toMatch(/^custody_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=600$/);
    expect(view).toMatchObject({ role, tenantId: role === 'tenant_admin' ? s.tenantA : null, via: 'api_key', expiresAt: '2026-12-01T09:02:00.000Z' });
    expect((await get('/v1/session', cookie)).json().session).toMatchObject({ role, via: 'api_key' });
  });

  it('refuses a workload key (403 forbidden), a wrong key and a revoked key (401), writing nothing', async () => {
    const workload = await newKey('workload', s.tenantA);
    const revoked = await newKey('admin');
    await h.custody.apiKeys.revoke(h.admin, revoked.id);
    const before = [await count('console_sessions'), await count('ledger_entries')];
    const refused = await signIn({ apiKey: workload.key });
    expect([refused.statusCode, codeOf(refused)]).toEqual([403, 'forbidden']);
    for (const apiKey of [revoked.key, `${revoked.key.slice(0, -4)}AAAA`, 'cus_nonsense']) {
      const res = await signIn({ apiKey });
      expect([res.statusCode, codeOf(res)]).toEqual([401, 'unauthenticated']);
      expect(res.headers['set-cookie']).toBeUndefined();
    }
    expect([await count('console_sessions'), await count('ledger_entries')]).toEqual(before);
  });

  it('answers bad sign-in bodies with 4xx and a code', async () => {
    const cases: [unknown, number, string][] = [
      [{}, 400, 'validation_failed'],
      [{ apiKey: '' }, 400, 'validation_failed'],
      [{ apiKey: 'x'.repeat(201) }, 400, 'validation_failed'],
      [{ apiKey: 'cus_x', extra: 1 }, 400, 'validation_failed'],
      [{ apiKey: 42 }, 400, 'validation_failed'],
    ];
    for (const [body, status, code] of cases) {
      const res = await signIn(body);
      expect([res.statusCode, codeOf(res)], JSON.stringify(body)).toEqual([status, code]);
    }
    const text = await h.app.inject({ method: 'POST', url: '/v1/session', headers: { 'content-type': 'text/plain' }, payload: 'cus_x', remoteAddress: freshAddress() });
    expect([text.statusCode, codeOf(text)]).toEqual([415, 'unsupported_media_type']);
    // What a form on another site can send (no preflight) is refused: nobody can be signed in as someone else by a cross-site form.
    const form = await h.app.inject({ method: 'POST', url: '/v1/session', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'apiKey=cus_x', remoteAddress: freshAddress() });
    expect([form.statusCode, codeOf(form)]).toEqual([415, 'unsupported_media_type']);
  });

  it('needs the CSRF token on state-changing calls made with the cookie, not on reads, and not with a bearer key', async () => {
    const { key } = await newKey('admin');
    const { cookie, csrf } = await sessionOf(key);
    const none = await suspend(s.tokenA, { cookie });
    expect([none.statusCode, codeOf(none)]).toEqual([403, 'csrf_failed']);
    const wrong = await suspend(s.tokenA, { cookie, 'x-custody-csrf': `${csrf.slice(0, -1)}${csrf.endsWith('A') ? 'B' : 'A'}` });
    expect([wrong.statusCode, codeOf(wrong)]).toEqual([403, 'csrf_failed']);
    const short = await suspend(s.tokenA, { cookie, 'x-custody-csrf': 'x' });
    expect([short.statusCode, codeOf(short)]).toEqual([403, 'csrf_failed']);
    expect((await h.custody.tokens.get(h.admin, s.tokenA)).state).toBe('active');
    const right = await suspend(s.tokenA, { cookie, 'x-custody-csrf': csrf });
    expect(right.statusCode).toBe(200);
    expect(right.json().state).toBe('suspended');
    await resume(s.tokenA);
    // A read needs no token, and is not kept by the browser's cache.
    const read = await get(`/v1/tokens/${s.tokenA}`, cookie);
    expect([read.statusCode, read.headers['cache-control'], read.headers.vary]).toEqual([200, 'no-store', 'Cookie']);
    // A GET that changes state (starting a consent) needs the token like a POST: a sibling site's <img> must not start one.
    const providerId = (await h.custody.tokens.get(h.admin, s.tokenA)).providerId;
    const connect = await get(`/v1/connect/${providerId}?tenantId=${s.tenantA}&owner=planted`, cookie);
    expect([connect.statusCode, codeOf(connect)]).toEqual([403, 'csrf_failed']);
    // Two session cookies (one planted by a sibling site on a parent domain, over http): neither is taken.
    const tossed = await get(`/v1/tokens/${s.tokenA}`, `custody_session=${'B'.repeat(43)}; ${cookie}`);
    expect([tossed.statusCode, codeOf(tossed)]).toEqual([401, 'unauthenticated']);
    expect(tossed.json().error.message).toMatch(/Two custody_session cookies/);
    expect((await get('/v1/session', `${cookie}; ${cookie}`)).json().session).toBeNull();
    // A bearer request is judged by its key alone: no CSRF token, and a stale cookie beside it does not matter.
    const viaBearer = await suspend(s.tokenA, { authorization: `Bearer ${key}`, cookie: 'custody_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    expect(viaBearer.statusCode).toBe(200);
    await resume(s.tokenA);
  });

  it('ends the sessions of a revoked key at once', async () => {
    const { key, id } = await newKey('security');
    const { cookie } = await sessionOf(key);
    expect((await get(`/v1/tokens/${s.tokenA}`, cookie)).statusCode).toBe(200);
    await h.custody.apiKeys.revoke(h.admin, id);
    const after = await get(`/v1/tokens/${s.tokenA}`, cookie);
    expect([after.statusCode, codeOf(after)]).toEqual([401, 'unauthenticated']);
    expect((await get('/v1/session', cookie)).json()).toEqual({ session: null });
  });

  it('signs out here and, within the cache TTL, on another instance of the same database; sign-out needs the CSRF token', async () => {
    const { key } = await newKey('auditor');
    const { cookie, csrf } = await sessionOf(key);
    const other = await startHarness(kind, { clock, keyring, database: h.db, env: { CUSTODY_SESSION_TTL_MINUTES: String(TTL_MINUTES), CUSTODY_SESSION_IDLE_MINUTES: String(IDLE_MINUTES) } });
    try {
      // The other instance has the session cached.
      expect((await other.app.inject({ method: 'GET', url: `/v1/tokens/${s.tokenA}`, headers: { cookie } })).statusCode).toBe(200);
      const forged = await h.app.inject({ method: 'DELETE', url: '/v1/session', headers: { cookie } });
      expect([forged.statusCode, codeOf(forged)]).toEqual([403, 'csrf_failed']);
      const out = await h.app.inject({ method: 'DELETE', url: '/v1/session', headers: { cookie, 'x-custody-csrf': csrf } });
      expect(out.statusCode).toBe(204);
      expect(String(out.headers['set-cookie'])).toMatch(/^custody_session=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0$/);
      const here = await get(`/v1/tokens/${s.tokenA}`, cookie);
      expect([here.statusCode, codeOf(here)]).toEqual([401, 'unauthenticated']);
      clock.advance(5_001);
      const there = await other.app.inject({ method: 'GET', url: `/v1/tokens/${s.tokenA}`, headers: { cookie } });
      expect([there.statusCode, codeOf(there)]).toEqual([401, 'unauthenticated']);
    } finally {
      await other.close();
    }
  });

  it('ends a session left idle, and one past its absolute lifetime however busy', async () => {
    const { key } = await newKey('admin');
    const signedInAt = clock.now().getTime();
    const idle = await sessionOf(key);
    const busy = await sessionOf(key);
    clock.set(new Date(signedInAt + IDLE_MINUTES * MINUTE - 1_000));
    expect((await get(`/v1/tokens/${s.tokenA}`, busy.cookie)).statusCode).toBe(200);
    clock.set(new Date(signedInAt + IDLE_MINUTES * MINUTE));
    // Unused since its sign-in: over.
    expect((await get('/v1/session', idle.cookie)).json().session).toBeNull();
    const ended = await get(`/v1/tokens/${s.tokenA}`, idle.cookie);
    expect([ended.statusCode, codeOf(ended)]).toEqual([401, 'unauthenticated']);
    // `busy` is used every 90 s: alive until its 10 minutes from sign-in are over.
    for (let at = signedInAt + IDLE_MINUTES * MINUTE + 30_000; at < signedInAt + TTL_MINUTES * MINUTE; at += 90_000) {
      clock.set(new Date(at));
      expect((await get(`/v1/tokens/${s.tokenA}`, busy.cookie)).statusCode, new Date(at).toISOString()).toBe(200);
    }
    clock.set(new Date(signedInAt + TTL_MINUTES * MINUTE));
    expect((await get(`/v1/tokens/${s.tokenA}`, busy.cookie)).statusCode).toBe(401);
    clock.advance(MINUTE);
  });

  it(`holds at most ${MAX_SESSIONS_PER_ACTOR} sessions a key: one more ends the oldest`, async () => {
    const { key, id } = await newKey('security');
    const sessions = [];
    for (let i = 0; i < MAX_SESSIONS_PER_ACTOR + 1; i++) {
      sessions.push(await sessionOf(key));
      clock.advance(10);
    }
    const held = await h.custody.storage.db.selectFrom('console_sessions').select('id').where('key_id', '=', id).execute();
    expect(held).toHaveLength(MAX_SESSIONS_PER_ACTOR);
    expect((await get('/v1/session', sessions[0]!.cookie)).json().session).toBeNull();
    expect((await get('/v1/session', sessions[1]!.cookie)).json().session).not.toBeNull();
    expect((await get('/v1/session', sessions.at(-1)!.cookie)).json().session).not.toBeNull();
  });

  it('prunes expired rows at the next sign-in', async () => {
    const { key } = await newKey('auditor');
    await sessionOf(key);
    const old = await h.custody.storage.db.selectFrom('console_sessions').select('id').execute();
    expect(old.length).toBeGreaterThan(0);
    clock.advance(TTL_MINUTES * MINUTE + 1);
    const fresh = await sessionOf(key);
    const left = await h.custody.storage.db.selectFrom('console_sessions').select(['id', 'expires_at']).execute();
    expect(left).toHaveLength(1);
    expect(left[0]!.expires_at > clock.now().toISOString()).toBe(true);
    expect((await get('/v1/session', fresh.cookie)).json().session).not.toBeNull();
  });

  it('shows a tenant administrator another tenant’s token as 404', async () => {
    const { key } = await newKey('tenant_admin', s.tenantA);
    const { cookie } = await sessionOf(key);
    expect((await get(`/v1/tokens/${s.tokenA}`, cookie)).statusCode).toBe(200);
    const other = await get(`/v1/tokens/${s.tokenB}`, cookie);
    expect([other.statusCode, codeOf(other)]).toEqual([404, 'token_not_found']);
  });

  it('ledgers sign-in and sign-out without a secret, and logs no key, cookie or CSRF token', async () => {
    const { key, id } = await newKey('admin');
    const { cookie, csrf } = await sessionOf(key);
    await get(`/v1/tokens/${s.tokenA}`, cookie);
    await suspend(s.tokenA, { cookie });
    await h.app.inject({ method: 'DELETE', url: '/v1/session', headers: { cookie, 'x-custody-csrf': csrf } });
    const entries = await h.custody.storage.db.selectFrom('ledger_entries').selectAll().where('action', 'in', ['session.signed_in', 'session.signed_out']).where('actor', '=', `apikey:${id}`).orderBy('seq').execute();
    expect(entries.map((e) => e.action)).toEqual(['session.signed_in', 'session.signed_out']);
    const secret = cookie.slice('custody_session='.length);
    // The key's secret part (its last 20 characters: the random part may itself hold an underscore).
    const keySecret = key.slice(-20);
    for (const e of entries) for (const s of [secret, csrf, keySecret]) expect(JSON.stringify(e)).not.toContain(s);
    const logs = h.logs.join('');
    expect(logs.length).toBeGreaterThan(0);
    for (const s of [secret, csrf, keySecret]) expect(logs).not.toContain(s);
  });

  it(`limits failed sign-ins to ${SIGN_IN_ATTEMPTS_PER_MINUTE} a minute from one address (429 with Retry-After), never a right key`, async () => {
    const address = freshAddress();
    for (let i = 0; i < SIGN_IN_ATTEMPTS_PER_MINUTE; i++) expect((await signIn({ apiKey: 'cus_wrong' }, address)).statusCode).toBe(401);
    const limited = await signIn({ apiKey: 'cus_wrong' }, address);
    expect([limited.statusCode, codeOf(limited)]).toEqual([429, 'rate_limited']);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // A right key still signs in from that address (a flood of wrong ones behind a shared proxy
    // address cannot lock the others out), and from another.
    const { key } = await newKey('admin');
    expect((await signIn({ apiKey: key }, address)).statusCode).toBe(200);
    expect((await signIn({ apiKey: key })).statusCode).toBe(200);
    expect((await signIn({ apiKey: 'cus_wrong' }, address)).statusCode).toBe(429);
  });
});

describe('console sessions over https (sqlite)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness('sqlite', { env: { CUSTODY_PUBLIC_URL: 'https://custody.example.com' } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('marks the session cookie Secure and __Host- when CUSTODY_PUBLIC_URL is https, and reads only that name', async () => {
    const { key } = await h.custody.apiKeys.create(h.admin, { role: 'admin', name: 'https-admin' });
    const res = await h.app.inject({ method: 'POST', url: '/v1/session', payload: { apiKey: key } });
    expect(res.statusCode).toBe(200);
    const setCookie = String(res.headers['set-cookie']);
    expect(setCookie).toMatch(/^__Host-custody_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=28800; Secure$/);
    const secret = setCookie.split(';')[0]!.split('=')[1]!;
    expect((await h.app.inject({ method: 'GET', url: '/v1/tokens', headers: { cookie: `__Host-custody_session=${secret}` } })).statusCode).toBe(200);
    // The unprefixed name (which a sibling domain could plant) is not a session here.
    const planted = await h.app.inject({ method: 'GET', url: '/v1/tokens', headers: { cookie: `custody_session=${secret}` } });
    expect(planted.statusCode).toBe(401);
    expect((await h.app.inject({ method: 'GET', url: '/v1/session', headers: { cookie: `custody_session=${secret}` } })).json()).toEqual({ session: null });
  });
});
