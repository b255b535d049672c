import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { bearer, keyFor, startHarness, type Harness } from '../../test/support/harness.ts';
import { connectThroughCustody, startTestIssuer, type TestIssuer } from '../../test/support/oidc.ts';
import type { SuspensionKind } from '../tokens/token.suspension.ts';

const PUBLIC_URL = 'http://127.0.0.1:7420';

/**
 * Who may lift a suspension (DESIGN §9): a suspension records its kind, and a customer's new
 * consent lifts only the kinds the policy allows (by default the customer's own and a policy's),
 * unless a role that may resume started the consent. Otherwise the consent changes nothing, says
 * why, and what the issuer issued for it is revoked there.
 */
describeEachDatabase('suspension authority', (kind) => {
  let issuer: TestIssuer;
  let h: Harness;
  let tenantId: string;
  let providerId: string;
  let tenantAdmin: string;
  let security: string;

  beforeAll(async () => {
    issuer = await startTestIssuer({ redirectUris: [`${PUBLIC_URL}/oauth/callback`] });
    h = await startHarness(kind, { env: { CUSTODY_PUBLIC_URL: PUBLIC_URL } });
    tenantId = (await h.custody.tenants.create(h.admin, { name: `acme-${randomBytes(3).toString('hex')}` })).id;
    tenantAdmin = await keyFor(h, 'tenant_admin', tenantId);
    security = await keyFor(h, 'security');
    providerId = (await h.custody.providers.create(h.admin, { name: 'issuer', issuer: issuer.issuer, development: true, clientId: issuer.clientId, clientSecret: issuer.clientSecret, apiBaseUrls: ['https://api.example.com/'] })).id;
  });
  afterAll(async () => {
    await h?.close();
    await issuer?.close();
  });

  const consent = (account: string, key: string) => connectThroughCustody(h.app, { key, providerId, tenantId, account, publicUrl: PUBLIC_URL, scope: 'api:read' });
  const get = async (id: string) => (await h.app.inject({ url: `/v1/tokens/${id}`, headers: bearer(security) })).json();
  const suspendedToken = async (how: { key: string } | { kind: SuspensionKind }) => {
    const account = `user-${randomBytes(3).toString('hex')}`;
    const { tokenId } = await consent(account, tenantAdmin);
    if ('key' in how) {
      expect((await h.app.inject({ method: 'POST', url: `/v1/tokens/${tokenId}/suspend`, headers: bearer(how.key), payload: { reason: 'incident 42' } })).statusCode).toBe(200);
    } else {
      // A governance policy or a security signal (later issues) suspends through the same unit of work.
      await h.custody.tokens.unitOfWork(async (w) => w.transition(await w.row(tokenId!), 'suspend', `system:${how.kind}`, 'dormant for 90 days', { suspensionKind: how.kind }));
    }
    return { tokenId: tokenId!, account };
  };

  it('records who suspended a token: the security team, the customer, a policy', async () => {
    expect((await get((await suspendedToken({ key: security })).tokenId)).suspensionKind).toBe('security');
    expect((await get((await suspendedToken({ key: tenantAdmin })).tokenId)).suspensionKind).toBe('customer');
    const { tokenId } = await suspendedToken({ kind: 'policy' });
    expect(await get(tokenId)).toMatchObject({ state: 'suspended', suspensionKind: 'policy' });
    const [entry] = await h.custody.ledger.list({ subjectId: tokenId, action: 'token.suspended', order: 'desc', limit: 1 });
    expect(entry!.data).toMatchObject({ kind: 'policy' });
  });

  it('keeps a security suspension through a tenant admin’s consent: no change, a reason, and the new grant revoked at the issuer', async () => {
    const { tokenId, account } = await suspendedToken({ key: security });
    const before = await get(tokenId);
    const r = await consent(account, tenantAdmin);
    expect(r.status).toBe(400);
    expect(r.html).toContain('suspension_not_liftable');
    expect(r.html).toContain('security team');
    const after = await get(tokenId);
    expect(after).toMatchObject({ state: 'suspended', suspensionKind: 'security', updatedAt: before.updatedAt });
    expect(after.approver.approvedAt).toBe(before.approver.approvedAt);
    const [failed] = await h.custody.ledger.list({ tenantId, action: 'oauth.consent_failed', order: 'desc', limit: 1 });
    expect(failed!.data).toMatchObject({ error: 'suspension_not_liftable' });
  });

  it('keeps a security suspension through the token’s revocation and a new consent: the successor starts suspended, held for the security team', async () => {
    const { tokenId, account } = await suspendedToken({ key: security });
    // The customer's administrator may revoke (it only restricts)…
    expect((await h.app.inject({ method: 'POST', url: `/v1/tokens/${tokenId}/revoke`, headers: bearer(tenantAdmin), payload: { reason: 'starting over' } })).statusCode).toBe(200);
    // …but connecting the same account again does not escape the hold.
    const r = await consent(account, tenantAdmin);
    expect(r.status, r.html).toBe(200);
    expect(r.html).toContain('held suspended');
    expect(r.tokenId).not.toBe(tokenId);
    const successor = await get(r.tokenId!);
    expect(successor).toMatchObject({ state: 'suspended', suspensionKind: 'security', predecessorId: tokenId });
    expect(successor.stateReason).toContain(`predecessor ${tokenId}`);
    // A revoked token shows no suspension kind; the tenant admin still cannot resume its successor; the security team can.
    expect((await get(tokenId)).suspensionKind).toBeNull();
    expect((await h.app.inject({ method: 'POST', url: `/v1/tokens/${r.tokenId}/resume`, headers: bearer(tenantAdmin), payload: { reason: 'x' } })).statusCode).toBe(403);
    expect((await h.app.inject({ method: 'POST', url: `/v1/tokens/${r.tokenId}/resume`, headers: bearer(security), payload: { reason: 'investigated' } })).statusCode).toBe(200);
  });

  it('lets a new consent after revoking a customer-suspended or resumed token start active', async () => {
    for (const how of [{ key: tenantAdmin }, { kind: 'policy' as const }]) {
      const { tokenId, account } = await suspendedToken(how);
      expect((await h.app.inject({ method: 'POST', url: `/v1/tokens/${tokenId}/revoke`, headers: bearer(tenantAdmin), payload: { reason: 'starting over' } })).statusCode).toBe(200);
      const r = await consent(account, tenantAdmin);
      expect(r.status, r.html).toBe(200);
      expect(await get(r.tokenId!)).toMatchObject({ state: 'active', predecessorId: tokenId });
    }
    // Resumed by the security team before it was revoked: no hold left.
    const { tokenId, account } = await suspendedToken({ key: security });
    expect((await h.app.inject({ method: 'POST', url: `/v1/tokens/${tokenId}/resume`, headers: bearer(security), payload: { reason: 'cleared' } })).statusCode).toBe(200);
    expect((await h.app.inject({ method: 'POST', url: `/v1/tokens/${tokenId}/revoke`, headers: bearer(tenantAdmin), payload: { reason: 'starting over' } })).statusCode).toBe(200);
    expect(await get((await consent(account, tenantAdmin)).tokenId!)).toMatchObject({ state: 'active' });
  });

  it('lifts a dormancy (policy) suspension, and the customer’s own, by the customer’s consent', async () => {
    for (const how of [{ kind: 'policy' as const }, { key: tenantAdmin }]) {
      const { tokenId, account } = await suspendedToken(how);
      const r = await consent(account, tenantAdmin);
      expect(r.status, r.html).toBe(200);
      expect(r.tokenId).toBe(tokenId);
      expect(await get(tokenId)).toMatchObject({ state: 'active', suspensionKind: null });
    }
  });

  it('lifts a security suspension when the security team itself started the consent', async () => {
    const { tokenId, account } = await suspendedToken({ key: security });
    const r = await consent(account, security);
    expect(r.status, r.html).toBe(200);
    expect(await get(tokenId)).toMatchObject({ state: 'active', suspensionKind: null });
  });

  it('still refuses a tenant admin’s resume with 403', async () => {
    const { tokenId } = await suspendedToken({ kind: 'policy' });
    const r = await h.app.inject({ method: 'POST', url: `/v1/tokens/${tokenId}/resume`, headers: bearer(tenantAdmin), payload: { reason: 'x' } });
    expect(r.statusCode).toBe(403);
  });
});
