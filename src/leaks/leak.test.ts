import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LEAK_BODY_LIMIT_BYTES } from './leak.contract.ts';
import { fixedClock } from '../shared/clock.ts';
import { Secret } from '../shared/secret.ts';
import { addKeyVersion, writeKeyFile } from '../vault/local-keyring.ts';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { spawnCli } from '../../test/support/cli.ts';
import { bearer, keyFor, startHarness, type Harness } from '../../test/support/harness.ts';

/**
 * Leaked-token intake on a fixed clock, both databases: a signed report of a registered token's
 * access token and of another's refresh token revokes each within the request (upstream job
 * queued, critical alert, ledger entry, none of which holds the string); a random string is a
 * false positive; refusals (no signature, unknown or disabled key, forged signature, oversize,
 * malformed) answer with codes and change nothing; the answer reveals nothing but the labels; the
 * fingerprint follows a refresh and survives a key rotation; staff checks name the
 * token.
 */
const NOW = new Date('2026-12-01T10:00:00.000Z');
const p256 = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const pem = (k: KeyObject) => k.export({ format: 'pem', type: 'spki' }).toString();
const signBody = (key: KeyObject, body: Buffer) => sign('sha256', body, { key, dsaEncoding: 'der' }).toString('base64');

describeEachDatabase('leaked-token intake', (kind) => {
  const clock = fixedClock(NOW);
  let h: Harness;
  let adminKey: string;
  let tenantId: string;
  let providerId: string;
  let keyFile: string;
  let base: string;
  const reporter = p256();
  const keyId = `scanner-key-${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    // A key file, so a key-encryption key version can be added while it runs (rotation).
    keyFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'custody-leaks-')), 'keyring.json');
    writeKeyFile(keyFile, { keys: [{ version: 1, key: randomBytes(32).toString('base64'), createdAt: NOW.toISOString() }] });
    h = await startHarness(kind, { clock, env: { CUSTODY_KEYRING: '', CUSTODY_KEYRING_FILE: keyFile } });
    adminKey = await keyFor(h, 'admin');
    tenantId = (await h.custody.tenants.create(h.admin, { name: `acme-${randomBytes(3).toString('hex')}` })).id;
    providerId = (
      await h.custody.providers.create(h.admin, {
        name: `issuer-${randomBytes(3).toString('hex')}`,
        tokenEndpoint: 'https://issuer.example.com/token',
        revocationEndpoint: 'https://issuer.example.com/revoke',
        clientId: 'custody',
        apiBaseUrls: ['https://api.example.com/'],
      })
    ).id;
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
    const added = await h.app.inject({ method: 'POST', url: '/v1/leaks/reporters', headers: bearer(adminKey), payload: { name: 'secret-scanner', keyId, publicKey: pem(reporter.publicKey) } });
    expect(added.statusCode).toBe(201);
  });
  afterAll(async () => {
    await h?.close();
    fs.rmSync(path.dirname(keyFile), { recursive: true, force: true });
  });

  const register = async (withRefresh = true) => {
    const access = `at-${randomBytes(16).toString('hex')}`;
    const refresh = `rt-${randomBytes(16).toString('hex')}`;
    const id = (
      await h.custody.tokens.register(h.admin, {
        tenantId,
        providerId,
        owner: 'team-integrations',
        scopes: ['invoices.read'],
        accessToken: new Secret(access),
        ...(withRefresh ? { refreshToken: new Secret(refresh) } : {}),
      })
    ).id;
    return { id, access, refresh };
  };

  const report = (items: unknown, opts: { key?: KeyObject; keyId?: string | null; signature?: string | null; raw?: Buffer } = {}) => {
    const body = opts.raw ?? Buffer.from(JSON.stringify(items));
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (opts.keyId !== null) headers['custody-leak-key-id'] = opts.keyId ?? keyId;
    if (opts.signature !== null) headers['custody-leak-signature'] = opts.signature ?? signBody(opts.key ?? reporter.privateKey, body);
    return h.app.inject({ method: 'POST', url: '/v1/leaks', headers, payload: body });
  };

  const token = (id: string) => h.custody.storage.db.selectFrom('tokens').select(['state', 'state_reason', 'state_actor']).where('id', '=', id).executeTakeFirstOrThrow();
  const jobs = (id: string) => h.custody.storage.db.selectFrom('outbox_jobs').select(['kind', 'status']).where('subject_id', '=', id).execute();
  const entries = (id: string) => h.custody.storage.db.selectFrom('ledger_entries').select(['action', 'actor', 'data']).where('subject_id', '=', id).orderBy('seq').execute();
  const alertsOf = (id: string) => h.custody.storage.db.selectFrom('alerts').selectAll().where('subject_id', '=', id).execute();
  const ledgerCount = async () => Number((await h.custody.storage.db.selectFrom('ledger_entries').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  const alertCount = async () => Number((await h.custody.storage.db.selectFrom('alerts').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

  it('revokes a token whose access token and another whose refresh token are reported, within the request, and labels a random string false_positive', async () => {
    const a = await register();
    const b = await register();
    const items = [
      { token: a.access, type: 'custody_access_token', url: 'https://github.com/acme/app/blob/main/.env', source: 'content' },
      { token: `at-${randomBytes(16).toString('hex')}`, type: 'custody_access_token', url: 'https://github.com/acme/app/blob/main/x', source: 'content' },
      { token: b.refresh, type: 'custody_refresh_token', url: 'https://gist.github.com/x/1', source: 'gist' },
    ];
    const res = await report(items);
    expect(res.statusCode).toBe(200);
    // Nothing but the labels, in order: no tenant, no record id, no echo of the strings.
    expect(res.json()).toEqual([
      { token_type: 'custody_access_token', label: 'true_positive' },
      { token_type: 'custody_access_token', label: 'false_positive' },
      { token_type: 'custody_refresh_token', label: 'true_positive' },
    ]);
    for (const leak of [a.id, b.id, tenantId, a.access, b.refresh]) expect(res.body).not.toContain(leak);

    for (const t of [a, b]) {
      expect(await token(t.id)).toEqual({ state: 'revoked', state_reason: 'leaked', state_actor: 'leak:secret-scanner' });
      expect(await jobs(t.id)).toEqual([{ kind: 'upstream_revocation', status: 'pending' }]);
      const alerts = await alertsOf(t.id);
      expect(alerts).toHaveLength(1);
      expect(alerts[0]).toMatchObject({ kind: 'token_leaked', severity: 'critical', tenant_id: tenantId, status: 'open' });
      const ledger = await entries(t.id);
      expect(ledger.map((e) => e.action)).toEqual(['token.registered', 'token.revoked', 'alert.raised', 'token.leak_reported']);
      const reported = JSON.parse(ledger.at(-1)!.data) as Record<string, unknown>;
      expect(reported).toMatchObject({ via: 'report', reporter: 'secret-scanner', keyId, credential: t === a ? 'access' : 'refresh', revoked: true, stateBefore: 'active', itemCount: 1 });
      // Neither the alert nor the ledger holds the string.
      for (const text of [JSON.stringify(alerts), JSON.stringify(ledger)]) {
        expect(text).not.toContain(t.access);
        expect(text).not.toContain(t.refresh);
      }
    }
    const evidence = JSON.parse((await alertsOf(a.id))[0]!.evidence) as Record<string, unknown>[];
    expect(evidence[0]).toMatchObject({ kind: 'leak', reporter: 'secret-scanner', credential: 'access', items: [{ type: 'custody_access_token', url: items[0]!.url, source: 'content' }] });
    // The gateway refuses it at once (its view is the committed state).
    expect((await h.custody.tokens.accessView(a.id))?.state).toBe('revoked');
  });

  it('labels an already revoked token true_positive and alerts again, without revoking it twice', async () => {
    const t = await register();
    await h.custody.tokens.transition(h.admin, t.id, 'revoke', 'offboarded');
    const res = await report([{ token: t.access, type: 'custody_access_token' }, { token: t.access, type: 'custody_access_token' }]);
    expect(res.json()).toEqual([
      { token_type: 'custody_access_token', label: 'true_positive' },
      { token_type: 'custody_access_token', label: 'true_positive' },
    ]);
    const ledger = await entries(t.id);
    expect(ledger.filter((e) => e.action === 'token.revoked')).toHaveLength(1);
    expect(JSON.parse(ledger.at(-1)!.data)).toMatchObject({ revoked: false, stateBefore: 'revoked', itemCount: 2 });
    expect(await alertsOf(t.id)).toMatchObject([{ kind: 'token_leaked', severity: 'critical' }]);
    expect((await jobs(t.id)).length).toBe(1);
  });

  it('answers a replayed report as before and writes nothing; a leak of a dead token never reopens a resolved alert', async () => {
    const t = await register();
    const body = Buffer.from(JSON.stringify([{ token: t.access, type: 'custody_access_token', url: 'https://github.com/x' }, { token: 'nothing-like-it', type: 'x' }]));
    const signature = signBody(reporter.privateKey, body);
    const first = await report(null, { raw: body, signature });
    expect(first.statusCode).toBe(200);
    const answer = first.json();
    const before = { ledger: await ledgerCount(), alerts: await alertCount() };
    const alert = (await alertsOf(t.id))[0]!;
    try {
      // Sent again (at once, concurrently, a week later): the same answer, no ledger entry, no alert count.
      for (let i = 0; i < 5; i++) expect((await report(null, { raw: body, signature })).json()).toEqual(answer);
      await Promise.all(Array.from({ length: 5 }, () => report(null, { raw: body, signature })));
      clock.advance(7 * 24 * 3_600_000);
      expect((await report(null, { raw: body, signature })).json()).toEqual(answer);
      expect({ ledger: await ledgerCount(), alerts: await alertCount() }).toEqual(before);
      expect(await alertsOf(t.id)).toMatchObject([{ id: alert.id, count: 1, status: 'open' }]);
      const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metrics).toMatch(/custody_leak_reports_replayed_total 11/);

      // Security resolves the alert; the replay still opens nothing, and a new report of the dead token is ledgered once, alerting nothing.
      await h.custody.alerts.resolve(h.admin, alert.id, 'handled');
      await report(null, { raw: body, signature });
      const other = [{ token: t.access, type: 'custody_access_token', url: 'https://gist.github.com/y' }];
      expect((await report(other)).json()).toEqual([{ token_type: 'custody_access_token', label: 'true_positive' }]);
      await report(other);
      // Past the replay window the first report counts as new again: ledgered, still no alert.
      clock.advance(31 * 24 * 3_600_000);
      await report(null, { raw: body, signature });
      const alerts = await alertsOf(t.id);
      expect(alerts.map((a) => [a.id, a.status])).toEqual([[alert.id, 'resolved']]);
      const reported = (await entries(t.id)).filter((e) => e.action === 'token.leak_reported');
      expect(reported.map((e) => JSON.parse(e.data).revoked)).toEqual([true, false, false]);
      expect(await h.custody.storage.db.selectFrom('leak_report_replays').select('labels').where('labels', '=', 'tf').execute()).toHaveLength(1);
    } finally {
      clock.set(NOW);
    }
  });

  it('takes a full report (1,000 items of 4,096 characters, past the server’s usual body limit) and finds the one match in it', async () => {
    const t = await register();
    const items = Array.from({ length: 1000 }, (_, i) => ({ token: i === 617 ? t.access : randomBytes(2048).toString('hex'), type: 'custody_access_token', url: `https://example.com/${i}`, source: 'content' }));
    const res = await report(items);
    expect(res.statusCode).toBe(200);
    const labels = (res.json() as { label: string }[]).map((i) => i.label);
    expect(labels.filter((l) => l === 'true_positive').length).toBe(1);
    expect(labels[617]).toBe('true_positive');
    expect(await token(t.id)).toMatchObject({ state: 'revoked' });
  });

  it('refuses unsigned, unknown-key, forged, oversize and malformed reports with codes, and changes nothing', async () => {
    const t = await register();
    const before = { ledger: await ledgerCount(), alerts: await alertCount() };
    const good = [{ token: t.access, type: 'custody_access_token' }];
    const other = p256();
    const refusals: [Promise<{ statusCode: number; json(): unknown; body: string }>, number, string][] = [
      [report(good, { keyId: null }), 400, 'leak_signature_missing'],
      [report(good, { signature: null }), 400, 'leak_signature_missing'],
      [report(good, { keyId: 'no-such-key' }), 401, 'leak_key_unknown'],
      [report(good, { key: other.privateKey }), 401, 'leak_signature_invalid'],
      [report(good, { signature: 'not base64!' }), 401, 'leak_signature_invalid'],
      // Signed over other bytes than those sent (a re-serialised body).
      [report(good, { raw: Buffer.from(JSON.stringify(good, null, 2)), signature: signBody(reporter.privateKey, Buffer.from(JSON.stringify(good))) }), 401, 'leak_signature_invalid'],
      [report(Array.from({ length: 1001 }, () => ({ token: 'x', type: 't' }))), 400, 'validation_failed'],
      [report([{ token: 'x'.repeat(4097), type: 't' }]), 400, 'validation_failed'],
      [report([]), 400, 'validation_failed'],
      [report({ token: t.access, type: 't' }), 400, 'validation_failed'],
      [report([{ token: t.access, type: 't', extra: 1 }]), 400, 'validation_failed'],
      [report(null, { raw: Buffer.from('[{"token": "') }), 400, 'malformed_json'],
      // A key named twice, and bytes that are not UTF-8: refused as every JSON body of the API is.
      [report(null, { raw: Buffer.from(`[{"token": "${t.access}", "token": "decoy", "type": "t"}]`) }), 400, 'malformed_request'],
      [report(null, { raw: Buffer.concat([Buffer.from('[{"token": "'), Buffer.from([0xff]), Buffer.from('", "type": "t"}]')]) }), 400, 'malformed_request'],
    ];
    for (const [pending, status, code] of refusals) {
      const res = await pending;
      expect({ status: res.statusCode, code: (res.json() as { error: { code: string } }).error.code }).toEqual({ status, code });
      expect(res.body).not.toContain(t.access);
    }
    // Over the report's body limit: refused on its content-length, over a real connection (the refusal drains what follows).
    const big = Buffer.alloc(LEAK_BODY_LIMIT_BYTES + 1, 0x20);
    const oversize = await request(`${base}/v1/leaks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'custody-leak-key-id': keyId, 'custody-leak-signature': signBody(reporter.privateKey, big) },
      body: big,
    });
    expect({ status: oversize.statusCode, code: ((await oversize.body.json()) as { error: { code: string } }).error.code }).toEqual({ status: 413, code: 'body_too_large' });

    expect(await token(t.id)).toMatchObject({ state: 'active' });
    expect({ ledger: await ledgerCount(), alerts: await alertCount() }).toEqual(before);
    // Refusals are counted, not stored.
    const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/custody_leak_reports_refused_total\{reason="key_unknown"\} 1/);
    expect(metrics).toMatch(/custody_leak_reports_refused_total\{reason="signature_invalid"\} 3/);
    expect(metrics).toMatch(/custody_leak_reports_refused_total\{reason="signature_missing"\} 2/);
  });

  it('manages reporters: P-256 only, one key id once, ledgered; a disabled key is refused', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey;
    for (const publicKey of [pem(rsa), pem(p384), 'not a key']) {
      const res = await h.app.inject({ method: 'POST', url: '/v1/leaks/reporters', headers: bearer(adminKey), payload: { name: 'other', keyId: 'k2', publicKey } });
      expect({ status: res.statusCode, code: res.json().error.code }).toEqual({ status: 400, code: 'leak_public_key_invalid' });
    }
    const dup = await h.app.inject({ method: 'POST', url: '/v1/leaks/reporters', headers: bearer(adminKey), payload: { name: 'again', keyId, publicKey: pem(p256().publicKey) } });
    expect({ status: dup.statusCode, code: dup.json().error.code }).toEqual({ status: 409, code: 'leak_reporter_exists' });
    const security = await keyFor(h, 'security');
    const byRole = await h.app.inject({ method: 'POST', url: '/v1/leaks/reporters', headers: bearer(security), payload: { name: 'x', keyId: 'k3', publicKey: pem(p256().publicKey) } });
    expect(byRole.statusCode).toBe(403);

    const rotating = p256();
    const added = await h.app.inject({ method: 'POST', url: '/v1/leaks/reporters', headers: bearer(adminKey), payload: { name: 'rotating', keyId: 'rotating-1', publicKey: pem(rotating.publicKey) } });
    const id = added.json().id as string;
    const list = await h.app.inject({ method: 'GET', url: '/v1/leaks/reporters', headers: bearer(security) });
    expect(list.json().items.map((r: { keyId: string }) => r.keyId).sort()).toEqual([keyId, 'rotating-1'].sort());
    const t = await register(false);
    const disabled = await h.app.inject({ method: 'POST', url: `/v1/leaks/reporters/${id}/disable`, headers: bearer(adminKey), payload: { reason: 'key rotated' } });
    expect(disabled.json()).toMatchObject({ state: 'disabled', disabledBy: expect.stringMatching(/^apikey:key_/) });
    const refused = await report([{ token: t.access, type: 'x' }], { keyId: 'rotating-1', key: rotating.privateKey });
    expect({ status: refused.statusCode, code: refused.json().error.code }).toEqual({ status: 401, code: 'leak_key_unknown' });
    expect(await token(t.id)).toMatchObject({ state: 'active' });
    const actions = await h.custody.storage.db.selectFrom('ledger_entries').select('action').where('subject_id', '=', id).orderBy('seq').execute();
    expect(actions.map((a) => a.action)).toEqual(['leak_reporter.added', 'leak_reporter.disabled']);
  });

  /** A refresh as the OAuth client writes it: a new access token, and a new refresh token when the issuer rotates it. */
  const refresh = async (t: { id: string }, rotate: boolean) => {
    const fp = (await h.custody.tokens.refreshView(t.id)).refreshFingerprint;
    const access = `at-${randomBytes(16).toString('hex')}`;
    const refreshToken = rotate ? `rt-${randomBytes(16).toString('hex')}` : null;
    await h.custody.tokens.unitOfWork((work) =>
      h.custody.tokens.replaceCredentials(work, t.id, fp, { access: new Secret(access), refresh: refreshToken ? new Secret(refreshToken) : null, accessExpiresAt: null, effectiveScopes: null }, { actor: 'test', data: {} }),
    );
    return { access, refresh: refreshToken };
  };

  it('follows a refresh: the new credentials match, and the replaced ones while the issuer may still honour them', async () => {
    const t = await register();
    const next = await refresh(t, true);
    const res = await report([next.access, next.refresh, t.access, t.refresh].map((token) => ({ token, type: 'custody_token' })));
    expect(res.json().map((i: { label: string }) => i.label)).toEqual(['true_positive', 'true_positive', 'true_positive', 'true_positive']);
    expect(await token(t.id)).toMatchObject({ state: 'revoked' });
    const reported = (await entries(t.id)).filter((e) => e.action === 'token.leak_reported').map((e) => JSON.parse(e.data).credential as string);
    expect(reported.sort()).toEqual(['access', 'previous_access', 'previous_refresh', 'refresh']);
    const retired = await h.custody.storage.db.selectFrom('token_retired_credentials').selectAll().where('token_id', '=', t.id).execute();
    // Fingerprints only (the credentials are nowhere in clear), kept an hour for an access token of unknown expiry, a day for a refresh token.
    expect(retired.map((r) => [r.credential, r.keep_until]).sort()).toEqual([
      ['access', new Date(NOW.getTime() + 3_600_000).toISOString()],
      ['refresh', new Date(NOW.getTime() + 86_400_000).toISOString()],
    ]);
    expect(JSON.stringify(retired)).not.toContain(t.access);
  });

  it('forgets a replaced credential once the issuer can no longer honour it (the expiry sweep)', async () => {
    const t = await register();
    const next = await refresh(t, false);
    try {
      clock.advance(3_600_000);
      await h.custody.tokens.expireDue();
      expect(await h.custody.storage.db.selectFrom('token_retired_credentials').selectAll().where('token_id', '=', t.id).execute()).toEqual([]);
      const res = await report([t.access, next.access, t.refresh].map((token) => ({ token, type: 'custody_token' })));
      expect(res.json().map((i: { label: string }) => i.label)).toEqual(['false_positive', 'true_positive', 'true_positive']);
    } finally {
      clock.set(NOW);
    }
  });

  it('lets staff check strings (admin, security), naming the token; other roles are refused', async () => {
    const t = await register();
    const security = await keyFor(h, 'security');
    for (const role of ['auditor', 'tenant_admin'] as const) {
      const res = await h.app.inject({ method: 'POST', url: '/v1/leaks/check', headers: bearer(await keyFor(h, role, role === 'tenant_admin' ? tenantId : undefined)), payload: { strings: [t.access] } });
      expect(res.statusCode).toBe(403);
    }
    expect(await token(t.id)).toMatchObject({ state: 'active' });
    const res = await h.app.inject({ method: 'POST', url: '/v1/leaks/check', headers: bearer(security), payload: { strings: ['nothing-like-it', t.refresh] } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      checked: 2,
      matched: 1,
      revoked: 1,
      items: [
        { index: 0, label: 'false_positive', tokenId: null, credential: null, state: null, revoked: false },
        { index: 1, label: 'true_positive', tokenId: t.id, credential: 'refresh', state: 'revoked', revoked: true },
      ],
    });
    expect(res.body).not.toContain(t.refresh);
    const ledger = await entries(t.id);
    expect(ledger.at(-1)).toMatchObject({ action: 'token.leak_reported' });
    expect(ledger.find((e) => e.action === 'token.revoked')).toMatchObject({ actor: expect.stringMatching(/^apikey:key_/) });
  });

  it('finds a token registered before a key-encryption key rotation (the fingerprint key is re-wrapped, never replaced)', async () => {
    const t = await register();
    addKeyVersion(keyFile, NOW);
    h.custody.keyring.reload();
    expect((await h.custody.keyRotation.rotate()).completed).toBe(true);
    expect(await h.custody.storage.db.selectFrom('data_keys').select('kek_version').where('owner_id', '=', 'sys:fingerprint').executeTakeFirstOrThrow()).toEqual({ kek_version: 2 });
    const res = await h.custody.leaks.check(h.admin, [t.access]);
    expect(res.items).toMatchObject([{ label: 'true_positive', tokenId: t.id, credential: 'access', revoked: true }]);
  });

  // The CLI is a client of the API above (checked on both databases): once is enough for it.
  it.skipIf(kind !== 'sqlite')('custody leaks check reads strings from stdin, revokes what they match, and never prints them in full', async () => {
    const t = await register();
    const miss = `not-a-token-${randomBytes(8).toString('hex')}`;
    const { child, done } = spawnCli(['leaks', 'check'], { CUSTODY_URL: base, CUSTODY_API_KEY: await keyFor(h, 'security') });
    child.stdin!.end(`\n  ${t.refresh}  \n${miss}\r\n`);
    const r = await done;
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Checked 2 strings: 1 matched a stored credential, 1 did not.');
    expect(r.stdout).toMatch(new RegExp(`2 +rt-\\S+ \\(35 chars\\) +${t.id} +refresh +revoked by this check`));
    for (const secret of [t.refresh, miss]) expect(r.stdout + r.stderr).not.toContain(secret);
    expect(await token(t.id)).toMatchObject({ state: 'revoked', state_reason: 'leaked' });

    const again = spawnCli(['leaks', 'check', '--json'], { CUSTODY_URL: base, CUSTODY_API_KEY: await keyFor(h, 'security') });
    again.child.stdin!.end(`${t.refresh}\n`);
    const json = JSON.parse((await again.done).stdout);
    expect(json).toMatchObject({ checked: 1, matched: 1, revoked: 0, items: [{ line: 1, label: 'true_positive', tokenId: t.id, state: 'revoked', revoked: false }] });
  });
});
