import { afterAll, beforeAll, expect, it } from 'vitest';
import { Secret } from '../src/shared/secret.ts';
import { describeEachDatabase } from './support/databases.ts';
import { seed, startHarness, type Harness, type Seeded } from './support/harness.ts';

/**
 * Changes computed from a record's current values (a PATCH) are applied under the record's lock:
 * two at once never leave a record that neither the ledger nor the checks account for.
 */
describeEachDatabase('concurrent changes', (kind) => {
  let h: Harness;
  let s: Seeded;

  beforeAll(async () => {
    h = await startHarness(kind);
    s = await seed(h);
  });
  afterAll(() => h?.close());

  it('keeps a token’s workloads what its ledger says, however two PATCHes interleave', async () => {
    for (let round = 0; round < 8; round++) {
      const t = await h.custody.tokens.register(h.admin, { tenantId: s.tenantA, providerId: s.providerId, owner: 'o', workloads: ['w0', 'evil'], scopes: [], accessToken: new Secret(`at-${Math.random()}`) });
      await Promise.all([
        h.custody.tokens.patch(h.admin, t.id, { workloads: ['w0'] }),
        h.custody.tokens.patch(h.admin, t.id, { workloads: ['w0', 'evil', 'x'] }),
      ]);
      // Replaying the ledger's changes on the registered list gives the record's list.
      let replayed = new Set(['w0', 'evil']);
      for (const e of await h.custody.ledger.list({ subjectId: t.id, action: 'token.workloads_changed', order: 'asc', limit: 10 })) {
        const { added, removed } = e.data as { added: string[]; removed: string[] };
        replayed = new Set([...[...replayed].filter((w) => !removed.includes(w)), ...added]);
      }
      expect(new Set((await h.custody.tokens.get(h.admin, t.id)).workloads)).toEqual(replayed);
    }
  });

  it('checks two provider changes at once against each other: no plain-http URL on a provider that is not development', async () => {
    for (let round = 0; round < 8; round++) {
      const p = await h.custody.providers.create(h.admin, { name: `race-${kind}-${round}`, tokenEndpoint: 'http://127.0.0.1:9/token', development: true, clientId: 'c', apiBaseUrls: ['http://127.0.0.1:9/api'] });
      const results = await Promise.allSettled([
        h.custody.providers.update(h.admin, p.id, { development: false, tokenEndpoint: 'https://as.example.com/token', apiBaseUrls: ['https://api.example.com'] }),
        h.custody.providers.update(h.admin, p.id, { tokenEndpoint: 'http://127.0.0.1:9/token2' }),
      ]);
      const after = await h.custody.providers.get(p.id);
      if (!after.development) {
        expect(after.tokenEndpoint.startsWith('https://')).toBe(true);
        expect(after.apiBaseUrls.every((u) => u.startsWith('https://'))).toBe(true);
      }
      expect(results.some((r) => r.status === 'fulfilled')).toBe(true);
    }
  });
});
