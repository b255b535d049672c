import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../shared/clock.ts';
import { Secret } from '../shared/secret.ts';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { bearer, keyFor, startHarness, type Harness } from '../../test/support/harness.ts';
import { runCli } from '../../test/support/cli.ts';
import { SIGNAL_EVENT_URIS, SSF_VERIFICATION_EVENT } from './signal.rules.ts';

/**
 * The Shared Signals receiver end to end on a fixed clock, both databases: a transmitter whose
 * keys are published on a loopback JWKS URL (and one with inline keys), SETs signed with jose that
 * trigger the tenant's configured action on exactly the tokens they name, RFC 8935 refusals that
 * change nothing, and approver offboarding by event and by API.
 */
const NOW = new Date('2026-12-01T10:00:00.000Z');
const TRANSMITTER_ISS = 'https://ssf.customer.example';
const AUDIENCE = 'https://custody.example/v1/signals/ssf';

interface Keys {
  privateKey: CryptoKey;
  jwk: JWK;
}

async function keys(alg: 'ES256' | 'RS256', kid: string): Promise<Keys> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

describeEachDatabase('Shared Signals receiver', (kind) => {
  const clock = fixedClock(NOW);
  let h: Harness;
  let server: http.Server;
  let base: string;
  let adminKey: string;
  let tenantA: string;
  let tenantB: string;
  let providerId: string;
  let idp: string;
  let es: Keys;
  let rs: Keys;
  let transmitterA: string;
  let transmitterB: string;
  const requests: string[] = [];

  beforeAll(async () => {
    es = await keys('ES256', 'k1');
    rs = await keys('RS256', 'r1');
    // One loopback server: the customer's issuer (discovery, for the provider) and the transmitter's JWKS.
    server = http.createServer((req, res) => {
      requests.push(req.url ?? '');
      res.setHeader('content-type', 'application/json');
      if (req.url === '/jwks') return res.end(JSON.stringify({ keys: [es.jwk] }));
      if (req.url === '/redirect') {
        res.statusCode = 302;
        res.setHeader('location', `${base}/jwks`);
        return res.end();
      }
      if (req.url?.startsWith('/.well-known/')) return res.end(JSON.stringify({ issuer: base, authorization_endpoint: `${base}/authorize`, token_endpoint: `${base}/token`, jwks_uri: `${base}/jwks` }));
      res.statusCode = 404;
      res.end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    idp = base;
    h = await startHarness(kind, { clock });
    adminKey = await keyFor(h, 'admin');
    tenantA = (await h.custody.tenants.create(h.admin, { name: `acme-${randomBytes(3).toString('hex')}` })).id;
    tenantB = (await h.custody.tenants.create(h.admin, { name: `globex-${randomBytes(3).toString('hex')}` })).id;
    providerId = (await h.custody.providers.create(h.admin, { name: 'idp', issuer: idp, development: true, revocationEndpoint: `${base}/revoke`, clientId: 'c', apiBaseUrls: ['https://api.example.com/'] })).id;
    const created = await h.app.inject({ method: 'POST', url: '/v1/ssf/transmitters', headers: bearer(adminKey), payload: { tenantId: tenantA, name: 'acme idp', issuer: TRANSMITTER_ISS, audience: AUDIENCE, jwksUrl: `${base}/jwks`, development: true } });
    expect(created.statusCode, created.body).toBe(201);
    transmitterA = created.json().id;
    const inline = await h.app.inject({ method: 'POST', url: '/v1/ssf/transmitters', headers: bearer(adminKey), payload: { tenantId: tenantB, name: 'globex idp', issuer: TRANSMITTER_ISS, audience: `${AUDIENCE}/globex`, jwks: { keys: [rs.jwk] }, algorithms: ['RS256'] } });
    expect(inline.statusCode, inline.body).toBe(201);
    transmitterB = inline.json().id;
  });
  afterAll(async () => {
    await h?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  /** A live token of `tenantId` holding `account` at the issuer, approved by `approver`. */
  const token = async (tenantId: string, account: string, approver: string) =>
    (
      await h.custody.tokens.register(h.admin, {
        tenantId,
        providerId,
        owner: 'team-integrations',
        subject: account,
        approver: { subject: approver, email: `${approver}@customer.example`, issuer: idp },
        purpose: 'sync invoices',
        workloads: ['billing-sync'],
        scopes: ['invoices.read'],
        accessToken: new Secret(`at-${randomBytes(8).toString('hex')}`),
      })
    ).id;
  const unique = (name: string) => `${name}-${randomBytes(4).toString('hex')}`;
  const read = async (id: string) => (await h.app.inject({ url: `/v1/tokens/${id}`, headers: bearer(adminKey) })).json();
  const alertsOf = (id: string) => h.custody.alerts.forSubject(h.custody.storage.db, id);
  const ledger = async (action: string) => (await h.app.inject({ url: `/v1/ledger?action=${action}&order=desc&limit=50`, headers: bearer(adminKey) })).json().items as { actor: string; subjectId: string | null; data: Record<string, unknown> }[];

  const set = (events: Record<string, unknown>, over: { iss?: string; aud?: string; iat?: number; jti?: string; typ?: string; key?: Keys; alg?: string; claims?: Record<string, unknown> } = {}) => {
    const key = over.key ?? es;
    return new SignJWT({ events, ...over.claims })
      .setProtectedHeader({ alg: over.alg ?? key.jwk.alg!, kid: key.jwk.kid!, typ: over.typ ?? 'secevent+jwt' })
      .setIssuer(over.iss ?? TRANSMITTER_ISS)
      .setAudience(over.aud ?? AUDIENCE)
      .setIssuedAt(over.iat ?? Math.floor(clock.now().getTime() / 1000))
      .setJti(over.jti ?? randomUUID())
      .sign(key.privateKey);
  };
  const issSub = (sub: string) => ({ subject: { format: 'iss_sub', iss: idp, sub } });
  const push = (body: string, contentType = 'application/secevent+jwt') => h.app.inject({ method: 'POST', url: '/v1/signals/ssf', headers: { 'content-type': contentType }, payload: body });

  describe('acts per the tenant’s policy', () => {
    it('revokes the account’s token on credential-compromise, flags the tokens it only approved, and leaves other tenants alone', async () => {
      const alice = unique('alice');
      const own = await token(tenantA, alice, alice);
      const approvedOnly = await token(tenantA, unique('svc'), alice);
      const someoneElse = await token(tenantA, unique('bob'), unique('bob'));
      const otherTenant = await token(tenantB, alice, alice);
      const jti = randomUUID();
      const res = await push(await set({ [SIGNAL_EVENT_URIS['credential-compromise']]: { ...issSub(alice), credential_type: 'password' } }, { jti }));
      expect(res.statusCode, res.body).toBe(202);
      expect(res.body).toBe('');
      const revoked = await read(own);
      expect(revoked.state).toBe('revoked');
      expect(revoked.stateActor).toBe(`ssf:${transmitterA}`);
      expect((await read(approvedOnly)).state).toBe('active');
      expect((await alertsOf(approvedOnly)).map((a) => a.kind)).toEqual(['ssf_credential_compromise']);
      expect((await alertsOf(own))[0]).toMatchObject({ kind: 'ssf_credential_compromise', severity: 'critical' });
      expect((await read(someoneElse)).state).toBe('active');
      expect(await alertsOf(someoneElse)).toEqual([]);
      expect((await read(otherTenant)).state).toBe('active');
      const [entry] = (await ledger('signal.received')).filter((e) => e.data.jti === jti);
      expect(entry).toMatchObject({ actor: `ssf:${transmitterA}`, subjectId: transmitterA, data: { events: ['credential-compromise'], revoked: 1, suspended: 0, flagged: 1 } });
    });

    it('suspends (kind signal) on a CAEP session-revoked whose subject is the SET’s sub_id', async () => {
      const carol = unique('carol');
      const id = await token(tenantA, carol, carol);
      const res = await push(await set({ [SIGNAL_EVENT_URIS['session-revoked']]: { event_timestamp: 1 } }, { claims: { sub_id: { format: 'iss_sub', iss: idp, sub: carol } } }));
      expect(res.statusCode, res.body).toBe(202);
      expect(await read(id)).toMatchObject({ state: 'suspended', suspensionKind: 'signal', stateActor: `ssf:${transmitterA}` });
    });

    it('follows a tenant override of signalActions (credential-change: revoke), and flags by default', async () => {
      const dave = unique('dave');
      const flagged = await token(tenantA, dave, dave);
      expect((await push(await set({ [SIGNAL_EVENT_URIS['credential-change']]: issSub(dave) }))).statusCode).toBe(202);
      expect((await read(flagged)).state).toBe('active');
      expect((await alertsOf(flagged)).map((a) => a.kind)).toEqual(['ssf_credential_change']);

      await h.custody.policy.putTenant(h.admin, tenantB, { signalActions: { 'credential-change': 'revoke' } });
      const erin = unique('erin');
      const id = await token(tenantB, erin, erin);
      // Policies are read from a snapshot reused for two seconds.
      clock.advance(3_000);
      const res = await push(await set({ [SIGNAL_EVENT_URIS['credential-change']]: issSub(erin) }, { key: rs, aud: `${AUDIENCE}/globex` }));
      expect(res.statusCode, res.body).toBe(202);
      expect((await read(id)).state).toBe('revoked');
    });

    it('accepts the SSF verification event and changes nothing', async () => {
      const res = await push(await set({ [SSF_VERIFICATION_EVENT]: { state: 'abc' } }));
      expect(res.statusCode, res.body).toBe(202);
      const [entry] = await ledger('signal.received');
      expect(entry!.data).toMatchObject({ verification: true, events: [], tokens: 0 });
    });
  });

  describe('refuses with the RFC 8935 code and changes nothing', () => {
    let victim: string;
    let account: string;
    const compromise = () => ({ [SIGNAL_EVENT_URIS['credential-compromise']]: issSub(account) });
    beforeAll(async () => {
      account = unique('frank');
      victim = await token(tenantA, account, account);
    });
    const refused = async (body: string, err: string, contentType?: string) => {
      const res = await push(body, contentType);
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json()).toMatchObject({ err, description: expect.any(String) });
      expect((await read(victim)).state).toBe('active');
      return res.json().description as string;
    };

    it('a forged signature: invalid_key', async () => {
      const forger = await keys('ES256', 'k1');
      await refused(await set(compromise(), { key: forger }), 'invalid_key');
    });
    it('an algorithm the transmitter is not configured for (HS256): invalid_key', async () => {
      const jws = await new SignJWT({ events: compromise() }).setProtectedHeader({ alg: 'HS256', typ: 'secevent+jwt' }).setIssuer(TRANSMITTER_ISS).setAudience(AUDIENCE).setIssuedAt(Math.floor(NOW.getTime() / 1000)).setJti(randomUUID()).sign(new TextEncoder().encode('x'.repeat(32)));
      await refused(jws, 'invalid_key');
    });
    it('an expired iat: invalid_request', async () => {
      expect(await refused(await set(compromise(), { iat: Math.floor(clock.now().getTime() / 1000) - 600 }), 'invalid_request')).toMatch(/too old/);
    });
    it('an iat from the future: invalid_request', async () => {
      await refused(await set(compromise(), { iat: Math.floor(clock.now().getTime() / 1000) + 600 }), 'invalid_request');
    });
    it('a replayed jti: invalid_request, applied once', async () => {
      const other = unique('gina');
      const id = await token(tenantA, other, other);
      const jws = await set({ [SIGNAL_EVENT_URIS['session-revoked']]: issSub(other) });
      expect((await push(jws)).statusCode).toBe(202);
      await h.app.inject({ method: 'POST', url: `/v1/tokens/${id}/resume`, headers: bearer(adminKey), payload: { reason: 'checked with the customer' } });
      const again = await push(jws);
      expect(again.statusCode).toBe(400);
      expect(again.json()).toMatchObject({ err: 'invalid_request', description: expect.stringMatching(/already received/) });
      expect((await read(id)).state).toBe('active');
    });
    it('a wrong audience: invalid_audience', async () => {
      await refused(await set(compromise(), { aud: 'https://someone-else.example' }), 'invalid_audience');
    });
    it('an unknown transmitter: invalid_issuer', async () => {
      await refused(await set(compromise(), { iss: 'https://unknown.example' }), 'invalid_issuer');
    });
    it('an unknown event type, even beside a known one: invalid_request, nothing applied', async () => {
      const description = await refused(await set({ ...compromise(), 'https://schemas.openid.net/secevent/risc/event-type/identifier-recycled': issSub(account) }), 'invalid_request');
      expect(description).toMatch(/identifier-recycled is not one this receiver acts on/);
    });
    it('a subject format Custody cannot match: invalid_request', async () => {
      await refused(await set({ [SIGNAL_EVENT_URIS['credential-compromise']]: { subject: { format: 'phone_number', phone_number: '+12065550100' } } }), 'invalid_request');
    });
    it('a wrong typ: invalid_request', async () => {
      await refused(await set(compromise(), { typ: 'JWT' }), 'invalid_request');
    });
    it('a malformed body, an empty one, or another content type: invalid_request', async () => {
      await refused('not-a-jwt', 'invalid_request');
      await refused('', 'invalid_request');
      await refused(await set(compromise()), 'invalid_request', 'application/json');
    });
    it('a disabled transmitter: access_denied, until enabled again', async () => {
      const off = await h.app.inject({ method: 'PATCH', url: `/v1/ssf/transmitters/${transmitterA}`, headers: bearer(adminKey), payload: { enabled: false, reason: 'rotating' } });
      expect(off.json().enabled).toBe(false);
      await refused(await set(compromise()), 'access_denied');
      await h.app.inject({ method: 'PATCH', url: `/v1/ssf/transmitters/${transmitterA}`, headers: bearer(adminKey), payload: { enabled: true } });
    });
    it('ledgers the first refusal of a verified SET’s jti on its own, and rolls up replayable and anonymous ones per minute, transmitter and code', async () => {
      const known = await ledger('signal.refused');
      // The unknown event and the subject format: first of their jti, shown to come from transmitter A by its signature.
      expect(known.filter((e) => e.subjectId === transmitterA && e.data.code === 'invalid_request' && e.data.rolledUp !== true).length).toBe(2);
      await h.custody.signals.flushRefusals(true);
      const all = await ledger('signal.refused');
      // Expired, from the future, replayed, wrong typ: verified, but anyone holding them can send them again: rolled up, with their jtis.
      const fromA = all.filter((e) => e.data.rolledUp === true && e.subjectId === transmitterA && e.data.code === 'invalid_request');
      expect(fromA.reduce((n, e) => n + (e.data.count as number), 0)).toBe(4);
      expect(fromA[0]).toMatchObject({ actor: `ssf:${transmitterA}`, data: { transmitterId: transmitterA, jtis: expect.any(Array) } });
      expect((fromA[0]!.data.jtis as string[]).length).toBe(4);
      const rolled = all.filter((e) => e.data.rolledUp === true && e.subjectId === null);
      const invalidRequest = rolled.find((e) => e.data.code === 'invalid_request');
      // not-a-jwt, the empty body and the JSON one; the forged and HS256 ones as invalid_key; the unknown issuer.
      expect(invalidRequest?.data.count).toBe(3);
      expect(rolled.find((e) => e.data.code === 'invalid_key')?.data.count).toBe(2);
      expect(rolled.find((e) => e.data.code === 'invalid_issuer')?.data.count).toBe(1);
      // Two transmitters state this iss: an aud naming neither cannot be tied to one (nor can a disabled one's SET).
      expect(rolled.find((e) => e.data.code === 'invalid_audience')?.data.count).toBe(1);
      expect(rolled.find((e) => e.data.code === 'access_denied')?.data.count).toBe(1);
      // Every push is counted in /metrics by outcome, tied to a transmitter or not.
      const metrics = (await h.app.inject({ url: '/metrics' })).body;
      expect(metrics).toContain('custody_ssf_sets_total{outcome="invalid_key"} 2');
      expect(metrics).toMatch(/custody_ssf_sets_total\{outcome="accepted"\} \d+/);
    });
  });

  describe('replays, odd strings and key URLs', () => {
    const ledgerCount = async () => Number((await h.custody.storage.db.selectFrom('ledger_entries').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

    it('a captured SET sent again and again, or once too old, grows the ledger by one rolled-up entry per minute', async () => {
      await h.custody.signals.flushRefusals(true);
      const lena = unique('lena');
      await token(tenantA, lena, lena);
      const jws = await set({ [SIGNAL_EVENT_URIS['credential-change']]: issSub(lena) });
      expect((await push(jws)).statusCode).toBe(202);
      // A first-seen jti refused for what it says is ledgered once; its replays are rolled up too.
      const unknown = await set({ 'https://schemas.openid.net/secevent/risc/event-type/identifier-recycled': issSub(lena) });
      const before = await ledgerCount();
      for (let i = 0; i < 30; i++) expect((await push(jws)).statusCode).toBe(400);
      for (let i = 0; i < 10; i++) expect((await push(unknown)).statusCode).toBe(400);
      expect(await ledgerCount()).toBe(before + 1);
      clock.advance(3_600_000);
      try {
        for (let i = 0; i < 30; i++) expect((await push(jws)).json().description).toMatch(/too old/);
        await h.custody.signals.flushRefusals(true);
      } finally {
        clock.set(NOW);
      }
      // Two minutes, one code, one transmitter: two entries.
      expect(await ledgerCount()).toBe(before + 3);
      const rolled = (await ledger('signal.refused')).filter((e) => e.data.rolledUp === true && e.subjectId === transmitterA).slice(0, 2);
      expect(rolled.map((e) => e.data.count).sort()).toEqual([30, 39]);
    });

    it('refuses a U+0000 anywhere in the header or claims with invalid_request, before any database access (no 500 on PostgreSQL)', async () => {
      const tamper = (over: Record<string, unknown>) => `${b64({ alg: 'ES256', kid: 'k1', typ: 'secevent+jwt' })}.${b64({ iss: TRANSMITTER_ISS, aud: AUDIENCE, ...over })}.AAAA`;
      const bodies = [
        tamper({ iss: 'a\u0000b' }),
        tamper({ jti: 'x\u0000' }),
        `${b64({ alg: 'ES256', kid: 'k\u0000', typ: 'secevent+jwt' })}.${b64({ iss: TRANSMITTER_ISS, aud: AUDIENCE })}.AAAA`,
        await set({ [SIGNAL_EVENT_URIS['credential-change']]: { subject: { format: 'opaque', id: 'a\u0000b' } } }),
        await set({ [SIGNAL_EVENT_URIS['account-disabled']]: { subject: { format: 'email', email: 'a\u0000@b.example' } } }),
        await set({ [SIGNAL_EVENT_URIS['credential-change']]: issSub('x') }, { jti: 'a\u0000b' }),
      ];
      const metrics = async () => Number(/custody_ssf_sets_total\{outcome="invalid_request"\} (\d+)/.exec((await h.app.inject({ url: '/metrics' })).body)?.[1] ?? 0);
      const counted = await metrics();
      for (const body of bodies) {
        const res = await push(body);
        expect(res.statusCode, res.body).toBe(400);
        expect(res.json()).toMatchObject({ err: 'invalid_request', description: expect.stringMatching(/U\+0000/) });
      }
      expect(await metrics()).toBe(counted + bodies.length);
    });

    it('refuses JWKS URLs at metadata, link-local, private or loopback hosts (unless development), and fetches through the SSRF guard without following redirects', async () => {
      const post = (jwksUrl: string, development = false) =>
        h.app.inject({ method: 'POST', url: '/v1/ssf/transmitters', headers: bearer(adminKey), payload: { tenantId: tenantA, name: 'ssrf', issuer: `https://${unique('ssrf')}.example`, audience: AUDIENCE, jwksUrl, development } });
      for (const [url, development] of [
        ['https://169.254.169.254/latest/meta-data/', true],
        ['https://[::ffff:169.254.169.254]/x', true],
        ['https://[fe80::1]/jwks', true],
        ['https://10.0.0.1/jwks', false],
        ['https://127.0.0.1/jwks', false],
        ['https://localhost/jwks', false],
        ['https://keys.localhost./jwks', false],
      ] as const) {
        const res = await post(url, development);
        expect(res.statusCode, `${url}: ${res.body}`).toBe(400);
        expect(res.json().error.code).toBe('transmitter_invalid');
      }
      expect((await post('https://10.0.0.1/jwks', true)).statusCode).toBe(201);

      // A transmitter stored before this check, not development, its keys on loopback: never fetched.
      const iss = `https://${unique('stored')}.example`;
      const at = NOW.toISOString();
      await h.custody.storage.db
        .insertInto('ssf_transmitters')
        .values({ id: `trn_${randomBytes(8).toString('hex')}`, tenant_id: tenantA, name: 'old', issuer: iss, audience: AUDIENCE, jwks_url: `${base.replace('http:', 'https:')}/guarded-jwks`, jwks: null, algorithms: '["ES256"]', development: 0, enabled: 1, created_at: at, created_by: 'test', updated_at: at })
        .execute();
      const guarded = await push(await set({ [SSF_VERIFICATION_EVENT]: { state: 'x' } }, { iss }));
      expect(guarded.statusCode).toBe(503);
      expect(requests).not.toContain('/guarded-jwks');

      // A development transmitter whose key URL redirects: the redirect is not followed.
      const redirIss = `https://${unique('redir')}.example`;
      expect((await h.app.inject({ method: 'POST', url: '/v1/ssf/transmitters', headers: bearer(adminKey), payload: { tenantId: tenantA, name: 'redir', issuer: redirIss, audience: AUDIENCE, jwksUrl: `${base}/redirect`, development: true } })).statusCode).toBe(201);
      const jwksFetches = requests.filter((u) => u === '/jwks').length;
      const redirected = await push(await set({ [SSF_VERIFICATION_EVENT]: { state: 'x' } }, { iss: redirIss }));
      expect(redirected.statusCode).toBe(503);
      expect(requests).toContain('/redirect');
      expect(requests.filter((u) => u === '/jwks').length).toBe(jwksFetches);
    });
  });

  describe('approver offboarding', () => {
    it('an account-disabled event by email or opaque subject records the account even with no tokens, so its later consent is refused', async () => {
      const email = `${unique('leaver')}@Customer.example`;
      const opaque = unique('leaver-sub');
      expect((await push(await set({ [SIGNAL_EVENT_URIS['account-disabled']]: { subject: { format: 'email', email } } }))).statusCode).toBe(202);
      expect((await push(await set({ [SIGNAL_EVENT_URIS['account-purged']]: { subject: { format: 'opaque', id: opaque } } }))).statusCode).toBe(202);
      const rows = await h.custody.storage.db.selectFrom('inactive_approvers').select(['issuer', 'subject', 'source']).where('tenant_id', '=', tenantA).where('subject', 'in', [email.toLowerCase(), opaque]).execute();
      expect(rows.map((r) => [r.issuer, r.subject, r.source]).sort()).toEqual([
        ['email', email.toLowerCase(), 'ssf'],
        ['opaque', opaque, 'ssf'],
      ]);
      // What consent asks (src/oauth/consent.service.ts): any issuer, the verified email without regard to case; the opaque id as the subject.
      const db = h.custody.storage.db;
      expect(await h.custody.approvers.isDeactivated(db, tenantA, idp, 'someone', email.toUpperCase())).toBe(true);
      expect(await h.custody.approvers.isDeactivated(db, tenantA, 'https://other.example', opaque, null)).toBe(true);
      expect(await h.custody.approvers.isDeactivated(db, tenantA, idp, 'someone', 'someone@customer.example')).toBe(false);
      expect(await h.custody.approvers.isDeactivated(db, tenantB, idp, opaque, email)).toBe(false);
    });

    it('an account-disabled event marks exactly that approver’s tokens in that tenant, and their account’s own token per policy', async () => {
      const hank = unique('hank');
      const own = await token(tenantA, hank, hank);
      const approved = [await token(tenantA, unique('svc'), hank), await token(tenantA, unique('svc'), hank)];
      const otherApprover = await token(tenantA, unique('svc'), unique('ivy'));
      const otherTenant = await token(tenantB, unique('svc'), hank);
      const res = await push(await set({ [SIGNAL_EVENT_URIS['account-disabled']]: issSub(hank) }));
      expect(res.statusCode, res.body).toBe(202);
      // The default policy suspends the account's own token; its approvals lose their approver and stay active.
      expect(await read(own)).toMatchObject({ state: 'suspended', suspensionKind: 'signal' });
      for (const id of approved) expect(await read(id)).toMatchObject({ state: 'active', approver: { active: false } });
      expect((await read(otherApprover)).approver.active).toBe(true);
      expect((await read(otherTenant)).approver.active).toBe(true);
      // Judged as a sweep would judge them (without sweeping everything: faster).
      await h.custody.findings.settled();
      await h.custody.findings.evaluateTokens([own, ...approved, otherApprover]);
      const findings = (await h.app.inject({ url: `/v1/findings?tenantId=${tenantA}&type=approver_inactive&limit=1000`, headers: bearer(adminKey) })).json().items as { tokenId: string }[];
      const flagged = new Set(findings.map((f) => f.tokenId));
      for (const id of [own, ...approved]) expect(flagged.has(id)).toBe(true);
      expect(flagged.has(otherApprover)).toBe(false);
      expect(await h.custody.approvers.isDeactivated(h.custody.storage.db, tenantA, idp, hank)).toBe(true);
      expect(await h.custody.approvers.isDeactivated(h.custody.storage.db, tenantB, idp, hank)).toBe(false);
    });

    it('POST /v1/approvers/deactivate: a tenant administrator offboards their own tenant’s approver, not another tenant’s', async () => {
      const jack = unique('jack');
      const mine = await token(tenantA, unique('svc'), jack);
      const theirs = await token(tenantB, unique('svc'), jack);
      const tenantAdminA = await keyFor(h, 'tenant_admin', tenantA);
      const foreign = await h.app.inject({ method: 'POST', url: '/v1/approvers/deactivate', headers: bearer(tenantAdminA), payload: { tenantId: tenantB, issuer: idp, subject: jack } });
      expect(foreign.statusCode).toBe(404);
      expect(foreign.json().error.code).toBe('tenant_not_found');
      const res = await h.app.inject({ method: 'POST', url: '/v1/approvers/deactivate', headers: bearer(tenantAdminA), payload: { tenantId: tenantA, issuer: idp, subject: jack, reason: 'left the company' } });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({ tokensFlagged: 1, tokenIds: [mine], alreadyInactive: false, approver: { source: 'api', reason: 'left the company' } });
      expect((await read(mine)).approver.active).toBe(false);
      expect((await read(theirs)).approver.active).toBe(true);
      const listed = (await h.app.inject({ url: '/v1/approvers/inactive', headers: bearer(tenantAdminA) })).json().items as { tenantId: string; subject: string }[];
      expect(listed.some((a) => a.subject === jack)).toBe(true);
      expect(listed.every((a) => a.tenantId === tenantA)).toBe(true);
      const [entry] = await ledger('approver.deactivated');
      expect(entry!.data).toMatchObject({ subject: jack, source: 'api', tokens: 1 });
    });
  });

  describe('the CLI', () => {
    it('disables a transmitter and offboards an approver through a server', async () => {
      await h.app.listen({ host: '127.0.0.1', port: 0 });
      const env = { CUSTODY_URL: `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`, CUSTODY_API_KEY: adminKey };
      const made = await h.custody.transmitters.create(h.admin, { tenantId: tenantA, name: 'cli', issuer: 'https://cli.example', audience: 'a', jwksUrl: 'https://cli.example/jwks' });
      const off = await runCli(['transmitters', 'disable', made.id, '--reason', 'rotating keys', '--json'], env);
      expect(off.code, off.stderr).toBe(0);
      expect(JSON.parse(off.stdout)).toMatchObject({ id: made.id, enabled: false });
      const kate = unique('kate');
      const id = await token(tenantA, unique('svc'), kate);
      const gone = await runCli(['approvers', 'deactivate', '--tenant', tenantA, '--issuer', idp, '--subject', kate], env);
      expect(gone.code, gone.stderr).toBe(0);
      expect(gone.stdout).toContain(`${kate} at ${idp} is inactive in ${tenantA}: 1 token now without an active approver.`);
      expect(gone.stdout).toContain(id);
    });
  });

  describe('transmitters', () => {
    it('refuses plain http off loopback, HMAC algorithms, private keys, duplicates, and roles other than admin and security', async () => {
      const post = (payload: Record<string, unknown>, key = adminKey) => h.app.inject({ method: 'POST', url: '/v1/ssf/transmitters', headers: bearer(key), payload: { tenantId: tenantA, name: 'x', issuer: 'https://x.example', audience: 'a', ...payload } });
      const http = await post({ jwksUrl: 'http://keys.example/jwks', development: true });
      expect(http.statusCode).toBe(400);
      expect(http.json().error.code).toBe('transmitter_invalid');
      expect((await post({ jwksUrl: 'https://keys.example/jwks', algorithms: ['HS256'] })).json().error.code).toBe('validation_failed');
      expect((await post({ jwks: { keys: [{ ...es.jwk, d: 'secret' }] } })).json().error.code).toBe('validation_failed');
      expect((await post({ jwksUrl: 'https://keys.example/jwks', jwks: { keys: [es.jwk] } })).json().error.code).toBe('transmitter_invalid');
      expect((await post({ issuer: TRANSMITTER_ISS, audience: AUDIENCE, jwksUrl: 'https://keys.example/jwks' })).statusCode).toBe(409);
      expect((await post({ jwksUrl: 'https://keys.example/jwks' }, await keyFor(h, 'tenant_admin', tenantA))).statusCode).toBe(403);
      const list = (await h.app.inject({ url: '/v1/ssf/transmitters', headers: bearer(await keyFor(h, 'security')) })).json().items as { id: string }[];
      expect(list.map((t) => t.id)).toEqual(expect.arrayContaining([transmitterA, transmitterB]));
      expect((await ledger('ssf.transmitter_created')).length).toBeGreaterThanOrEqual(2);
    });
  });
});
