import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES, describePostgres } from '../../test/support/databases.ts';
import { startHarness, type Harness } from '../../test/support/harness.ts';
import { startGatewayFixture, type GatewayFixture } from '../../test/support/gateway-fixture.ts';
import { eventually } from '../../test/support/wait.ts';

// Two server instances on one PostgreSQL database: what one revokes, the other enforces.
describePostgres('gateway revocation across instances', (kind) => {
  let a: GatewayFixture;
  let b: Harness;
  let bBase: string;

  beforeAll(async () => {
    // The periodic re-check is long here, so the prompt denials below come from NOTIFY (or reconnect).
    a = await startGatewayFixture(kind, { env: { CUSTODY_GATEWAY_RECHECK_MS: '60000' } });
    const keyring = a.h.config.keyring.kind === 'inline' ? a.h.config.keyring.value : '';
    b = await startHarness(kind, { database: a.h.db, keyring, env: { CUSTODY_GATEWAY_RECHECK_MS: '60000' } });
    await a.h.custody.gateway.start();
    await b.custody.gateway.start();
    await b.app.listen({ host: '127.0.0.1', port: 0 });
    bBase = `http://127.0.0.1:${(b.app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await b.close();
    await a.close();
  });

  const callB = async (tokenId: string) => {
    const res = await request(`${bBase}/gw/${tokenId}/invoices/1`, { headers: { authorization: `Bearer ${a.keyA}` } });
    const body = (await res.body.json()) as { error?: { code: string } };
    return { status: res.statusCode, code: body.error?.code ?? null };
  };

  it('enforces on instance B a revoke made on instance A', async () => {
    const token = await a.createToken(a.providerId);
    expect(await callB(token)).toEqual({ status: 200, code: null }); // B has it cached as active
    const revoke = await a.h.app.inject({ method: 'POST', url: `/v1/tokens/${token}/revoke`, headers: { authorization: `Bearer ${a.adminKey}` }, payload: { reason: 'incident' } });
    expect(revoke.statusCode).toBe(200);
    await eventually(async () => (await callB(token)).status === 403, { what: 'instance B to deny the token' });
    expect(await callB(token)).toEqual({ status: 403, code: 'token_revoked' });
  });

  it('enforces a suspension on instance B too', async () => {
    const token = await a.createToken(a.providerId);
    expect((await callB(token)).status).toBe(200);
    await a.h.custody.tokens.transition(a.h.admin, token, 'suspend', 'review');
    await eventually(async () => (await callB(token)).status === 403, { what: 'instance B to deny the token' });
    expect(await callB(token)).toEqual({ status: 403, code: 'token_suspended' });
  });

  it('enforces on instance B a bulk revocation made on A (announced once, not per token)', async () => {
    const ids = await Promise.all(Array.from({ length: 150 }, () => a.createToken(a.providerId)));
    for (const id of ids.slice(0, 5)) expect((await callB(id)).status).toBe(200); // cached on B as active
    const r = await a.h.custody.tokens.bulkRevoke(a.h.admin, { ids, reason: 'incident' });
    expect(r.revoked).toBe(150);
    await eventually(async () => (await callB(ids[0]!)).status === 403, { what: 'instance B to deny the tokens' });
    for (const id of ids.slice(0, 5)) expect(await callB(id)).toEqual({ status: 403, code: 'token_revoked' });
  });

  it("still enforces the revoke when B's NOTIFY connection was dropped", async () => {
    const token = await a.createToken(a.providerId);
    expect((await callB(token)).status).toBe(200);
    const admin = new pg.Client({ connectionString: a.h.db.url });
    await admin.connect();
    const killed = await admin.query(
      "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'custody-listener' and datname = current_database()",
    );
    await admin.end();
    expect(killed.rowCount).toBeGreaterThanOrEqual(2);
    // Revoke while B is (probably) still without its listener: the notification is lost for B.
    await a.h.custody.tokens.transition(a.h.admin, token, 'revoke', 'incident');
    await eventually(async () => (await callB(token)).status === 403, { what: 'instance B to deny the token' });
    expect(await callB(token)).toEqual({ status: 403, code: 'token_revoked' });
  });
});

describePostgres('gateway periodic re-check without any notification', (kind) => {
  let a: GatewayFixture;
  let b: Harness;
  let bBase: string;

  beforeAll(async () => {
    a = await startGatewayFixture(kind);
    const keyring = a.h.config.keyring.kind === 'inline' ? a.h.config.keyring.value : '';
    // B never starts its listener: only the re-check (200 ms here) can tell it about the revoke.
    b = await startHarness(kind, { database: a.h.db, keyring, env: { CUSTODY_GATEWAY_RECHECK_MS: '200' } });
    await b.app.listen({ host: '127.0.0.1', port: 0 });
    bBase = `http://127.0.0.1:${(b.app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await b.close();
    await a.close();
  });

  it('denies a token revoked elsewhere once the cached decision is re-read', async () => {
    const token = await a.createToken(a.providerId);
    const call = async () => {
      const res = await request(`${bBase}/gw/${token}/invoices/1`, { headers: { authorization: `Bearer ${a.keyA}` } });
      return { status: res.statusCode, body: (await res.body.json()) as { error?: { code: string } } };
    };
    expect((await call()).status).toBe(200);
    await a.h.custody.tokens.transition(a.h.admin, token, 'revoke', 'incident');
    await eventually(async () => (await call()).status === 403, { what: 'instance B to deny the token' });
    expect((await call()).body.error?.code).toBe('token_revoked');
  });
});

if (!DATABASES.includes('postgres')) {
  describe.skip('gateway revocation across instances (needs CUSTODY_TEST_POSTGRES_URL)', () => {
    it('runs on PostgreSQL only', () => {});
  });
}
