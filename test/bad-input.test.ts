import type { InjectOptions, LightMyRequestResponse } from 'fastify';

/** The methods inject takes (light-my-request's list, which Fastify's own type does not match exactly). */
type HTTPMethods = NonNullable<InjectOptions['method']>;
import { afterAll, beforeAll, expect, it } from 'vitest';
import { newId } from '../src/shared/ids.ts';
import { describeEachDatabase } from './support/databases.ts';
import { bearer, keyFor, seed, startHarness, type Harness, type Seeded } from './support/harness.ts';
import { prng } from './support/prng.ts';

/**
 * DESIGN §7: every bad input gets a clear 4xx with a machine-readable code and a message naming
 * what is wrong; no input crashes the server or returns a 500.
 */

const BODY_LIMIT = 8192;

interface Call {
  method: HTTPMethods;
  url: string;
  payload?: unknown;
  headers?: Record<string, string>;
}

describeEachDatabase('bad input', (kind) => {
  let h: Harness;
  let s: Seeded;
  let admin: string;

  beforeAll(async () => {
    h = await startHarness(kind, { env: { CUSTODY_BODY_LIMIT_BYTES: String(BODY_LIMIT) } });
    s = await seed(h);
    admin = await keyFor(h, 'admin');
  });
  afterAll(() => h.close());

  const call = (c: Call): Promise<LightMyRequestResponse> =>
    h.app.inject({ method: c.method, url: c.url, headers: { ...bearer(admin), ...c.headers }, ...(c.payload === undefined ? {} : { payload: c.payload as string }) });

  const validToken = () => ({ tenantId: s.tenantA, providerId: s.providerId, owner: 'team-x', scopes: ['invoices.read'], accessToken: `at-valid-${Math.random()}` });
  const json = { 'content-type': 'application/json' };

  /** Asserts a coded error: status, code, and (when given) that the message names every field. */
  async function expectError(c: Call, status: number, code: string, names: string[] = []) {
    const r = await call(c);
    const label = `${c.method} ${c.url.slice(0, 120)} ${typeof c.payload === 'string' ? c.payload.slice(0, 80) : JSON.stringify(c.payload)?.slice(0, 120)} → ${r.statusCode} ${r.body.slice(0, 300)}`;
    expect(r.statusCode, label).toBe(status);
    expect(r.headers['content-type'], label).toMatch(/^application\/json/);
    const { error } = r.json();
    expect(error.code, label).toBe(code);
    expect(error.message.length, label).toBeGreaterThan(10);
    for (const name of names) expect(error.message, label).toContain(name);
    return error as { code: string; message: string; details?: { path: string; message: string }[] };
  }

  it('answers malformed JSON with 400 malformed_json', async () => {
    for (const body of ['{', '{"owner": }', '{"owner": "x",}', "{'owner': 'x'}", '{"owner": "x"} trailing', 'undefined', '{"a": NaN}', '\u0000']) {
      await expectError({ method: 'POST', url: '/v1/tokens', payload: body, headers: json }, 400, 'malformed_json');
    }
    // Valid JSON, refused on purpose, and said so (not "not valid JSON").
    for (const body of ['{"__proto__": {"admin": true}}', '{"constructor": {"prototype": {"x": 1}}}', '{"\\u005f_proto__": {}}']) {
      await expectError({ method: 'POST', url: '/v1/tokens', payload: body, headers: json }, 400, 'malformed_request', ['__proto__']);
    }
    await expectError({ method: 'PATCH', url: `/v1/tokens/${s.tokenA}`, payload: '{"owner": "x"', headers: json }, 400, 'malformed_json');
  });

  it('answers an empty JSON body with 400 malformed_json saying the body is empty', async () => {
    await expectError({ method: 'POST', url: '/v1/tokens', payload: '', headers: json }, 400, 'malformed_json', ['empty']);
    await expectError({ method: 'POST', url: `/v1/tokens/${s.tokenA}/suspend`, payload: '', headers: json }, 400, 'malformed_json', ['empty']);
  });

  it('answers a missing body, or JSON that is not an object, with 400 validation_failed naming the body', async () => {
    await expectError({ method: 'POST', url: '/v1/tokens' }, 400, 'validation_failed', ['body']);
    for (const body of ['null', '[]', '"text"', '42', 'true', `${'['.repeat(2000)}${']'.repeat(2000)}`]) {
      await expectError({ method: 'POST', url: '/v1/tokens', payload: body, headers: json }, 400, 'validation_failed', ['body']);
    }
  });

  it('answers a body that is not JSON with 415 unsupported_media_type', async () => {
    for (const type of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', 'text/html']) {
      await expectError({ method: 'POST', url: '/v1/tokens', payload: JSON.stringify(validToken()), headers: { 'content-type': type } }, 415, 'unsupported_media_type');
    }
  });

  it('accepts application/json with a charset parameter (the 415 above is about the type, not the header form)', async () => {
    const r = await call({ method: 'POST', url: '/v1/tokens', payload: JSON.stringify(validToken()), headers: { 'content-type': 'application/json; charset=utf-8' } });
    expect(r.statusCode).toBe(201);
  });

  it('refuses unknown fields with 400 validation_failed naming each field', async () => {
    const e = await expectError({ method: 'POST', url: '/v1/tokens', payload: { ...validToken(), isAdmin: true, state: 'active' } }, 400, 'validation_failed', ['isAdmin', 'state']);
    expect(e.details!.map((d) => d.path)).toEqual(expect.arrayContaining(['body']));
    await expectError({ method: 'POST', url: '/v1/tokens', payload: { ...validToken(), approver: { subject: 'a', role: 'ciso' } } }, 400, 'validation_failed', ['role']);
    await expectError({ method: 'PATCH', url: `/v1/tokens/${s.tokenA}`, payload: { owner: 'x', tenantId: s.tenantB } }, 400, 'validation_failed', ['tenantId']);
    await expectError({ method: 'POST', url: `/v1/tokens/${s.tokenA}/suspend`, payload: { reason: 'x', force: true } }, 400, 'validation_failed', ['force']);
    await expectError({ method: 'POST', url: '/v1/tenants', payload: { name: 'x', id: newId('tenant') } }, 400, 'validation_failed', ['"id"']);
    await expectError({ method: 'POST', url: '/v1/api-keys', payload: { role: 'admin', name: 'k', secret: 'mine' } }, 400, 'validation_failed', ['secret']);
  });

  it('refuses wrong types and missing fields with 400 validation_failed naming the field', async () => {
    const cases: [string, object, string][] = [
      ['POST /v1/tokens', { ...validToken(), scopes: 'invoices.read' }, 'body/scopes'],
      ['POST /v1/tokens', { ...validToken(), owner: 42 }, 'body/owner'],
      ['POST /v1/tokens', { ...validToken(), owner: '' }, 'body/owner'],
      ['POST /v1/tokens', { ...validToken(), workloads: [1] }, 'body/workloads/0'],
      ['POST /v1/tokens', { ...validToken(), approver: 'alice' }, 'body/approver'],
      ['POST /v1/tokens', { ...validToken(), approver: { subject: 'a', email: 'not-an-email' } }, 'body/approver/email'],
      ['POST /v1/tokens', { ...validToken(), accessExpiresAt: 'tomorrow' }, 'body/accessExpiresAt'],
      ['POST /v1/tokens', { ...validToken(), accessExpiresAt: 1767225600 }, 'body/accessExpiresAt'],
      ['POST /v1/tokens', { ...validToken(), accessToken: null }, 'body/accessToken'],
      ['POST /v1/tokens', { ...validToken(), scopes: ['has space'] }, 'body/scopes/0'],
      ['POST /v1/tokens', { tenantId: s.tenantA }, 'providerId'],
      ['POST /v1/tokens/revoke', { ids: s.tokenA, reason: 'x' }, 'body/ids'],
      ['POST /v1/tokens/revoke', { ids: [], reason: 'x' }, 'body/ids'],
      ['POST /v1/tenants', { name: ['acme'] }, 'body/name'],
      ['POST /v1/api-keys', { role: 'root', name: 'k' }, 'body/role'],
      ['POST /v1/providers', { name: 'p', tokenEndpoint: 'https://x', clientId: 'c', apiBaseUrls: [] }, 'body/apiBaseUrls'],
      [`PATCH /v1/tokens/${s.tokenA}`, { workloads: 'billing' }, 'body/workloads'],
      [`PATCH /v1/tokens/${s.tokenA}`, { reviewDueAt: 'soon' }, 'body/reviewDueAt'],
      [`POST /v1/tokens/${s.tokenA}/revoke`, { reason: null }, 'body/reason'],
      [`POST /v1/tokens/${s.tokenA}/revoke`, {}, 'reason'],
    ];
    for (const [route, payload, field] of cases) {
      const [method, url] = route.split(' ') as [HTTPMethods, string];
      await expectError({ method, url, payload }, 400, 'validation_failed', [field]);
    }
    const empty = await expectError({ method: 'PATCH', url: `/v1/tokens/${s.tokenA}`, payload: {} }, 400, 'validation_failed', ['body']);
    expect(empty.message).toMatch(/fewer than 1|at least|properties/i);
  });

  it('refuses a leap-second timestamp with 400 naming the field instead of failing with 500', async () => {
    await expectError({ method: 'POST', url: '/v1/tokens', payload: { ...validToken(), accessExpiresAt: '2026-06-30T23:59:60Z' } }, 400, 'validation_failed', ['body/accessExpiresAt']);
    await expectError({ method: 'PATCH', url: `/v1/tokens/${s.tokenA}`, payload: { reviewDueAt: '2026-12-31T23:59:60Z' } }, 400, 'validation_failed', ['body/reviewDueAt']);
    const fine = await call({ method: 'POST', url: '/v1/tokens', payload: { ...validToken(), accessExpiresAt: '2099-06-30T23:59:59.5+02:00' } });
    expect(fine.statusCode).toBe(201);
    expect(fine.json().accessExpiresAt).toBe('2099-06-30T21:59:59.500Z');
  });

  it('refuses NUL characters in text with 400 validation_failed naming the field, on both databases', async () => {
    await expectError({ method: 'POST', url: '/v1/tokens', payload: { ...validToken(), owner: 'team\u0000x' } }, 400, 'validation_failed', ['body/owner', 'NUL']);
    await expectError({ method: 'POST', url: '/v1/tokens', payload: { ...validToken(), approver: { subject: 'a\u0000' } } }, 400, 'validation_failed', ['body/approver/subject']);
    await expectError({ method: 'POST', url: '/v1/tenants', payload: { name: 'acme\u0000' } }, 400, 'validation_failed', ['body/name']);
    await expectError({ method: 'PATCH', url: `/v1/tokens/${s.tokenA}`, payload: { purpose: '\u0000' } }, 400, 'validation_failed', ['body/purpose']);
    await expectError({ method: 'GET', url: '/v1/tokens?q=%00' }, 400, 'validation_failed', ['querystring/q']);
    await expectError({ method: 'GET', url: '/v1/tokens?owner=a%00b' }, 400, 'validation_failed', ['querystring/owner']);
    await expectError({ method: 'GET', url: '/v1/ledger?action=%00' }, 400, 'validation_failed', ['querystring/action']);
  });

  it('refuses text that is not well-formed (a lone surrogate, bytes that are not UTF-8) with 400 instead of storing it changed', async () => {
    const lone = await expectError({ method: 'PATCH', url: `/v1/tokens/${s.tokenA}`, headers: json, payload: '{"purpose": "a\\ud800b"}' }, 400, 'validation_failed', ['body/purpose', 'surrogate']);
    expect(lone.details).toEqual([{ path: 'body/purpose', message: expect.stringContaining('lone UTF-16 surrogate') }]);
    await expectError({ method: 'POST', url: '/v1/tenants', headers: json, payload: '{"name": "x\\udc00"}' }, 400, 'validation_failed', ['body/name']);
    const bytes = Buffer.concat([Buffer.from('{"purpose": "x'), Buffer.from([0xff, 0xfe]), Buffer.from('y"}')]);
    const r = await h.app.inject({ method: 'PATCH', url: `/v1/tokens/${s.tokenA}`, headers: { ...bearer(admin), ...json }, payload: bytes });
    expect(r.statusCode).toBe(400);
    expect(r.json().error).toMatchObject({ code: 'malformed_request', message: expect.stringContaining('not valid UTF-8') });
    // A character beyond the BMP (a surrogate pair) is text like any other.
    const fine = await call({ method: 'PATCH', url: `/v1/tokens/${s.tokenA}`, headers: json, payload: '{"purpose": "sync \\ud83d\\udd25 東京"}' });
    expect(fine.statusCode, fine.body).toBe(200);
    expect(fine.json().purpose).toBe('sync 🔥 東京');
  });

  it('refuses a body that names a key twice (JSON would keep the last and drop the other silently), changing nothing', async () => {
    const before = (await h.custody.tokens.get(h.admin, s.tokenA)).purpose;
    const dup = await expectError({ method: 'PATCH', url: `/v1/tokens/${s.tokenA}`, headers: json, payload: '{"purpose": "kept?", "purpose": "this one"}' }, 400, 'malformed_request', ['"purpose" twice', 'body']);
    expect(dup.details).toEqual([{ path: 'body', message: 'names the key "purpose" twice' }]);
    // Nested, and spelled with an escape.
    const nested = await expectError({ method: 'POST', url: '/v1/tokens', headers: json, payload: '{"tenantId": "x", "scopes": ["a"], "metadata": {"k": 1, "\\u006b": 2}}' }, 400, 'malformed_request', ['"k" twice']);
    expect(nested.details).toEqual([{ path: 'body/metadata', message: 'names the key "k" twice' }]);
    expect((await h.custody.tokens.get(h.admin, s.tokenA)).purpose).toBe(before);
  });

  it(`refuses a body over CUSTODY_BODY_LIMIT_BYTES (${BODY_LIMIT}) with 413 body_too_large, and accepts one just under it`, async () => {
    const big = { ...validToken(), accessToken: 'x'.repeat(BODY_LIMIT) };
    await expectError({ method: 'POST', url: '/v1/tokens', payload: big }, 413, 'body_too_large');
    await expectError({ method: 'PATCH', url: `/v1/tokens/${s.tokenA}`, payload: { purpose: 'p'.repeat(BODY_LIMIT * 4) } }, 413, 'body_too_large');
    const under = { ...validToken(), accessToken: 'x'.repeat(BODY_LIMIT - 400) };
    expect(JSON.stringify(under).length).toBeLessThan(BODY_LIMIT);
    expect((await call({ method: 'POST', url: '/v1/tokens', payload: under })).statusCode).toBe(201);
  });

  it('refuses malformed ids in paths with 400 invalid_id', async () => {
    const body = newId('token').slice(4);
    const bad = ['abc', `ten_${body}`, `tok_${body.toLowerCase()}`, `tok_${body.slice(1)}`, `tok_${body}X`, `tok_${body.slice(0, -1)}U`, 'tok_%2e%2e', 'tok_%2F..%2F', 'tok_%00', `${'x'.repeat(5000)}`];
    for (const id of bad) {
      await expectError({ method: 'GET', url: `/v1/tokens/${id}` }, 400, 'invalid_id');
      await expectError({ method: 'PATCH', url: `/v1/tokens/${id}`, payload: { owner: 'x' } }, 400, 'invalid_id');
      await expectError({ method: 'POST', url: `/v1/tokens/${id}/revoke`, payload: { reason: 'x' } }, 400, 'invalid_id');
    }
    // Longer than the router's parameter limit: still the coded shape, and the path is not echoed back.
    const long = await expectError({ method: 'GET', url: `/v1/tokens/tok_${'Z'.repeat(300)}` }, 400, 'invalid_id');
    expect(long.message).not.toContain('ZZZZZZZZZZ');
    await expectError({ method: 'GET', url: '/v1/tokens/tok_%E0%A4%A' }, 400, 'validation_failed', ['percent-encoding']);
    await expectError({ method: 'GET', url: `/v1/tenants/${s.tokenA}` }, 400, 'invalid_id');
    await expectError({ method: 'GET', url: `/v1/providers/${s.tenantA}` }, 400, 'invalid_id');
    await expectError({ method: 'DELETE', url: '/v1/api-keys/key_nope' }, 400, 'invalid_id');
  });

  it('answers a well-formed id that exists nowhere with 404 and the not-found code of its kind', async () => {
    await expectError({ method: 'GET', url: `/v1/tokens/${newId('token')}` }, 404, 'token_not_found');
    await expectError({ method: 'POST', url: `/v1/tokens/${newId('token')}/suspend`, payload: { reason: 'x' } }, 404, 'token_not_found');
    await expectError({ method: 'GET', url: `/v1/tenants/${newId('tenant')}` }, 404, 'tenant_not_found');
    await expectError({ method: 'GET', url: `/v1/providers/${newId('provider')}` }, 404, 'provider_not_found');
    await expectError({ method: 'DELETE', url: `/v1/api-keys/${newId('apiKey')}` }, 404, 'api_key_not_found');
  });

  it('refuses malformed ids in bodies with 400 validation_failed naming the field, and unknown ones with 404', async () => {
    await expectError({ method: 'POST', url: '/v1/tokens', payload: { ...validToken(), tenantId: 'acme' } }, 400, 'validation_failed', ['body/tenantId']);
    await expectError({ method: 'POST', url: '/v1/tokens', payload: { ...validToken(), providerId: s.tenantA } }, 400, 'validation_failed', ['body/providerId']);
    await expectError({ method: 'POST', url: '/v1/tokens/revoke', payload: { ids: [s.tokenA, 'tok_1'], reason: 'x' } }, 400, 'validation_failed', ['body/ids/1']);
    await expectError({ method: 'POST', url: '/v1/api-keys', payload: { role: 'tenant_admin', tenantId: 'x', name: 'k' } }, 400, 'validation_failed', ['body/tenantId']);
    await expectError({ method: 'POST', url: '/v1/tokens', payload: { ...validToken(), tenantId: newId('tenant') } }, 404, 'tenant_not_found');
    await expectError({ method: 'POST', url: '/v1/tokens', payload: { ...validToken(), providerId: newId('provider') } }, 404, 'provider_not_found');
    await expectError({ method: 'POST', url: '/v1/tokens/revoke', payload: { reason: 'no filter' } }, 400, 'filter_required');
  });

  it('refuses bad query parameters with 400 validation_failed naming the parameter', async () => {
    const cases: [string, string][] = [
      ['/v1/tokens?limit=0', 'querystring/limit'],
      ['/v1/tokens?limit=abc', 'querystring/limit'],
      ['/v1/tokens?limit=-1', 'querystring/limit'],
      ['/v1/tokens?limit=1.5', 'querystring/limit'],
      ['/v1/tokens?limit=1001', 'querystring/limit'],
      ['/v1/tokens?limit=1&limit=2', 'querystring/limit'],
      ['/v1/tokens?managed=maybe', 'querystring/managed'],
      ['/v1/tokens?managed=', 'querystring/managed'],
      ['/v1/tokens?state=zombie', 'querystring/state'],
      ['/v1/tokens?dormantDays=0', 'querystring/dormantDays'],
      ['/v1/tokens?dormantDays=ninety', 'querystring/dormantDays'],
      ['/v1/tokens?tenantId=acme', 'querystring/tenantId'],
      ['/v1/tokens?sort=owner', 'sort'],
      [`/v1/tokens?q=${'q'.repeat(201)}`, 'querystring/q'],
      ['/v1/ledger?limit=0', 'querystring/limit'],
      ['/v1/ledger?order=sideways', 'querystring/order'],
      ['/v1/ledger?cursor=abc', 'querystring/cursor'],
      ['/v1/ledger?tokenId=tok_1', 'querystring/tokenId'],
    ];
    for (const [url, name] of cases) await expectError({ method: 'GET', url }, 400, 'validation_failed', [name]);
  });

  it('refuses a cursor this server did not issue with 400 invalid_cursor, and follows one it did', async () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    for (const cursor of ['garbage', '!!!', b64({}), b64({ after: 'tok_1' }), b64({ after: 42 }), b64('tok'), b64(null), Buffer.from('not json').toString('base64url')]) {
      await expectError({ method: 'GET', url: `/v1/tokens?cursor=${encodeURIComponent(cursor)}` }, 400, 'invalid_cursor');
    }
    const first = await call({ method: 'GET', url: '/v1/tokens?limit=1' });
    const cursor = first.json().nextCursor as string;
    expect(cursor).toEqual(expect.any(String));
    const second = await call({ method: 'GET', url: `/v1/tokens?limit=1&cursor=${cursor}` });
    expect(second.statusCode).toBe(200);
    expect(second.json().items[0].id > first.json().items[0].id).toBe(true);
  });

  it('answers a malformed consent callback with 400 and a readable body, never a mangled "[object Object]"', async () => {
    for (const query of ['state=a&state=b', `error=${'x'.repeat(300)}`, 'iss=%00']) {
      const r = await h.app.inject({ method: 'GET', url: `/oauth/callback?${query}` });
      expect(r.statusCode, query).toBe(400);
      expect(r.body, query).not.toContain('[object Object]');
      if (String(r.headers['content-type']).startsWith('application/json')) expect(r.json().error.code, query).toBe('validation_failed');
    }
  });

  it('answers an unknown route or method with 404 not_found', async () => {
    await expectError({ method: 'GET', url: '/v1/nothing-here' }, 404, 'not_found', ['/v1/nothing-here']);
    await expectError({ method: 'PUT', url: '/v1/tokens' }, 404, 'not_found');
  });

  it('never answers 500 to several hundred random and mutated bodies and query strings (tokens, patch, tenants, providers, keys, bulk revoke, lists, consent)', async () => {
    const seed = Number(process.env.CUSTODY_FUZZ_SEED ?? Date.now() % 1_000_000);
    const rand = prng(seed);
    const strings = ['', ' ', 'x', '\u0000', '\ud800', '💥', '"', '\\', '%00', '../../etc/passwd', '<script>', "'; DROP TABLE tokens; --", 'x'.repeat(300), 'tok_', s.tokenB, s.tenantB, '2026-13-45T99:99:99Z', '2026-06-30T23:59:60Z', 'null', '__proto__'];
    const value = (depth = 0): unknown => {
      switch (rand.int(depth > 3 ? 6 : 9)) {
        case 0: return rand.pick(strings);
        case 1: return rand.pick([0, -1, 1.5, 1e308, -0, Number.MAX_SAFE_INTEGER + 2]);
        case 2: return rand.pick([true, false]);
        case 3: return null;
        case 4: return `${rand.pick(strings)}${rand.int(1000)}`;
        case 5: return new Date(rand.int(4_000_000_000_000)).toISOString();
        case 6: return Array.from({ length: rand.int(4) }, () => value(depth + 1));
        case 7: return Object.fromEntries(Array.from({ length: rand.int(4) }, () => [rand.pick(['subject', 'email', 'x', '__proto__', 'constructor', 'owner']), value(depth + 1)]));
        default: return rand.pick(strings);
      }
    };
    const tokenFields = ['tenantId', 'providerId', 'owner', 'subject', 'approver', 'purpose', 'reviewDueAt', 'workloads', 'scopes', 'accessToken', 'refreshToken', 'issuedAt', 'accessExpiresAt', 'refreshExpiresAt'];
    const mutate = (base: Record<string, unknown>): string => {
      const fields = [...new Set([...Object.keys(base), ...(base === tokenBase ? tokenFields : []), 'extra'])];
      const body: Record<string, unknown> = { ...base };
      for (let i = 0, n = 1 + rand.int(3); i < n; i++) {
        const f = rand.pick(fields);
        if (rand.next() < 0.25) delete body[f];
        else body[f] = value();
      }
      let text = rand.next() < 0.1 ? JSON.stringify(value()) ?? 'null' : JSON.stringify(body);
      if (rand.next() < 0.2) {
        // Byte-level damage: truncate, or splice in a random character.
        const at = rand.int(text.length + 1);
        text = rand.next() < 0.5 ? text.slice(0, at) : `${text.slice(0, at)}${rand.pick(['{', '}', '"', ',', ':', '\\', '\u0000', ']', 'é'])}${text.slice(at)}`;
      }
      return text;
    };
    const statuses = new Map<number, number>();
    const check = async (c: Call, i: number) => {
      const sent = `seed ${seed}, #${i}: ${c.method} ${c.url.slice(0, 200)} ${String(c.payload ?? '').slice(0, 200)}`;
      // A call that never ends (a request waiting on itself) fails here, naming its seed and body,
      // rather than as the whole test's timeout.
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within 10 s to ${sent}`)), 10_000);
      });
      const r = await Promise.race([call(c), stuck]).finally(() => clearTimeout(timer));
      statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
      const label = `${sent} → ${r.statusCode} ${r.body.slice(0, 200)}`;
      expect(r.statusCode, label).toBeLessThan(500);
      // The consent callback may answer a person with a page; anything else is a coded JSON error.
      const page = c.url.startsWith('/oauth/callback') && String(r.headers['content-type']).startsWith('text/html');
      if (r.statusCode >= 400 && !page) expect(typeof (JSON.parse(r.body) as { error?: { code?: unknown } }).error?.code, label).toBe('string');
    };
    const tokenBase = validToken();
    const targets: [HTTPMethods, string, Record<string, unknown>, number][] = [
      ['POST', '/v1/tokens', tokenBase, 200],
      ['PATCH', `/v1/tokens/${s.tokenA}`, { owner: 'team-x', purpose: 'p', workloads: ['w'], reviewDueAt: '2030-01-01T00:00:00Z' }, 120],
      ['POST', '/v1/tenants', { name: 'acme' }, 30],
      ['POST', '/v1/providers', { name: 'p', tokenEndpoint: 'https://issuer.example.com/token', clientId: 'c', apiBaseUrls: ['https://api.example.com'], scopeRules: [{ method: 'GET', pathPattern: '/x', scope: 's' }] }, 60],
      ['POST', '/v1/api-keys', { role: 'auditor', name: 'k' }, 30],
      ['POST', '/v1/tokens/revoke', { ids: [newId('token')], reason: 'r' }, 30],
      ['POST', `/v1/tokens/${s.tokenA}/suspend`, { reason: 'r' }, 20],
    ];
    let i = 0;
    for (const [method, url, base, count] of targets) {
      for (let n = 0; n < count; n++) await check({ method, url, payload: mutate(base), headers: json }, i++);
    }
    const params: Record<string, string[]> = {
      '/v1/tokens': ['tenantId', 'providerId', 'state', 'owner', 'managed', 'dormantDays', 'q', 'cursor', 'limit', 'x'],
      '/v1/ledger': ['tokenId', 'subjectId', 'tenantId', 'action', 'order', 'cursor', 'limit', 'x'],
      [`/v1/connect/${s.providerId}`]: ['tenantId', 'owner', 'purpose', 'scope', 'x'],
      '/oauth/callback': ['state', 'code', 'error', 'error_description', 'iss', 'x'],
    };
    for (const [path, names] of Object.entries(params)) {
      for (let n = 0; n < 60; n++) {
        // Lone surrogates cannot be percent-encoded; broken encodings are sent raw instead.
        const encode = (v: string) => (rand.next() < 0.1 ? rand.pick(['%E0%A4%A', '%', '%zz', '%00', '%C0%AF']) : encodeURIComponent(v.replace(/[\ud800-\udfff]/g, '\ufffd')));
        const query = Array.from({ length: 1 + rand.int(3) }, () => `${rand.pick(names)}=${encode(String(value()))}`).join('&');
        await check({ method: 'GET', url: `${path}?${query}` }, i++);
      }
    }
    // Both outcomes occurred: the fuzz got past the schema at times, and was refused at others.
    expect([...statuses.keys()].some((k) => k < 300)).toBe(true);
    expect([...statuses.keys()].some((k) => k >= 400)).toBe(true);
    expect(h.logs.join('')).not.toContain('unhandled error');
  });
});
