import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { startGatewayFixture, type GatewayFixture } from '../../test/support/gateway-fixture.ts';
import { connectThroughCustody, startTestIssuer, type TestIssuer } from '../../test/support/oidc.ts';
import { Secret } from '../shared/secret.ts';
import type { TokenService } from './token.service.ts';

const PUBLIC_URL = 'http://127.0.0.1:7420';

/**
 * Every way a token record is written tells the gateway, so a changed token is never served stale
 * from its cache. The gateway's periodic re-read is set to a minute here: every prompt change
 * below comes from the token owner's unit of work telling the cache, not from the re-read.
 */
describeEachDatabase('every token write reaches the gateway', (kind) => {
  let f: GatewayFixture;
  let issuer: TestIssuer;
  let oidcProvider: string;
  let tokens: TokenService;
  let changed: Set<string>;

  beforeAll(async () => {
    issuer = await startTestIssuer({ redirectUris: [`${PUBLIC_URL}/oauth/callback`] });
    f = await startGatewayFixture(kind, { env: { CUSTODY_GATEWAY_RECHECK_MS: '60000', CUSTODY_PUBLIC_URL: PUBLIC_URL }, oauth: { requestTimeoutMs: 3000, refreshRetryBaseMs: 20 } });
    tokens = f.h.custody.tokens;
    tokens.onCommittedChanged((id) => changed.add(id));
    // An issuer's tokens whose API is the echo upstream: consent, refresh and upstream revocation are real.
    oidcProvider = await f.createProvider({
      issuer: issuer.issuer,
      tokenEndpoint: undefined,
      clientId: issuer.clientId,
      clientSecret: issuer.clientSecret,
      scopeRules: [{ method: 'GET', pathPattern: '/invoices/**', scope: 'api:read' }],
    });
  });
  afterAll(async () => {
    await f?.close();
    await issuer?.close();
  });
  beforeEach(() => {
    changed = new Set();
  });

  const call = async (tokenId: string) => {
    const r = await f.call(tokenId, '/invoices/1');
    // What the provider received for this call is its echo (not the last entry of the upstream's shared list).
    return { status: r.status, code: r.status === 200 ? null : (r.json().error.code as string), bearer: r.status === 200 ? (r.json().headers.authorization as string) : undefined };
  };
  const consent = async (account: string) => {
    const done = await connectThroughCustody(f.h.app, { key: f.adminKey, providerId: oidcProvider, tenantId: f.tenantA, account, publicUrl: PUBLIC_URL, scope: 'api:read' });
    expect(done.status).toBe(200);
    return done.tokenId!;
  };
  /** A consented token the workload may use, served once so the gateway has it cached. */
  const consentedAndCached = async () => {
    const id = await consent(`user-${randomBytes(3).toString('hex')}`);
    await tokens.patch(f.h.admin, id, { workloads: ['billing-sync'] });
    expect(await call(id)).toMatchObject({ status: 200 });
    return id;
  };
  const cached = async () => {
    const id = await f.createToken(f.providerId);
    expect(await call(id)).toMatchObject({ status: 200 });
    return id;
  };

  it('patch: a workload removed is refused at once', async () => {
    const id = await cached();
    await tokens.patch(f.h.admin, id, { workloads: ['reporting'] });
    expect(await call(id)).toMatchObject({ status: 403, code: 'workload_not_allowed' });
  });

  it('suspend, resume and revoke take effect on the next call', async () => {
    const id = await cached();
    await tokens.transition(f.h.admin, id, 'suspend', 'test');
    expect(await call(id)).toMatchObject({ status: 403, code: 'token_suspended' });
    await tokens.transition(f.h.admin, id, 'resume', 'test');
    expect(await call(id)).toMatchObject({ status: 200 });
    await tokens.transition(f.h.admin, id, 'revoke', 'test');
    expect(await call(id)).toMatchObject({ status: 403, code: 'token_revoked' });
  });

  it('bulk revocation takes effect on the next call', async () => {
    const id = await cached();
    await tokens.bulkRevoke(f.h.admin, { ids: [id], reason: 'test' });
    expect(await call(id)).toMatchObject({ status: 403, code: 'token_revoked' });
  });

  it('the expiry sweep takes effect on the next call', async () => {
    const id = await f.h.custody.tokens
      .register(f.h.admin, { tenantId: f.tenantA, providerId: f.providerId, owner: 'o', workloads: ['billing-sync'], scopes: ['invoices.read'], accessToken: new Secret('at-expiring'), accessExpiresAt: '2020-01-01T00:00:00Z' })
      .then((t) => t.id);
    expect(await call(id)).toMatchObject({ status: 200 });
    expect(await tokens.expireDue()).toBeGreaterThanOrEqual(1);
    expect(await call(id)).toMatchObject({ status: 403, code: 'token_expired' });
  });

  it('a refresh: the next call carries the new access token', async () => {
    const id = await consentedAndCached();
    const before = (await call(id)).bearer;
    const r = await f.h.app.inject({ method: 'POST', url: `/v1/tokens/${id}/refresh`, headers: { authorization: `Bearer ${f.adminKey}` }, payload: {} });
    expect(r.json()).toMatchObject({ refreshed: true });
    const after = (await call(id)).bearer;
    expect(after).toMatch(/^Bearer /);
    expect(after).not.toBe(before);
  });

  it('a reauthorisation by consent: the suspended token is served again, with its new credential', async () => {
    const account = `user-${randomBytes(3).toString('hex')}`;
    const id = await consent(account);
    await tokens.patch(f.h.admin, id, { workloads: ['billing-sync'] });
    const before = (await call(id)).bearer;
    await tokens.transition(f.h.admin, id, 'suspend', 'dormant');
    expect(await call(id)).toMatchObject({ status: 403, code: 'token_suspended' });
    expect(await consent(account)).toBe(id);
    const after = await call(id);
    expect(after.status).toBe(200);
    expect(after.bearer).not.toBe(before);
  });

  it('a refresh the issuer refuses (the customer revoked upstream): refused at once as revoked', async () => {
    const id = await consentedAndCached();
    const { refresh } = await tokens.revealCredentials(id);
    const revoked = await fetch(`${issuer.issuer}/token/revocation`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${issuer.clientId}:${issuer.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: refresh!.reveal(), token_type_hint: 'refresh_token' }),
    });
    expect(revoked.status).toBe(200);
    const r = await f.h.app.inject({ method: 'POST', url: `/v1/tokens/${id}/refresh`, headers: { authorization: `Bearer ${f.adminKey}` }, payload: {} });
    expect(r.json().error.code).toBe('refresh_refused');
    expect(await call(id)).toMatchObject({ status: 403, code: 'token_revoked' });
  });

  /**
   * The completeness check: every operation of the token service is either a reader, a listener
   * registration, or a writer; each writer is run here and must tell the committed-change
   * listeners (the gateway's cache among them) about the token it wrote. A new operation fails
   * this test until it is classified, and, if it writes, shown to notify.
   */
  it('classifies every token operation, and every writer notifies once its unit of work commits', async () => {
    const readers = ['get', 'list', 'revocationProgress', 'counts', 'findByCredential', 'findByFingerprints', 'findForSubject', 'accessView', 'refreshView', 'revealCredentials', 'revealAccessToken', 'countByState', 'facts', 'managedCounts', 'reauthorisationTarget', 'tenantsOfSubject', 'reauthorizable', 'matchImport', 'reportQueries'];
    // Derived data, not a change of the token: the risk score is never read by the gateway, and its
    // write must not notify (a notification re-evaluates findings, which would write it again).
    const derived = ['recordRiskScores'];
    // A namespace of writers, each checked below.
    const namespaces = ['reviews'];
    const registrations = ['onTransition', 'onChange', 'onCommittedChange', 'onCommittedChanged', 'onCommittedInsert', 'unitOfWork'];
    const approval = { subject: 'someone', email: null, issuer: issuer.issuer, startedBy: 'apikey:test', flowId: 'flw_test' };
    const creds = () => ({ access: new Secret(`at-${randomBytes(4).toString('hex')}`), refresh: new Secret(`rt-${randomBytes(4).toString('hex')}`), accessExpiresAt: null, scopes: ['invoices.read'] });
    const fresh = () => f.createToken(f.providerId);
    const writers: Record<string, () => Promise<string>> = {
      register: async () => (await tokens.register(f.h.admin, { tenantId: f.tenantA, providerId: f.providerId, owner: 'o', scopes: [], accessToken: new Secret(`x-${Math.random()}`) })).id,
      insert: () => tokens.unitOfWork((w) => tokens.insert(w, 'test', { tenantId: f.tenantA, providerId: f.providerId, owner: 'o', scopes: [], accessToken: new Secret('x') })),
      patch: async () => (await tokens.patch(f.h.admin, await fresh(), { owner: 'someone-else' })).id,
      transition: async () => (await tokens.transition(f.h.admin, await fresh(), 'suspend', 'test')).id,
      bulkRevoke: async () => {
        const id = await fresh();
        await tokens.bulkRevoke(f.h.admin, { ids: [id], reason: 'test' });
        return id;
      },
      expireDue: async () => {
        const id = (await tokens.register(f.h.admin, { tenantId: f.tenantA, providerId: f.providerId, owner: 'o', scopes: [], accessToken: new Secret(`x-${Math.random()}`), accessExpiresAt: '2020-01-01T00:00:00Z' })).id;
        changed.clear();
        await tokens.expireDue();
        return id;
      },
      createFromConsent: () =>
        tokens.unitOfWork((w) => tokens.createFromConsent(w, { tenantId: f.tenantA, providerId: f.providerId, owner: 'o', purpose: null, predecessorId: null }, approval, creds())),
      justify: async () => (await tokens.justify(f.h.admin, await fresh(), 'still needed')).id,
      renewApproval: async () => {
        const id = await fresh();
        changed.clear();
        await tokens.unitOfWork((w) => tokens.renewApproval(w, id, approval, creds()));
        return id;
      },
      reauthorise: async () => {
        const id = await fresh();
        await tokens.transition(f.h.admin, id, 'suspend', 'test');
        changed.clear();
        await tokens.unitOfWork((w) => tokens.reauthorise(w, id, approval, creds()));
        return id;
      },
      replaceCredentials: async () => {
        const id = await fresh();
        const view = await tokens.refreshView(id);
        await tokens.unitOfWork((w) => tokens.replaceCredentials(w, id, view.refreshFingerprint, { ...creds(), effectiveScopes: null }, { actor: 'test', data: {} }));
        return id;
      },
      revokeByIssuer: async () => {
        const id = await fresh();
        await tokens.unitOfWork((w) => tokens.revokeByIssuer(w, id, 'issuer', 'test'));
        return id;
      },
      reassignOwner: async () => {
        const id = await fresh();
        const { owner } = await tokens.get(f.h.admin, id);
        changed.clear();
        await tokens.unitOfWork((w) => tokens.reassignOwner(w, owner, `owner-${randomBytes(4).toString('hex')}`, 'test', 'test'));
        return id;
      },
      recordWantedScope: async () => {
        const id = await fresh();
        const view = await tokens.refreshView(id);
        // Narrowed to nothing: a call then wants the granted scope back.
        await tokens.unitOfWork((w) => tokens.replaceCredentials(w, id, view.refreshFingerprint, { ...creds(), effectiveScopes: [] }, { actor: 'test', data: {} }));
        changed.clear();
        await tokens.unitOfWork((w) => tokens.recordWantedScope(w, id, view.grantedScopes[0]!, { actor: 'test', workload: null }));
        return id;
      },
      importBatch: async () => {
        const [outcome] = await tokens.unitOfWork((w) => tokens.importBatch(w, 'test', [{ tenantId: f.tenantA, providerId: f.providerId, externalId: `ext-${randomBytes(4).toString('hex')}`, owner: 'o', scopes: [] }]));
        return outcome!.tokenId!;
      },
      recordUpstreamOutcome: async () => {
        const id = await fresh();
        await tokens.transition(f.h.admin, id, 'revoke', 'test');
        changed.clear();
        await tokens.unitOfWork((w) => tokens.recordUpstreamOutcome(w, id, 'verified', new Date().toISOString()));
        return id;
      },
    };
    const reviewWriters: Record<string, () => Promise<string>> = {
      justify: async () => {
        const id = await fresh();
        const ops = await tokens.reviews.prepare();
        await tokens.unitOfWork((w) => ops.justify(w, id, 'test', 'still needed'));
        return id;
      },
      revoke: async () => {
        const id = await fresh();
        const ops = await tokens.reviews.prepare();
        await tokens.unitOfWork((w) => ops.revoke(w, id, 'test', 'not needed'));
        return id;
      },
      changeOwner: async () => {
        const id = await fresh();
        const ops = await tokens.reviews.prepare();
        await tokens.unitOfWork((w) => ops.changeOwner(w, id, `owner-${randomBytes(4).toString('hex')}`, 'test', 'moved'));
        return id;
      },
      makeReviewDue: async () => {
        const id = await fresh();
        const ops = await tokens.reviews.prepare();
        await tokens.unitOfWork((w) => ops.makeReviewDue(w, [id], new Date(Date.now() - 60_000).toISOString(), 'test', 'escalated'));
        return id;
      },
    };
    expect(Object.keys(tokens).sort()).toEqual([...readers, ...registrations, ...derived, ...namespaces, ...Object.keys(writers)].sort());
    expect(Object.keys(tokens.reviews).sort()).toEqual(['countInScope', 'pageInScope', 'prepare']);
    const reviewOps = await tokens.reviews.prepare();
    expect(Object.keys(reviewOps).sort()).toEqual(['current', ...Object.keys(reviewWriters)].sort());
    for (const [name, write] of Object.entries(reviewWriters)) writers[`reviews.${name}`] = write;
    for (const [name, write] of Object.entries(writers)) {
      changed.clear();
      const id = await write();
      expect({ name, notified: changed.has(id) }).toEqual({ name, notified: true });
    }
  });

  it('tells nobody about a unit of work that rolled back', async () => {
    const id = await cached();
    changed.clear();
    await expect(
      tokens.unitOfWork(async (w) => {
        await tokens.revokeByIssuer(w, id, 'issuer', 'test');
        throw new Error('something later in the same transaction failed');
      }),
    ).rejects.toThrow(/later/);
    expect(changed.has(id)).toBe(false);
    expect(await call(id)).toMatchObject({ status: 200 });
    expect((await tokens.get(f.h.admin, id)).state).toBe('active');
  });
});
