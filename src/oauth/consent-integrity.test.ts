import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { keyFor, startHarness, type Harness } from '../../test/support/harness.ts';
import { connectThroughCustody, startTestIssuer, type TestIssuer } from '../../test/support/oidc.ts';
import { eventually } from '../../test/support/wait.ts';
import { CustodyError } from '../shared/errors.ts';
import { Secret } from '../shared/secret.ts';
import type { IssuedCredentials } from '../tokens/token.operations.ts';

const PUBLIC_URL = 'http://127.0.0.1:7420';

/**
 * What a consent leaves behind when it cannot be recorded, and what a revocation may conclude
 * about the issuer: no grant lives on at the issuer outside the inventory, and a token string
 * Custody was merely handed cannot vouch for a provider's revocation path.
 */
describeEachDatabase('consent and revocation integrity', (kind) => {
  let issuer: TestIssuer;
  let h: Harness;
  let tenantId: string;
  let providerId: string;
  let key: string;

  beforeAll(async () => {
    issuer = await startTestIssuer({ redirectUris: [`${PUBLIC_URL}/oauth/callback`] });
    h = await startHarness(kind, { env: { CUSTODY_PUBLIC_URL: PUBLIC_URL }, oauth: { requestTimeoutMs: 3000, outbox: { pollMs: 20, baseDelayMs: 50, maxDelayMs: 200, leaseMs: 1000 } } });
    tenantId = (await h.custody.tenants.create(h.admin, { name: `acme-${randomBytes(3).toString('hex')}` })).id;
    key = await keyFor(h, 'tenant_admin', tenantId);
    providerId = (await h.custody.providers.create(h.admin, { name: 'issuer', issuer: issuer.issuer, development: true, clientId: issuer.clientId, clientSecret: issuer.clientSecret, apiBaseUrls: ['https://api.example.com/'] })).id;
  });
  afterAll(async () => {
    await h?.close();
    await issuer?.close();
  });

  const activeAtIssuer = async (token: string) => {
    const r = await fetch(`${issuer.issuer}/token/introspection`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${issuer.clientId}:${issuer.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    });
    return ((await r.json()) as { active: boolean }).active;
  };
  const connect = (account: string) => connectThroughCustody(h.app, { key, providerId, tenantId, account, publicUrl: PUBLIC_URL, scope: 'api:read' });
  const upstreamOutcome = (id: string) =>
    eventually(
      async () => {
        await h.custody.outbox.runOnce();
        const t = await h.custody.tokens.get(h.admin, id);
        return t.revocation?.upstream !== 'pending' && t;
      },
      { what: 'the upstream revocation to be recorded' },
    );

  it('revokes at the issuer what it issued when the approval cannot be recorded, and says so on a page and in the ledger', async () => {
    const account = `user-${randomBytes(3).toString('hex')}`;
    const first = await connect(account);
    // Suspended by the customer's own administrator: a kind their new consent may lift.
    await h.custody.tokens.transition({ ...h.admin, role: 'tenant_admin', tenantId }, first.tokenId!, 'suspend', 'paused by the customer');
    // The record changes under the consent (as a concurrent consent or revocation would): recording fails.
    const { reauthorise } = h.custody.tokens;
    let issued: IssuedCredentials | undefined;
    h.custody.tokens.reauthorise = async (_work, _id, _approval, credentials) => {
      issued = credentials;
      throw new CustodyError('illegal_transition', 'the token changed state concurrently');
    };
    try {
      const again = await connect(account);
      expect(again.status).toBe(400);
      expect(again.html).toContain('not_recorded');
      expect(again.html).toContain('revoked there');
    } finally {
      h.custody.tokens.reauthorise = reauthorise;
    }
    expect(issued).toBeDefined();
    expect(await activeAtIssuer(issued!.access.reveal())).toBe(false);
    expect(await activeAtIssuer(issued!.refresh!.reveal())).toBe(false);
    expect((await h.custody.tokens.get(h.admin, first.tokenId!)).state).toBe('suspended');
    const [failed] = await h.custody.ledger.list({ tenantId, action: 'oauth.consent_failed', order: 'desc', limit: 1 });
    expect(failed!.data).toMatchObject({ error: 'not_recorded' });
  });

  it('verifies the provider’s revocation path only by a token Custody obtained from the issuer, not one it was handed', async () => {
    const isVerified = async () => (await h.custody.providers.get(providerId)).revocation.verified;
    expect(await isVerified()).toBe(false);
    // A string the issuer never issued: it answers "inactive" to it all the same, so its revocation is not called verified.
    const made = await h.custody.tokens.register(h.admin, { tenantId, providerId, owner: 'o', scopes: [], accessToken: new Secret(`made-up-${randomBytes(8).toString('hex')}`) });
    await h.custody.tokens.transition(h.admin, made.id, 'revoke', 'test');
    expect((await upstreamOutcome(made.id)).revocation!.upstream).toBe('unverifiable');
    const [entry] = await h.custody.ledger.list({ tenantId, action: 'token.upstream_revocation', order: 'desc', limit: 1 });
    expect(entry!.subjectId).toBe(made.id);
    expect(String(entry!.data.reason)).toContain('did not report it active before its revocation');
    expect(await isVerified()).toBe(false);
    // A consented token: its revocation, confirmed by introspection, proves the path.
    const consented = await connect(`user-${randomBytes(3).toString('hex')}`);
    await h.custody.tokens.transition(h.admin, consented.tokenId!, 'revoke', 'test');
    expect((await upstreamOutcome(consented.tokenId!)).revocation!.upstream).toBe('verified');
    expect(await isVerified()).toBe(true);
  });

  it('verifies the revocation of a registered credential only when the issuer reported it active just before', async () => {
    // Credentials the issuer really issued (through a consent), handed to Custody again by registration in another tenant.
    const consented = await connect(`user-${randomBytes(3).toString('hex')}`);
    const { access, refresh } = await h.custody.tokens.revealCredentials(consented.tokenId!);
    // As if Custody had never held them (registration refuses a credential already in the inventory).
    await h.custody.storage.db.updateTable('tokens').set({ access_fp: `test-${randomBytes(8).toString('hex')}`, refresh_fp: null }).where('id', '=', consented.tokenId!).execute();
    const other = (await h.custody.tenants.create(h.admin, { name: `other-${randomBytes(3).toString('hex')}` })).id;
    const registered = await h.custody.tokens.register(h.admin, { tenantId: other, providerId, owner: 'o', scopes: [], accessToken: access, refreshToken: refresh ?? undefined });
    const introspections = issuer.counts.introspection;
    await h.custody.tokens.transition(h.admin, registered.id, 'revoke', 'test');
    expect((await upstreamOutcome(registered.id)).revocation!.upstream).toBe('verified');
    // Both credentials introspected before the revocation and after it.
    expect(issuer.counts.introspection - introspections).toBe(4);
    expect(await activeAtIssuer(access.reveal())).toBe(false);
    // A consented token needs no check first: the issuer issued its credentials to Custody.
    await h.custody.tokens.transition(h.admin, consented.tokenId!, 'revoke', 'test');
    expect((await upstreamOutcome(consented.tokenId!)).revocation!.upstream).toBe('verified');
  });
});
