import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { bearer, keyFor, startHarness, type Harness } from '../../test/support/harness.ts';
import { connectThroughCustody, startTestIssuer, type TestIssuer } from '../../test/support/oidc.ts';

const PUBLIC_URL = 'http://127.0.0.1:7420';

/**
 * Consent is written whole: the new record and its approval (approver, who started it, the flow's
 * outcome, `token.approved`) commit in one transaction. A process killed with SIGKILL at the point
 * where consent used to commit the record and then, in a second transaction, its approval, leaves
 * no record at all, never a half-approved one; the customer simply consents again.
 */
describeEachDatabase('consent survives a crash mid-write', (kind) => {
  let issuer: TestIssuer;
  let h: Harness;
  let tenantId: string;
  let providerId: string;
  let key: string;

  beforeAll(async () => {
    issuer = await startTestIssuer({ redirectUris: [`${PUBLIC_URL}/oauth/callback`] });
    h = await startHarness(kind, { env: { CUSTODY_PUBLIC_URL: PUBLIC_URL } });
    tenantId = (await h.custody.tenants.create(h.admin, { name: `acme-${randomBytes(3).toString('hex')}` })).id;
    key = await keyFor(h, 'tenant_admin', tenantId);
    providerId = (
      await h.custody.providers.create(h.admin, { name: 'issuer', issuer: issuer.issuer, development: true, clientId: issuer.clientId, clientSecret: issuer.clientSecret, apiBaseUrls: ['https://api.example.com/'] })
    ).id;
  });
  afterAll(async () => {
    await h?.close();
    await issuer?.close();
  });

  it('leaves no record, not a half-approved one, when killed while writing the approval; consenting again then works', async () => {
    const account = `crash-${randomBytes(3).toString('hex')}`;
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/consent-crash-child.ts'], {
      env: {
        ...process.env,
        CUSTODY_DATABASE_URL: h.db.kind === 'sqlite' ? h.db.file! : h.db.url!,
        CUSTODY_KEYRING: h.config.keyring.kind === 'inline' ? h.config.keyring.value : '',
        CUSTODY_PUBLIC_URL: PUBLIC_URL,
        CHILD_PROVIDER_ID: providerId,
        CHILD_TENANT_ID: tenantId,
        CHILD_KEY: key,
        CHILD_ACCOUNT: account,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += String(d)));
    child.stderr.on('data', (d) => (out += String(d)));
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, s) => resolve(s)));
    expect(out).toContain('DYING');
    expect(signal).toBe('SIGKILL');

    // Nothing of the token was kept: no record, no registration, no approval.
    const tokens = (await h.custody.tokens.list(h.admin, { tenantId, q: account, limit: 10 })).items;
    expect(tokens).toEqual([]);
    const actions = (await h.custody.ledger.list({ tenantId, order: 'asc', limit: 100 })).map((e) => e.action);
    expect(actions).toContain('oauth.consent_started');
    expect(actions).not.toContain('token.registered');
    expect(actions).not.toContain('token.approved');
    expect((await h.custody.ledger.verify()).ok).toBe(true);

    // The customer starts again and this time it completes, whole.
    const again = await connectThroughCustody(h.app, { key, providerId, tenantId, account, publicUrl: PUBLIC_URL });
    expect(again.status).toBe(200);
    const t = (await h.app.inject({ url: `/v1/tokens/${again.tokenId}`, headers: bearer(key) })).json();
    expect(t).toMatchObject({ state: 'active', subject: account, approver: { subject: account, startedBy: expect.stringMatching(/^apikey:/) } });
  });
});
