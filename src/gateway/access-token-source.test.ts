import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { seed, startHarness, type Harness, type Seeded } from '../../test/support/harness.ts';
import { createStoredAccessTokenSource } from './access-token-source.ts';
import { loadGatewayToken } from './token-cache.ts';
import type { GatewayToken } from './gateway.types.ts';

describeEachDatabase('stored access tokens for the gateway', (kind) => {
  let h: Harness;
  let s: Seeded;
  let token: GatewayToken;
  beforeAll(async () => {
    h = await startHarness(kind);
    s = await seed(h);
    token = (await loadGatewayToken({ token: h.custody.tokens.accessView, provider: h.custody.providers.accessView }, s.tokenA))!;
  });
  afterAll(() => h.close());

  it('answers at once (peek) only once the credential is loaded, and not after forget', async () => {
    const source = createStoredAccessTokenSource({ reveal: h.custody.tokens.revealAccessToken });
    expect(source.peek(token)).toBeUndefined();
    const secret = await source.accessTokenFor(token);
    expect(secret.reveal()).toMatch(/^at-/);
    expect(source.peek(token)).toBe(secret);
    source.forget(token.id);
    expect(source.peek(token)).toBeUndefined();
  });

  it('does not bring back a credential that was forgotten while it loaded', async () => {
    const source = createStoredAccessTokenSource({ reveal: h.custody.tokens.revealAccessToken });
    const loading = source.accessTokenFor(token);
    source.forget(token.id);
    await loading;
    expect(source.peek(token)).toBeUndefined();
  });
});
