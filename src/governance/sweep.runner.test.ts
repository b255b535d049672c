import { afterAll, beforeAll, expect, it } from 'vitest';
import { Secret } from '../shared/secret.ts';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { startHarness, type Harness } from '../../test/support/harness.ts';
import { defaultPolicy } from './policy.rules.ts';
import { runSweepPages } from './sweep.runner.ts';
import type { Diff } from './finding.diff.ts';

/** The sweep's threads: each takes a range of token ids; together they judge every live token once, and a revoked one's findings resolve. */
describeEachDatabase('sweep threads', (kind) => {
  let h: Harness;
  const ids: string[] = [];

  beforeAll(async () => {
    h = await startHarness(kind);
    const tenantId = (await h.custody.tenants.create(h.admin, { name: 't' })).id;
    const providerId = (await h.custody.providers.create(h.admin, { name: 'p', tokenEndpoint: 'https://issuer.example.com/token', clientId: 'c', apiBaseUrls: ['https://api.example.com'] })).id;
    for (let i = 0; i < 30; i++) {
      ids.push((await h.custody.tokens.register(h.admin, { tenantId, providerId, owner: `nobody-${i}`, scopes: ['read'], accessToken: new Secret(`at-${i}`) })).id);
    }
    await h.custody.findings.settled();
    // Token 5 is revoked without the change path hearing of it (as if by another instance).
    await h.custody.storage.db.updateTable('tokens').set({ state: 'revoked' }).where('id', '=', ids[5]!).execute();
  });
  afterAll(() => h.close());

  it('covers every live token exactly once across three ranges, and resolves the findings of a token no longer live', async () => {
    const diffs: Diff[] = [];
    let tokens = 0;
    await runSweepPages({
      splitPoints: [ids[9]!, ids[19]!],
      database: h.config.database,
      storage: h.custody.storage,
      context: { now: new Date(Date.now() + 400 * 86_400_000).toISOString(), defaults: defaultPolicy(90), policies: {}, owners: [], workloads: [], exceptions: [] },
      pageSize: 4,
      apply: async (diff, n) => {
        diffs.push(diff);
        tokens += n;
      },
    });
    expect(tokens).toBe(29);
    // A year on, every live token is also due for reauthorisation: a new finding each, once.
    const reauth = diffs.flatMap((d) => d.inserts).filter((r) => r.type === 'reauthorization_due').map((r) => r.subject_id).sort();
    expect(reauth).toEqual(ids.filter((_, i) => i !== 5).sort());
    const resolved = diffs.flatMap((d) => d.resolves).map((r) => r.subjectId);
    expect(new Set(resolved)).toEqual(new Set([ids[5]]));
  });
});
