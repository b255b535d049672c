import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { bearer, keyFor, seed, startHarness, type Harness, type Seeded } from '../../test/support/harness.ts';

describeEachDatabase('token lifecycle over HTTP', (kind) => {
  let h: Harness;
  let s: Seeded;
  let admin: string;

  beforeAll(async () => {
    h = await startHarness(kind);
    s = await seed(h);
    admin = await keyFor(h, 'admin');
  });
  afterAll(() => h.close());

  const post = (url: string, body: unknown, key = admin) => h.app.inject({ method: 'POST', url, headers: bearer(key), payload: body as object });

  it('suspends an active token, resumes it, and records both in the ledger', async () => {
    const suspended = await post(`/v1/tokens/${s.tokenA}/suspend`, { reason: 'investigation' });
    expect(suspended.statusCode).toBe(200);
    expect(suspended.json().state).toBe('suspended');
    const resumed = await post(`/v1/tokens/${s.tokenA}/resume`, { reason: 'cleared' });
    expect(resumed.statusCode).toBe(200);
    expect(resumed.json().state).toBe('active');
    const ledger = await h.app.inject({ url: `/v1/ledger?tokenId=${s.tokenA}&order=asc`, headers: bearer(admin) });
    expect(ledger.json().items.map((e: { action: string }) => e.action)).toEqual(['token.registered', 'token.suspended', 'token.resumed']);
  });

  it('refuses to resume an active token with 409 illegal_transition', async () => {
    const r = await post(`/v1/tokens/${s.tokenA}/resume`, { reason: 'x' });
    expect(r.statusCode).toBe(409);
    expect(r.json().error.code).toBe('illegal_transition');
  });

  it('revokes, then refuses every further transition of the revoked token with 409', async () => {
    const r = await post(`/v1/tokens/${s.tokenB}/revoke`, { reason: 'customer offboarded' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ state: 'revoked', stateReason: 'customer offboarded' });
    for (const action of ['suspend', 'resume', 'revoke']) {
      const again = await post(`/v1/tokens/${s.tokenB}/${action}`, { reason: 'again' });
      expect(again.statusCode).toBe(409);
      expect(again.json().error.code).toBe('illegal_transition');
    }
  });
});
