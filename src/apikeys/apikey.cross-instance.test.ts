import { afterAll, beforeAll, expect, it } from 'vitest';
import { describePostgres } from '../../test/support/databases.ts';
import { startHarness, type Harness } from '../../test/support/harness.ts';
import { eventually } from '../../test/support/wait.ts';

// Two instances on one PostgreSQL database: a key revoked on one stops working on the other at
// once (NOTIFY on commit), long before the key cache's five-second TTL would have dropped it.
describePostgres('API key revocation across instances', (kind) => {
  let a: Harness;
  let b: Harness;

  beforeAll(async () => {
    a = await startHarness(kind);
    const keyring = a.config.keyring.kind === 'inline' ? a.config.keyring.value : '';
    b = await startHarness(kind, { database: a.db, keyring });
    await b.custody.apiKeys.start();
  });
  afterAll(async () => {
    await b.close();
    await a.close();
  });

  const listOnB = async (key: string) => (await b.app.inject({ method: 'GET', url: '/v1/tenants', headers: { authorization: `Bearer ${key}` } })).statusCode;

  it('refuses on instance B, well within the cache TTL, a key revoked on instance A', async () => {
    const { key, apiKey } = await a.custody.apiKeys.create(a.admin, { role: 'admin', name: 'ops' });
    expect(await listOnB(key)).toBe(200); // B has the key cached now
    expect(b.custody.apiKeys.authenticateCached(key)).not.toBeUndefined();

    const revokedAt = Date.now();
    await a.custody.apiKeys.revoke(a.admin, apiKey.id);
    // The cache entry is dropped by the notification, not by its TTL (5 s): allow 2 s on a busy machine.
    await eventually(async () => b.custody.apiKeys.authenticateCached(key) === undefined, { what: "B to drop the revoked key's cache entry", timeoutMs: 2_000 });
    expect(Date.now() - revokedAt).toBeLessThan(2_000);
    expect(await listOnB(key)).toBe(401);
  });

  it('a key revoked while B was not listening is not served from a cache kept across the reconnect', async () => {
    const { key, apiKey } = await a.custody.apiKeys.create(a.admin, { role: 'admin', name: 'ops-2' });
    expect(await listOnB(key)).toBe(200);
    // B's listener reconnects after its connection is cut, and forgets every cached key when it does.
    const pg = (await import('pg')).default;
    const admin = new pg.Client({ connectionString: a.db.url });
    await admin.connect();
    await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'custody-listener' and datname = current_database()");
    await admin.end();
    await a.custody.apiKeys.revoke(a.admin, apiKey.id);
    await eventually(async () => (await listOnB(key)) === 401, { what: 'B to refuse the revoked key', timeoutMs: 2_000 });
  });
});
