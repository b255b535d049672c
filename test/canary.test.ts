import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';

/** The methods inject takes (light-my-request's list, which Fastify's own type does not match exactly). */
type HTTPMethods = NonNullable<InjectOptions['method']>;
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from './support/databases.ts';
import { bearer, CANARY_PREFIX, keyFor, startHarness, type Harness } from './support/harness.ts';

/**
 * DESIGN §7: secrets never appear in logs, errors, API responses, exports or the database in clear.
 * A canary is registered as a token's access and refresh token and as a provider's client secret,
 * driven through every route, and then searched for — plain, hex and base64 at every alignment.
 */

const CANARY = `${CANARY_PREFIX}${randomBytes(12).toString('hex')}`;
const ACCESS = `${CANARY}-access`;
const REFRESH = `${CANARY}-refresh`;
const CLIENT_SECRET = `${CANARY}-client`;

/**
 * What the canary looks like in any encoding we would worry about. A base64 encoding of a larger
 * buffer contains one of three encodings of the canary, depending on its offset modulo 3.
 */
function needles(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const out = new Set([secret, bytes.toString('hex'), bytes.toString('hex').toUpperCase()]);
  for (let shift = 0; shift < 3; shift++) {
    const rest = bytes.subarray(shift);
    const full = Math.floor(rest.length / 3) * 3;
    const b64 = rest.subarray(0, full).toString('base64');
    out.add(b64);
    out.add(rest.subarray(0, full).toString('base64url'));
  }
  return [...out];
}
const NEEDLES = needles(CANARY);

function leaks(haystack: string | Buffer): string[] {
  const text = typeof haystack === 'string' ? haystack : haystack.toString('latin1');
  return NEEDLES.filter((n) => text.includes(n));
}

interface Exchange {
  what: string;
  res: LightMyRequestResponse;
}

function responseText(res: LightMyRequestResponse): string {
  return `${JSON.stringify(res.headers)}\n${res.body}`;
}

describeEachDatabase('canary secret', (kind) => {
  let h: Harness;
  let admin: string;
  let tokenId: string;
  let providerId: string;
  /** The secret halves of API keys: shown once at creation, then only ever compared as a hash. */
  let keySecrets: string[];
  let keyCreation: LightMyRequestResponse;
  const exchanges: Exchange[] = [];
  const badRequests: Exchange[] = [];
  /** Calls that make Custody use the secrets: the gateway attaches the access token, refresh sends the refresh token and client secret. */
  const useCalls: Exchange[] = [];
  /** What the loopback issuer/API received: proof the secrets were really used. */
  const received: string[] = [];
  let upstream: http.Server;

  const send = async (list: Exchange[], what: string, method: HTTPMethods, url: string, payload?: unknown, headers: Record<string, string> = {}) => {
    const res = await h.app.inject({ method, url, headers: { ...bearer(admin), ...headers }, ...(payload === undefined ? {} : { payload: payload as string }) });
    list.push({ what: `${what}: ${method} ${url}`, res });
    return res;
  };
  const api = (method: HTTPMethods, url: string, payload?: unknown) => send(exchanges, 'api', method, url, payload);

  beforeAll(async () => {
    // A loopback issuer and API: the token endpoint refuses the client, the API answers 200.
    upstream = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push(`${req.method} ${req.url}\n${JSON.stringify(req.headers)}\n${body}`);
        const isToken = req.url === '/token';
        res.writeHead(isToken ? 400 : 200, { 'content-type': 'application/json' });
        res.end(isToken ? '{"error":"invalid_client","error_description":"client authentication failed"}' : '{"ok":true}');
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    h = await startHarness(kind, { env: { CUSTODY_BODY_LIMIT_BYTES: String(64 * 1024) } });
    admin = await keyFor(h, 'admin');
    const tenantId = (await api('POST', '/v1/tenants', { name: `acme-${randomBytes(3).toString('hex')}` })).json().id;
    const provider = await api('POST', '/v1/providers', {
      name: `issuer-${randomBytes(3).toString('hex')}`,
      tokenEndpoint: `${base}/token`,
      clientId: 'custody-client',
      clientSecret: CLIENT_SECRET,
      apiBaseUrls: [`${base}/api`],
      development: true,
      allowPrivateNetwork: true,
      unmappedCalls: 'allow',
    });
    expect(provider.statusCode).toBe(201);
    providerId = provider.json().id;
    const body = {
      tenantId,
      providerId,
      owner: 'team-integrations',
      approver: { subject: 'alice', email: 'alice@customer.example' },
      purpose: 'sync invoices',
      workloads: ['billing-sync'],
      scopes: ['invoices.read'],
      accessToken: ACCESS,
      refreshToken: REFRESH,
    };
    const registered = await api('POST', '/v1/tokens', body);
    expect(registered.statusCode).toBe(201);
    tokenId = registered.json().id;
    const second = (await api('POST', '/v1/tokens', { ...body, accessToken: `${ACCESS}-2`, refreshToken: `${REFRESH}-2` })).json().id;

    const use = (method: HTTPMethods, url: string, payload?: unknown, headers: Record<string, string> = {}) => send(useCalls, 'use', method, url, payload, headers);
    const workload = await keyFor(h, 'workload', tenantId, 'billing-sync');
    expect((await use('GET', `/gw/${tokenId}/invoices?page=1`, undefined, bearer(workload))).statusCode).toBe(200);
    await use('POST', `/v1/tokens/${second}/refresh`, {});

    await api('GET', `/v1/tokens/${tokenId}`);
    await api('GET', '/v1/tokens?limit=1000');
    await api('GET', `/v1/tokens?tenantId=${tenantId}&managed=false`);
    await api('PATCH', `/v1/tokens/${tokenId}`, { owner: 'team-payments', purpose: 'sync payments', workloads: ['billing-sync', 'reports'] });
    await api('POST', `/v1/tokens/${tokenId}/suspend`, { reason: 'investigation' });
    await api('POST', `/v1/tokens/${tokenId}/resume`, { reason: 'cleared' });
    await api('POST', `/v1/tokens/${tokenId}/revoke`, { reason: 'offboarded' });
    await api('POST', '/v1/tokens/revoke', { ids: [second], reason: 'bulk' });
    await api('GET', '/v1/tokens?state=revoked');
    await api('GET', '/v1/ledger?limit=1000');
    await api('GET', `/v1/ledger?tokenId=${tokenId}&order=asc`);
    await api('GET', '/v1/ledger/verify');
    await api('GET', '/v1/providers');
    await api('GET', `/v1/providers/${providerId}`);
    await api('GET', '/v1/tenants');
    keyCreation = await h.app.inject({ method: 'POST', url: '/v1/api-keys', headers: bearer(admin), payload: { role: 'security', name: 'canary-key' } });
    const securityKey = keyCreation.json().key as string;
    expect((await h.app.inject({ method: 'GET', url: '/v1/tokens', headers: bearer(securityKey) })).statusCode).toBe(200);
    // The secret is everything after `cus_<26-char id>_`; it may itself contain '_'.
    keySecrets = [admin, securityKey].map((k) => /^cus_[0-9A-Z]{26}_(.+)$/.exec(k)![1]!);
    await api('GET', '/v1/api-keys');
    await api('GET', '/openapi.json');
    await api('GET', '/docs');
    await api('GET', '/metrics');
    await api('GET', '/healthz');

    // Bad requests that carry the canary: the error must say what is wrong without repeating it.
    const bad = (what: string, method: HTTPMethods, url: string, payload: unknown, headers: Record<string, string> = {}) => send(badRequests, what, method, url, payload, headers);
    const json = { 'content-type': 'application/json' };
    await bad('truncated JSON', 'POST', '/v1/tokens', `{"accessToken": "${ACCESS}", "scopes": [`, json);
    await bad('unquoted secret in JSON', 'POST', '/v1/tokens', `{"accessToken": ${ACCESS}}`, json);
    await bad('secret as an unknown field\'s value', 'POST', '/v1/tokens', { ...body, extra: ACCESS });
    await bad('secret beside a wrong type', 'POST', '/v1/tokens', { ...body, scopes: 'invoices.read' });
    await bad('secret too long', 'POST', '/v1/tokens', { ...body, accessToken: ACCESS.repeat(Math.ceil(16400 / ACCESS.length)) });
    await bad('secret as a refresh token of the wrong type', 'POST', '/v1/tokens', { ...body, refreshToken: [REFRESH] });
    await bad('secret in the owner, with a NUL', 'POST', '/v1/tokens', { ...body, owner: `${ACCESS}\u0000` });
    await bad('secret as an email', 'POST', '/v1/tokens', { ...body, approver: { subject: 'alice', email: ACCESS } });
    await bad('secret as a tenant id', 'POST', '/v1/tokens', { ...body, tenantId: ACCESS });
    await bad('secret as a workload name', 'POST', '/v1/tokens', { ...body, workloads: [`${ACCESS} x`] });
    await bad('secret as a timestamp', 'POST', '/v1/tokens', { ...body, accessExpiresAt: ACCESS });
    await bad('secret in an oversize body', 'POST', '/v1/tokens', { ...body, purpose: ACCESS.repeat(3000) });
    await bad('secret with the wrong content type', 'POST', '/v1/tokens', JSON.stringify(body), { 'content-type': 'text/plain' });
    await bad('secret in a PATCH', 'PATCH', `/v1/tokens/${tokenId}`, { accessToken: ACCESS });
    await bad('secret in a reason that is too long', 'POST', `/v1/tokens/${tokenId}/suspend`, { reason: ACCESS.repeat(20) });
    await bad('secret as a bulk-revoke id', 'POST', '/v1/tokens/revoke', { ids: [ACCESS], reason: 'x' });
    await bad('client secret with a bad URL', 'POST', '/v1/providers', { name: 'p', tokenEndpoint: 'http://issuer.example.com', clientId: 'c', clientSecret: CLIENT_SECRET, apiBaseUrls: ['ftp://x'] });
    await bad('client secret of the wrong type', 'POST', '/v1/providers', { name: 'p', tokenEndpoint: 'https://issuer.example.com', clientId: 'c', clientSecret: { value: CLIENT_SECRET }, apiBaseUrls: ['https://x'] });
    await bad('secret without a key', 'POST', '/v1/tokens', body, { authorization: `Bearer ${ACCESS}` });
  });
  afterAll(async () => {
    await h.close();
    await new Promise((r) => upstream.close(r));
  });

  it('stores the canary so that the vault gives it back (the searches below are not vacuous)', async () => {
    const row = await h.custody.storage.db.selectFrom('tokens').select(['tenant_id', 'access_token_enc', 'refresh_token_enc']).where('id', '=', tokenId).executeTakeFirstOrThrow();
    const key = await h.custody.vault.loadDataKey(h.custody.storage.db, row.tenant_id, tokenId);
    expect(h.custody.vault.decrypt(key, 'access_token', row.access_token_enc).reveal()).toBe(ACCESS);
    expect(h.custody.vault.decrypt(key, 'refresh_token', row.refresh_token_enc!).reveal()).toBe(REFRESH);
    expect((await h.custody.providers.clientSecret(providerId))?.reveal()).toBe(CLIENT_SECRET);
    expect(leaks(`x${ACCESS}x`)).toContain(CANARY);
    expect(leaks(Buffer.from(`xy${ACCESS}`).toString('base64')).length).toBeGreaterThan(0);
  });

  it('never returns the canary, or an API key after its creation, in any API response (register, get, list, patch, transitions, ledger, openapi, docs, metrics)', () => {
    expect(exchanges.length).toBeGreaterThanOrEqual(24);
    for (const { what, res } of exchanges) {
      for (const secret of keySecrets) expect(responseText(res), `${what} returned an API key`).not.toContain(secret);
      expect(res.statusCode, `${what} → ${res.body.slice(0, 300)}`).toBeLessThan(300);
      expect(leaks(responseText(res)), what).toEqual([]);
    }
  });

  it('uses the secrets (gateway call, refresh at the issuer) without returning or logging them', () => {
    const sent = received.join('\n');
    expect(sent).toContain(`Bearer ${ACCESS}`);
    expect(sent).toContain(REFRESH);
    const basic = [...sent.matchAll(/Basic ([A-Za-z0-9+/=]+)/g)].map((m) => decodeURIComponent(Buffer.from(m[1]!, 'base64').toString('utf8')));
    expect(basic.includes(`custody-client:${CLIENT_SECRET}`) || sent.includes(`client_secret=${CLIENT_SECRET}`)).toBe(true);
    expect(useCalls).toHaveLength(2);
    for (const { what, res } of useCalls) {
      expect(res.statusCode, `${what} → ${res.body.slice(0, 300)}`).not.toBe(500);
      expect(leaks(responseText(res)), what).toEqual([]);
    }
  });

  it('answers every bad request that carries the canary with a coded 4xx that does not echo it', () => {
    expect(badRequests.length).toBeGreaterThanOrEqual(15);
    for (const { what, res } of badRequests) {
      expect(res.statusCode, `${what} → ${res.body.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, what).toBeLessThan(500);
      expect(typeof res.json().error.code, what).toBe('string');
      expect(leaks(responseText(res)), what).toEqual([]);
    }
  });

  it('never writes the canary, or an API key, to a log line', () => {
    const text = h.logs.join('');
    expect(text).toContain('incoming request');
    expect(text).toContain(tokenId);
    expect(leaks(text)).toEqual([]);
    for (const secret of keySecrets) expect(text).not.toContain(secret);
  });

  it('never stores the canary in clear or base64, or an API key\'s secret, in the database', async () => {
    let dump: string;
    if (h.db.kind === 'sqlite') {
      const files = [h.db.file!, `${h.db.file}-wal`, `${h.db.file}-shm`].filter((f) => fs.existsSync(f));
      expect(files.length).toBeGreaterThanOrEqual(2);
      dump = files.map((f) => fs.readFileSync(f).toString('latin1')).join('\n');
    } else {
      const client = new pg.Client({ connectionString: h.db.url });
      await client.connect();
      try {
        const tables = await client.query<{ name: string }>(
          `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
        );
        expect(tables.rows.map((t) => t.name)).toEqual(expect.arrayContaining(['tokens', 'providers', 'ledger_entries', 'data_keys']));
        const parts: string[] = [];
        for (const { name } of tables.rows) {
          const rows = await client.query<{ row: string }>(`SELECT t::text AS row FROM "${name.replaceAll('"', '""')}" t`);
          parts.push(...rows.rows.map((r) => r.row));
        }
        dump = parts.join('\n');
      } finally {
        await client.end();
      }
    }
    expect(dump).toContain(tokenId);
    expect(leaks(dump)).toEqual([]);
    // API keys are stored as hashes: the secret half is nowhere in the database.
    for (const secret of keySecrets) expect(dump).not.toContain(secret);
    expect(keyCreation.json().key).toContain(keySecrets[1]);
  });
});
