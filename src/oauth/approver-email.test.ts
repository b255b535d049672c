import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { bearer, keyFor, startHarness, type Harness } from '../../test/support/harness.ts';
import { connectThroughCustody, startTestIssuer, type TestIssuer } from '../../test/support/oidc.ts';

const PUBLIC_URL = 'http://127.0.0.1:7421';

/**
 * The approver's email is a claim the issuer vouches for, or nothing: taken from the ID token only
 * when email_verified is true, else from the issuer's userinfo endpoint (same subject, verified),
 * else left empty. The subject, not the email, is the approver's identity.
 */
describeEachDatabase('approver email', (kind) => {
  // One issuer puts the email in the ID token; the other, conforming strictly, only at userinfo.
  let inToken: TestIssuer;
  let atUserInfo: TestIssuer;
  let h: Harness;
  let tenantId: string;
  let key: string;
  const providers: Record<string, string> = {};

  beforeAll(async () => {
    const redirectUris = [`${PUBLIC_URL}/oauth/callback`];
    inToken = await startTestIssuer({ redirectUris });
    atUserInfo = await startTestIssuer({ redirectUris, idTokenClaims: 'subject' });
    h = await startHarness(kind, { env: { CUSTODY_PUBLIC_URL: PUBLIC_URL } });
    tenantId = (await h.custody.tenants.create(h.admin, { name: `acme-${randomBytes(3).toString('hex')}` })).id;
    key = await keyFor(h, 'tenant_admin', tenantId);
    for (const [name, issuer] of [['in-token', inToken], ['userinfo', atUserInfo]] as const) {
      providers[name] = (await h.custody.providers.create(h.admin, { name, issuer: issuer.issuer, development: true, clientId: issuer.clientId, clientSecret: issuer.clientSecret, apiBaseUrls: ['https://api.example.com/'] })).id;
    }
  });
  afterAll(async () => {
    await h?.close();
    await inToken?.close();
    await atUserInfo?.close();
  });

  const approverOf = async (provider: string, account: string) => {
    const r = await connectThroughCustody(h.app, { key, providerId: providers[provider]!, tenantId, account, publicUrl: PUBLIC_URL, scope: 'api:read' });
    expect(r.status, r.html).toBe(200);
    return (await h.app.inject({ url: `/v1/tokens/${r.tokenId}`, headers: bearer(key) })).json().approver as { subject: string; email: string | null };
  };
  const account = (prefix = 'user') => `${prefix}-${randomBytes(3).toString('hex')}`;

  it('records a verified email from the ID token', async () => {
    const who = account();
    expect(await approverOf('in-token', who)).toMatchObject({ subject: who, email: `${who}@customer.example` });
  });

  it('does not record an email the issuer has not verified, from the ID token or from userinfo', async () => {
    for (const provider of ['in-token', 'userinfo']) {
      const who = account('unverified');
      expect(await approverOf(provider, who)).toMatchObject({ subject: who, email: null });
    }
  });

  it('reads the email from the userinfo endpoint when the ID token carries none', async () => {
    const who = account();
    expect(await approverOf('userinfo', who)).toMatchObject({ subject: who, email: `${who}@customer.example` });
  });

  it('records the approver by subject alone when the issuer knows no email', async () => {
    const who = account('noemail');
    expect(await approverOf('userinfo', who)).toMatchObject({ subject: who, email: null });
  });
});
