import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSsrfGuard } from '../gateway/ssrf-guard.ts';
import { fixedClock } from '../shared/clock.ts';
import { Secret } from '../shared/secret.ts';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { runCli } from '../../test/support/cli.ts';
import { bearer, keyFor, startHarness, type Harness } from '../../test/support/harness.ts';
import { EVENT } from './ssf.events.ts';
import { createSsfPush } from './ssf.push.ts';
import { createSsfKeys } from './ssf.signer.ts';
import { checkEndpoint } from './stream.service.ts';

/**
 * The SSF transmitter end to end, on a fixed clock and both databases: a customer's administrator
 * registers a loopback receiver, a token of theirs is revoked and another suspended, and the
 * receiver gets SETs that verify against the keys Custody publishes (found through its own
 * /.well-known/ssf-configuration), with the right events and subjects; another tenant's stream
 * gets nothing; a receiver that is down sees the same SET again after the backoff, and one that
 * stays down is given up with an alert; paused streams hold, disabled ones drop.
 */
const PUBLIC_URL = 'https://custody.example.com';
const NOW = new Date('2026-12-01T10:00:00.000Z');

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

describe('where a stream may push', () => {
  it('refuses in production every localhost name and loopback address, and everywhere port 0 and credentials (the webhooks’ rule)', () => {
    expect(checkEndpoint('https://receiver.example.com/ssf?key=1', true).host).toBe('receiver.example.com');
    expect(checkEndpoint('http://localhost:8080/ssf', false).port).toBe('8080');
    for (const url of ['https://localhost/', 'https://localhost./', 'https://foo.localhost/', 'https://FOO.LocalHost./x', 'https://127.0.0.1/', 'https://[::1]/', 'http://receiver.example.com/']) {
      expect(() => checkEndpoint(url, true), url).toThrow(/endpoint_url is not allowed/);
    }
    for (const url of ['https://receiver.example.com:0/', 'http://127.0.0.1:0/', 'https://u:p@receiver.example.com/', 'https://user@receiver.example.com/', 'https://receiver.example.com/#f']) {
      expect(() => checkEndpoint(url, false), url).toThrow(/endpoint_url is not allowed/);
    }
  });
});

describeEachDatabase('SSF transmitter streams', (kind) => {
  const clock = fixedClock(NOW);
  let h: Harness;
  let receiver: http.Server;
  let base: string;
  const received: Received[] = [];
  /** What the receiver answers: 202 normally; a test sets 503 to play a receiver that is down. */
  let answer = 202;
  let tenantA: string;
  let tenantB: string;
  let providerId: string;
  let adminA: string;
  let adminB: string;
  let streamA: string;
  let streamB: string;

  beforeAll(async () => {
    receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        if (req.url === '/.well-known/openid-configuration') {
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end(JSON.stringify({ issuer: base, token_endpoint: `${base}/token`, authorization_endpoint: `${base}/authorize` }));
        }
        received.push({ path: req.url ?? '', headers: req.headers, body });
        res.writeHead(answer, { 'content-type': 'application/json' });
        res.end(answer === 202 ? '' : JSON.stringify({ err: 'temporarily_unavailable', description: 'try later' }));
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    h = await startHarness(kind, { clock, env: { CUSTODY_PUBLIC_URL: PUBLIC_URL }, oauth: { requestTimeoutMs: 2_000, outbox: { baseDelayMs: 1_000, maxDelayMs: 1_000, giveUpAfterMs: 10 * 60_000 } } });
    tenantA = (await h.custody.tenants.create(h.admin, { name: `acme-${randomBytes(3).toString('hex')}` })).id;
    tenantB = (await h.custody.tenants.create(h.admin, { name: `globex-${randomBytes(3).toString('hex')}` })).id;
    // The issuer at the receiver's host (discovery only): its tokens carry iss_sub subjects.
    providerId = (await h.custody.providers.create(h.admin, { name: 'issuer', issuer: base, development: true, clientId: 'c', apiBaseUrls: ['https://api.example.com/'] })).id;
    adminA = await keyFor(h, 'tenant_admin', tenantA);
    adminB = await keyFor(h, 'tenant_admin', tenantB);
  });
  afterAll(async () => {
    await h?.close();
    await new Promise((resolve) => receiver?.close(resolve));
  });

  const token = async (tenantId: string, account: string) =>
    (
      await h.custody.tokens.register(h.admin, {
        tenantId,
        providerId,
        owner: 'team-integrations',
        subject: account,
        purpose: 'sync invoices',
        workloads: [],
        scopes: ['api:read'],
        accessToken: new Secret(`at-${randomBytes(6).toString('hex')}`),
      })
    ).id;
  const inject = (method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, key?: string, payload?: unknown) =>
    h.app.inject({ method, url, headers: key ? bearer(key) : {}, ...(payload === undefined ? {} : { payload: payload as object }) });
  const lifecycle = (id: string, action: 'revoke' | 'suspend', key: string) => inject('POST', `/v1/tokens/${id}/${action}`, key, { reason: `${action} for the test` });
  const stream = async (id: string, key: string) => (await inject('GET', `/v1/ssf/streams?stream_id=${id}`, key)).json();
  const deliver = async () => {
    await h.custody.outbox.runOnce();
  };
  /** Custody's own published keys, found as a receiver finds them. */
  const publishedKeys = async () => {
    const config = (await inject('GET', '/.well-known/ssf-configuration')).json() as { jwks_uri: string };
    const jwks = (await inject('GET', new URL(config.jwks_uri).pathname)).json() as JSONWebKeySet;
    return createLocalJWKSet(jwks);
  };
  const verify = async (r: Received, audience: string): Promise<JWTPayload> =>
    (await jwtVerify(r.body, await publishedKeys(), { issuer: PUBLIC_URL, audience, typ: 'secevent+jwt', currentDate: clock.now() })).payload;

  it('publishes its configuration and keys on public routes, which write nothing', async () => {
    const config = await inject('GET', '/.well-known/ssf-configuration');
    expect(config.statusCode).toBe(200);
    expect(config.json()).toMatchObject({
      spec_version: '1_0',
      issuer: PUBLIC_URL,
      jwks_uri: `${PUBLIC_URL}/ssf/jwks.json`,
      delivery_methods_supported: ['urn:ietf:rfc:8935'],
      configuration_endpoint: `${PUBLIC_URL}/v1/ssf/streams`,
      status_endpoint: `${PUBLIC_URL}/v1/ssf/streams/status`,
      verification_endpoint: `${PUBLIC_URL}/v1/ssf/streams/verify`,
    });
    // No stream yet: no key was made, and reading the JWKS did not make one.
    expect((await inject('GET', '/ssf/jwks.json')).json()).toEqual({ keys: [] });
    expect((await inject('GET', '/ssf/jwks.json')).json()).toEqual({ keys: [] });
  });

  it('lets a tenant administrator register a push receiver, the Authorization value kept out of every answer', async () => {
    const created = await inject('POST', '/v1/ssf/streams', adminA, {
      delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: `${base}/a`, authorization_header: 'Bearer rcv-secret-A' },
      events_requested: [EVENT.sessionRevoked, EVENT.credentialChange, 'https://example.com/unknown-event'],
      description: 'our IdP',
    });
    expect(created.statusCode).toBe(201);
    const body = created.json();
    streamA = body.stream_id;
    expect(body).toMatchObject({ iss: PUBLIC_URL, aud: `${base}/a`, tenant_id: tenantA, status: 'enabled', authorization_header_set: true, events_delivered: [EVENT.sessionRevoked, EVENT.credentialChange] });
    expect(created.body).not.toContain('rcv-secret-A');
    streamB = (await inject('POST', '/v1/ssf/streams', adminB, { delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: `${base}/b` } })).json().stream_id;
    // The key exists now, and is published.
    const jwks = (await inject('GET', '/ssf/jwks.json')).json();
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(jwks.keys[0].d).toBeUndefined();
    const ledger = await h.custody.ledger.list({ subjectId: streamA, order: 'asc', limit: 10 });
    expect(ledger.map((e) => e.action)).toEqual(['ssf.stream_created']);
    expect(JSON.stringify(ledger)).not.toContain('rcv-secret-A');
  });

  it('never ledgers an endpoint’s query: the default aud is the endpoint without it', async () => {
    const created = await inject('POST', '/v1/ssf/streams', adminA, { delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: `${base}/q?key=SECRET-QUERY` } });
    expect(created.statusCode).toBe(201);
    const s = created.json() as { stream_id: string; aud: string; delivery: { endpoint_url: string } };
    expect([s.aud, s.delivery.endpoint_url]).toEqual([`${base}/q`, `${base}/q?key=SECRET-QUERY`]);
    // A receiver's own aud keeps what it gave in the stream, and loses its query in the ledger.
    expect((await inject('PATCH', '/v1/ssf/streams', adminA, { stream_id: s.stream_id, aud: 'https://recv.example.com/aud?token=SECRET-AUD#frag' })).json()).toMatchObject({ aud: 'https://recv.example.com/aud?token=SECRET-AUD#frag' });
    expect((await inject('PUT', '/v1/ssf/streams', adminA, { stream_id: s.stream_id, delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: `${base}/q2?key=SECRET-QUERY` }, events_requested: [EVENT.sessionRevoked] })).json()).toMatchObject({ aud: `${base}/q2` });
    const other = (await inject('POST', '/v1/ssf/streams', adminA, { delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: `${base}/r` }, aud: 'https://u:pw@recv.example.com/x?k=SECRET-AUD' })).json() as { stream_id: string };
    const ledger = [...(await h.custody.ledger.list({ subjectId: s.stream_id, order: 'asc', limit: 10 })), ...(await h.custody.ledger.list({ subjectId: other.stream_id, order: 'asc', limit: 10 }))];
    expect(ledger.find((e) => e.action === 'ssf.stream_created' && e.subjectId === s.stream_id)?.data).toMatchObject({ endpoint: `${base}/q`, aud: `${base}/q`, audDefaulted: true });
    expect(ledger.find((e) => e.action === 'ssf.stream_created' && e.subjectId === other.stream_id)?.data).toMatchObject({ aud: 'https://recv.example.com/x', audDefaulted: false });
    expect(JSON.stringify(ledger)).not.toMatch(/SECRET|pw@/);
    for (const id of [s.stream_id, other.stream_id]) expect((await inject('DELETE', `/v1/ssf/streams?stream_id=${id}`, adminA)).statusCode).toBe(204);
  });

  it('gives each push one deadline: a receiver that trickles its answer holds it no longer, and a 2xx is taken at its status', async () => {
    const trickler = http.createServer((req, res) => {
      req.resume();
      res.writeHead(req.url === '/t202' ? 202 : 503, { 'content-type': 'application/json' });
      res.write('{');
      const t = setInterval(() => res.write(' '), 50);
      res.on('close', () => clearInterval(t));
    });
    await new Promise<void>((resolve) => trickler.listen(0, '127.0.0.1', resolve));
    const at = `http://127.0.0.1:${(trickler.address() as AddressInfo).port}`;
    const guard = createSsrfGuard({ connectTimeoutMs: 300 });
    const c = h.custody;
    const { handler } = createSsfPush({ storage: c.storage, repo: c.streams.repo, vault: c.vault, keys: createSsfKeys({ vault: c.vault, db: c.storage.db, clock }), ledger: c.ledger, alerts: c.alerts, tokens: c.tokens, providers: c.providers, clock, guard, publicUrl: PUBLIC_URL, production: false, requestTimeoutMs: 300 });
    const id = ((await inject('POST', '/v1/ssf/streams', adminB, { delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: `${at}/t503` } })).json() as { stream_id: string }).stream_id;
    const job = (jti: string) => ({ id: `job_${jti}`, kind: 'ssf_push' as const, subjectId: jti, tenantId: tenantB, attempts: 1, createdAt: NOW.toISOString(), payload: { providerId: id, streamId: id, event: 'verification', jti, txn: jti, at: NOW.toISOString() } });
    try {
      expect(await handler.deliver(job('j1'))).toMatchObject({ kind: 'retry', error: 'receiver answered 503' });
      await inject('PATCH', '/v1/ssf/streams', adminB, { stream_id: id, delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: `${at}/t202` } });
      expect(await handler.deliver(job('j2'))).toMatchObject({ kind: 'done' });
    } finally {
      await inject('DELETE', `/v1/ssf/streams?stream_id=${id}`, adminB);
      await guard.close();
      trickler.closeAllConnections();
      await new Promise((resolve) => trickler.close(resolve));
    }
  });

  it('refuses bad streams with coded answers, and hides another tenant’s stream', async () => {
    const post = (key: string, payload: unknown) => inject('POST', '/v1/ssf/streams', key, payload);
    const code = async (p: Promise<{ statusCode: number; json(): { error: { code: string } } }>) => {
      const r = await p;
      return [r.statusCode, r.json().error.code];
    };
    expect(await code(post(adminA, { delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: 'http://receiver.example.com/ssf' } }))).toEqual([400, 'ssf_endpoint_refused']);
    expect(await code(post(adminA, { delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: 'https://169.254.169.254/latest' } }))).toEqual([400, 'ssf_endpoint_refused']);
    expect(await code(post(adminA, { delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: 'https://user:pw@receiver.example.com/' } }))).toEqual([400, 'ssf_endpoint_refused']);
    expect(await code(post(adminA, { delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: 'https://receiver.example.com:0/' } }))).toEqual([400, 'ssf_endpoint_refused']);
    expect(await code(post(adminA, { delivery: { method: 'urn:ietf:rfc:8936', endpoint_url: 'https://receiver.example.com/' } }))).toEqual([400, 'ssf_delivery_unsupported']);
    // An Authorization value is sent as a header: a line break in it would fail every push (or split the request).
    for (const bad of ['Bearer a\r\nX-Injected: 1', 'Bearer a\nb', 'Bearer \u0000', 'Bearer \u007f']) {
      expect(await code(post(adminA, { delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: `${base}/x`, authorization_header: bad } }))).toEqual([400, 'validation_failed']);
    }
    expect(await code(inject('PATCH', '/v1/ssf/streams', adminA, { stream_id: streamA, delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: `${base}/a`, authorization_header: 'Bearer x\r\n' } }))).toEqual([400, 'validation_failed']);
    expect(await code(post(await keyFor(h, 'security'), { delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: 'https://receiver.example.com/' } }))).toEqual([400, 'tenant_required']);
    expect(await code(post(adminA, { delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: 'https://receiver.example.com/' }, tenant_id: tenantB }))).toEqual([404, 'tenant_not_found']);
    expect(await code(inject('GET', `/v1/ssf/streams?stream_id=${streamB}`, adminA))).toEqual([404, 'ssf_stream_not_found']);
    expect(await code(inject('PATCH', '/v1/ssf/streams', adminA, { stream_id: streamB, description: 'mine now' }))).toEqual([404, 'ssf_stream_not_found']);
    expect(await code(inject('DELETE', `/v1/ssf/streams?stream_id=${streamB}`, adminA))).toEqual([404, 'ssf_stream_not_found']);
    expect(await code(inject('GET', '/v1/ssf/streams'))).toEqual([401, 'unauthenticated']);
    const listed = (await inject('GET', '/v1/ssf/streams', adminA)).json() as { stream_id: string }[];
    expect(listed.map((s) => s.stream_id)).toEqual([streamA]);
  });

  it('pushes CAEP session-revoked on revoke and credential-change on suspend, verifiable with the published keys; the other tenant gets nothing', async () => {
    const revoked = await token(tenantA, 'acct-1');
    const suspended = await token(tenantA, 'acct-2');
    received.length = 0;
    expect((await lifecycle(revoked, 'revoke', adminA)).statusCode).toBe(200);
    expect((await lifecycle(suspended, 'suspend', adminA)).statusCode).toBe(200);
    await deliver();
    expect(received.map((r) => r.path).sort()).toEqual(['/a', '/a']);
    for (const r of received) {
      expect(r.headers['content-type']).toBe('application/secevent+jwt');
      expect(r.headers.accept).toBe('application/json');
      expect(r.headers.authorization).toBe('Bearer rcv-secret-A');
      expect(decodeProtectedHeader(r.body)).toMatchObject({ alg: 'ES256', typ: 'secevent+jwt' });
    }
    const sets = await Promise.all(received.map((r) => verify(r, `${base}/a`)));
    const byEvent = new Map(sets.map((s) => [Object.keys(s.events as object)[0]!, s]));
    const revokedSet = byEvent.get(EVENT.sessionRevoked)!;
    const revokedEvent = (revokedSet.events as Record<string, Record<string, unknown>>)[EVENT.sessionRevoked]!;
    const subject = { format: 'complex', session: { format: 'opaque', id: revoked }, user: { format: 'iss_sub', iss: base, sub: 'acct-1' }, tenant: { format: 'opaque', id: tenantA } };
    expect(revokedEvent).toMatchObject({ subject, event_timestamp: NOW.getTime() / 1000, initiating_entity: 'admin', reason_admin: { en: 'revoke for the test' } });
    expect(revokedSet.sub_id).toEqual(subject);
    expect(revokedSet.txn).toContain(revoked);
    expect(revokedSet.jti).toEqual(expect.any(String));
    const changeEvent = (byEvent.get(EVENT.credentialChange)!.events as Record<string, Record<string, unknown>>)[EVENT.credentialChange]!;
    expect(changeEvent).toMatchObject({ change_type: 'update', credential_type: 'app', subject: { session: { id: suspended }, user: { sub: 'acct-2' } } });
    // Tenant B's own token changes go to B alone.
    received.length = 0;
    const other = await token(tenantB, 'acct-b');
    await lifecycle(other, 'revoke', adminB);
    await deliver();
    expect(received.map((r) => r.path)).toEqual(['/b']);
    expect((await verify(received[0]!, `${base}/b`)).events).toHaveProperty([EVENT.sessionRevoked]);
    expect(await stream(streamA, adminA)).toMatchObject({ delivered_events: 2, pending_events: 0, dropped_events: 0 });
  });

  it('retries the same SET while the receiver is down, and gives up with an alert when it stays down', async () => {
    const tok = await token(tenantA, 'acct-3');
    received.length = 0;
    answer = 503;
    await lifecycle(tok, 'revoke', adminA);
    await deliver();
    expect(received).toHaveLength(1);
    expect(await stream(streamA, adminA)).toMatchObject({ pending_events: 1, last_error: 'receiver answered 503: temporarily_unavailable (try later)' });
    // Nothing is retried before its backoff has passed; after it, the same SET (same jti) again.
    await deliver();
    expect(received).toHaveLength(1);
    clock.advance(2_000);
    await deliver();
    expect(received).toHaveLength(2);
    answer = 202;
    clock.advance(2_000);
    await deliver();
    expect(received).toHaveLength(3);
    const jtis = received.map((r) => JSON.parse(Buffer.from(r.body.split('.')[1]!, 'base64url').toString()).jti as string);
    expect(new Set(jtis).size).toBe(1);
    expect((await verify(received[2]!, `${base}/a`)).jti).toBe(jtis[0]);
    expect(await stream(streamA, adminA)).toMatchObject({ pending_events: 0, last_error: null });

    // Down for longer than the give-up window: the SET is dropped, ledgered and alerted.
    const lost = await token(tenantA, 'acct-4');
    answer = 503;
    await lifecycle(lost, 'revoke', adminA);
    await deliver();
    clock.advance(11 * 60_000);
    await deliver();
    answer = 202;
    const given = (await h.custody.ledger.list({ subjectId: streamA, action: 'ssf.push_given_up', order: 'asc', limit: 10 }))[0];
    expect(given?.data).toMatchObject({ event: 'session-revoked', tokenId: lost, held: false });
    const alerts = await h.custody.storage.db.selectFrom('alerts').selectAll().where('subject_id', '=', streamA).execute();
    expect(alerts.map((a) => [a.kind, a.severity])).toEqual([['ssf_push_undelivered', 'high']]);
    expect(await stream(streamA, adminA)).toMatchObject({ pending_events: 0, dropped_events: 1 });
  });

  it('holds events while paused and sends them once enabled; a disabled stream holds nothing', async () => {
    const paused = await inject('POST', '/v1/ssf/streams/status', adminA, { stream_id: streamA, status: 'paused', reason: 'maintenance' });
    expect(paused.json()).toEqual({ stream_id: streamA, status: 'paused', reason: 'maintenance' });
    expect((await inject('GET', `/v1/ssf/streams/status?stream_id=${streamA}`, adminA)).json()).toMatchObject({ status: 'paused' });
    const held = await token(tenantA, 'acct-5');
    received.length = 0;
    await lifecycle(held, 'suspend', adminA);
    await deliver();
    expect(received).toHaveLength(0);
    expect(await stream(streamA, adminA)).toMatchObject({ pending_events: 1 });
    await inject('POST', '/v1/ssf/streams/status', adminA, { stream_id: streamA, status: 'enabled' });
    clock.advance(61_000);
    await deliver();
    expect(received).toHaveLength(1);
    expect((await verify(received[0]!, `${base}/a`)).events).toHaveProperty([EVENT.credentialChange]);

    await inject('POST', '/v1/ssf/streams/status', adminA, { stream_id: streamA, status: 'disabled' });
    received.length = 0;
    await lifecycle(held, 'revoke', adminA);
    await deliver();
    expect(received).toHaveLength(0);
    expect(await stream(streamA, adminA)).toMatchObject({ pending_events: 0 });
    const statusChanges = await h.custody.ledger.list({ subjectId: streamA, action: 'ssf.stream_status_changed', order: 'asc', limit: 10 });
    expect(statusChanges).toHaveLength(3);
    await inject('POST', '/v1/ssf/streams/status', adminA, { stream_id: streamA, status: 'enabled' });
  });

  it('sends a verification event on request, at most once a minute, and deletes a stream', async () => {
    received.length = 0;
    expect((await inject('POST', '/v1/ssf/streams/verify', adminA, { stream_id: streamA, state: 'state-123' })).statusCode).toBe(204);
    const again = await inject('POST', '/v1/ssf/streams/verify', adminA, { stream_id: streamA });
    expect([again.statusCode, again.json().error.code]).toEqual([429, 'ssf_verification_too_soon']);
    await deliver();
    expect(received).toHaveLength(1);
    const set = await verify(received[0]!, `${base}/a`);
    expect(set.events).toEqual({ [EVENT.verification]: { state: 'state-123' } });
    expect(set.sub_id).toEqual({ format: 'opaque', id: streamA });

    const patched = await inject('PATCH', '/v1/ssf/streams', adminA, { stream_id: streamA, aud: 'urn:example:receiver', events_requested: [EVENT.sessionRevoked] });
    expect(patched.json()).toMatchObject({ aud: 'urn:example:receiver', events_delivered: [EVENT.sessionRevoked], authorization_header_set: true });
    expect((await inject('DELETE', `/v1/ssf/streams?stream_id=${streamA}`, adminA)).statusCode).toBe(204);
    expect((await inject('GET', `/v1/ssf/streams?stream_id=${streamA}`, adminA)).statusCode).toBe(404);
    expect((await h.custody.ledger.list({ subjectId: streamA, order: 'asc', limit: 50 })).map((e) => e.action)).toEqual(expect.arrayContaining(['ssf.verification_requested', 'ssf.stream_updated', 'ssf.stream_deleted']));
  });

  // The CLI speaks the same contract whatever the database: once is enough.
  it.runIf(kind === 'sqlite')('manages streams from the CLI, the Authorization value read from the environment', async () => {
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    const env = { CUSTODY_URL: `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`, CUSTODY_API_KEY: await keyFor(h, 'security'), RECEIVER_AUTH: 'Bearer from-env' };
    const created = await runCli(['ssf', 'streams', 'create', '--tenant', tenantB, '--endpoint', `${base}/cli`, '--events', 'session-revoked', '--authorization-env', 'RECEIVER_AUTH', '--json'], env);
    expect(created.code).toBe(0);
    const s = JSON.parse(created.stdout) as { stream_id: string; events_delivered: string[]; authorization_header_set: boolean };
    expect(s).toMatchObject({ events_delivered: [EVENT.sessionRevoked], authorization_header_set: true });
    expect(created.stdout).not.toContain('from-env');
    expect((await runCli(['ssf', 'streams', 'status', s.stream_id, 'paused', '--reason', 'cli test'], env)).stdout).toContain('is paused');
    expect((await runCli(['ssf', 'streams', 'delete', s.stream_id], env)).stdout).toContain('Deleted');
  });
});
