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

/**
 * A sweep that writes many findings (the first one, or one after the findings were lost) writes
 * them in short transactions on the serving thread, which gets a turn between each two: a timer
 * set while it runs sees the findings part-written, not only none and then all.
 */
describeEachDatabase('a sweep that writes', (kind) => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness(kind);
    const tenantId = (await h.custody.tenants.create(h.admin, { name: 't' })).id;
    const providerId = (await h.custody.providers.create(h.admin, { name: 'p', tokenEndpoint: 'https://issuer.example.com/token', clientId: 'c', apiBaseUrls: ['https://api.example.com'] })).id;
    const header = 'tenantId,providerId,externalId,owner,approverSubject,purpose,workloads,scopes,accessToken,refreshToken,issuedAt';
    const rows = Array.from({ length: 700 }, (_, i) => `${tenantId},${providerId},ext-${i},nobody-${i},,,,read,,,`);
    const r = await h.custody.imports.importBatch(h.admin, { format: 'csv', data: [header, ...rows].join('\n') });
    expect(r.imported).toBe(700);
    await h.custody.findings.settled();
  });
  afterAll(() => h.close());

  it('lets the serving thread in between its transactions', async () => {
    const count = async () => Number((await h.custody.storage.db.selectFrom('findings').select((eb) => eb.fn.countAll<number>().as('n')).where('resolved_at', 'is', null).executeTakeFirstOrThrow()).n);
    const expected = await count();
    expect(expected).toBeGreaterThanOrEqual(700);
    // Every finding gone, as if never judged: the sweep opens them all again.
    await h.custody.storage.db.deleteFrom('findings').execute();
    const seen: number[] = [];
    let reading = false;
    const timer = setInterval(() => {
      if (reading) return;
      reading = true;
      void count()
        .then((n) => seen.push(n))
        .finally(() => (reading = false));
    }, 1);
    try {
      const result = await h.custody.findings.sweep();
      expect(result.opened).toBe(expected);
    } finally {
      clearInterval(timer);
    }
    expect(seen.some((n) => n > 0 && n < expected)).toBe(true);
  });
});
