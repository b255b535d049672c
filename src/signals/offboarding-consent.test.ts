import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fixedClock } from '../shared/clock.ts';
import { Secret } from '../shared/secret.ts';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { bearer, keyFor, startHarness, type Harness } from '../../test/support/harness.ts';
import { browserCookie, consent, startTestIssuer, type TestIssuer } from '../../test/support/oidc.ts';

/**
 * Approver offboarding against a real issuer (oidc-provider), both databases: once an approver is
 * recorded as having left, their own consent through a reauthorisation link is refused
 * (`approver_deactivated`, nothing changed), and another administrator's re-approval through a
 * link the platform's staff vouch for makes the token approved (approver active) again.
 */
const PUBLIC_URL = 'http://127.0.0.1:7420';
const NOW = new Date('2026-12-01T00:00:00.000Z');

describeEachDatabase('approver offboarding and consent', (kind) => {
  const clock = fixedClock(NOW);
  let issuer: TestIssuer;
  let h: Harness;
  let providerId: string;

  beforeAll(async () => {
    issuer = await startTestIssuer({ redirectUris: [`${PUBLIC_URL}/oauth/callback`] });
    h = await startHarness(kind, { clock, env: { CUSTODY_PUBLIC_URL: PUBLIC_URL } });
    providerId = (await h.custody.providers.create(h.admin, { name: 'issuer', issuer: issuer.issuer, development: true, clientId: issuer.clientId, clientSecret: issuer.clientSecret, apiBaseUrls: ['https://api.example.com/'] })).id;
  });
  afterAll(async () => {
    await h?.close();
    await issuer?.close();
  });

  const reauthoriseThrough = async (url: string, account: string) => {
    const opened = await h.app.inject({ method: 'POST', url: url.slice(PUBLIC_URL.length), headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '' });
    expect(opened.statusCode, opened.body).toBe(303);
    const back = await consent(String(opened.headers.location), account, `${PUBLIC_URL}/oauth/callback`);
    return h.app.inject({ url: back.slice(PUBLIC_URL.length), headers: { cookie: browserCookie(opened.headers['set-cookie']) } });
  };

  it('refuses the departed approver’s own consent, and accepts another administrator’s re-approval', async () => {
    const tenantId = (await h.custody.tenants.create(h.admin, { name: `acme-${randomBytes(3).toString('hex')}` })).id;
    const departed = `admin-${randomBytes(3).toString('hex')}`;
    const id = (
      await h.custody.tokens.register(h.admin, {
        tenantId,
        providerId,
        owner: 'team-integrations',
        subject: departed,
        approver: { subject: departed, issuer: issuer.issuer },
        purpose: 'sync invoices',
        scopes: ['api:read'],
        accessToken: new Secret(`at-${randomBytes(6).toString('hex')}`),
      })
    ).id;
    const adminKey = await keyFor(h, 'admin');
    const off = await h.app.inject({ method: 'POST', url: '/v1/approvers/deactivate', headers: bearer(adminKey), payload: { tenantId, issuer: issuer.issuer, subject: departed } });
    expect(off.json()).toMatchObject({ tokensFlagged: 1, tokenIds: [id] });

    const link = async () => {
      const made = await h.app.inject({ method: 'POST', url: `/v1/tokens/${id}/reauthorization`, headers: bearer(adminKey), payload: {} });
      expect(made.statusCode, made.body).toBe(201);
      return made.json().url as string;
    };
    const refused = await reauthoriseThrough(await link(), departed);
    expect(refused.statusCode).toBeGreaterThanOrEqual(400);
    expect(refused.body).toContain('approver_deactivated');
    expect(await h.custody.tokens.get(h.admin, id)).toMatchObject({ approver: { subject: departed, active: false } });

    const successor = `admin-${randomBytes(3).toString('hex')}`;
    const renewed = await reauthoriseThrough(await link(), successor);
    expect(renewed.statusCode, renewed.body).toBe(200);
    expect(await h.custody.tokens.get(h.admin, id)).toMatchObject({ state: 'active', approver: { subject: successor, active: true } });
  });
});
