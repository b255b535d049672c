import { parse } from 'csv-parse/sync';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FINDING_MAPPINGS, NIST_AI_RMF, NIST_CSF_2, OWASP_NHI_2025 } from '../governance/finding.mappings.ts';
import type { Finding } from '../governance/finding.contract.ts';
import { fixedClock } from '../shared/clock.ts';
import { Secret } from '../shared/secret.ts';
import type { TokenRecord, RegisterTokenInput } from '../tokens/token.types.ts';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { inlineReportReads } from './report.reads.ts';
import { bearer, keyFor, startHarness, type Harness } from '../../test/support/harness.ts';
import type { SignedReport } from './report.contract.ts';
import { createReportService } from './report.service.ts';
import { aiRmfCategory, reportTable, shareOf } from './report.rules.ts';
import { canonicalBytes, publicKeyFrom, verifyReport } from './report.signature.ts';
import { REPORT_TABLES } from './report.types.ts';

/**
 * The compliance report on a scripted inventory (both databases, fixed clock): every figure equals
 * a count made here over the inventory and the findings as the API lists them; the signature
 * verifies with the published ledger key and fails after any byte changes; each CSV table parses
 * back; a tenant administrator gets its own tenant only; the HTML page renders in Chromium with
 * no error and no request.
 */
const NOW = new Date('2026-11-01T00:00:00.000Z');
const DAY = 86_400_000;
const ago = (days: number) => new Date(NOW.getTime() - days * DAY).toISOString();
const ahead = (days: number) => new Date(NOW.getTime() + days * DAY).toISOString();
const OWNER_FORMULA = '=HYPERLINK("http://evil.example")';
const OWNER_MARKUP = '<img src=x onerror=alert(1)>';

/** Nearest-rank percentile, computed here independently of the report's code. */
const nearestRank = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? null : sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1]!;
};

/** One Chromium for both databases' runs (a launch costs seconds), closed after the file. */
let browser: Promise<Browser> | undefined;
const sharedBrowser = () =>
  (browser ??= chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  }));
afterAll(async () => {
  await (await browser)?.close();
});

describeEachDatabase('the compliance report', (kind) => {
  const clock = fixedClock(NOW);
  let h: Harness;
  let A: string;
  let B: string;
  let verified: string;
  let noEndpoint: string;
  let adminKey: string;
  let tenantAdminA: string;

  const token = async (tenantId: string, name: string, over: Partial<RegisterTokenInput> = {}) =>
    (
      await h.custody.tokens.register(h.admin, {
        tenantId,
        providerId: verified,
        owner: 'alice',
        approver: { subject: `approver-${name}`, approvedAt: ago(10) },
        purpose: 'sync invoices',
        reviewDueAt: ahead(90),
        scopes: ['invoices.read'],
        accessToken: new Secret(`at-${name}`),
        refreshToken: new Secret(`rt-${name}`),
        issuedAt: ago(10),
        accessExpiresAt: new Date(NOW.getTime() + 30 * 60_000).toISOString(),
        ...over,
      })
    ).id;

  /** A revocation asked at `at`, confirmed upstream `confirmAfterMs` later (null: left pending). */
  const revokeAt = async (id: string, at: string, confirmAfterMs: number | null, outcome: 'verified' | 'unverifiable' | 'failed' = 'verified') => {
    clock.set(at);
    await h.custody.tokens.transition(h.admin, id, 'revoke', 'no longer needed');
    if (confirmAfterMs !== null) {
      const confirmedAt = new Date(new Date(at).getTime() + confirmAfterMs).toISOString();
      await h.custody.tokens.unitOfWork((work) => h.custody.tokens.recordUpstreamOutcome(work, id, outcome, outcome === 'failed' ? null : confirmedAt));
    }
    clock.set(NOW);
  };

  const get = (key: string, query: string) => h.app.inject({ method: 'GET', url: `/v1/reports/compliance${query}`, headers: bearer(key) });
  const signedReport = async (key: string, query = ''): Promise<{ text: string; doc: SignedReport }> => {
    const r = await get(key, query);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    return { text: r.body, doc: JSON.parse(r.body) as SignedReport };
  };

  const inventory = async (): Promise<TokenRecord[]> => {
    const all: TokenRecord[] = [];
    for (let afterId: string | undefined; ; ) {
      const page = await h.custody.tokens.list(h.admin, { limit: 1000, ...(afterId ? { afterId } : {}) });
      all.push(...page.items);
      if (!page.nextCursor) return all;
      afterId = page.items[page.items.length - 1]!.id;
    }
  };
  const liveFindings = async (): Promise<Finding[]> => {
    const all: Finding[] = [];
    for (let afterId: string | undefined; ; ) {
      const page = await h.custody.findingQueries.list(h.admin, { limit: 1000, ...(afterId ? { afterId } : {}) });
      all.push(...page.items);
      if (!page.nextCursor) return all;
      afterId = page.items[page.items.length - 1]!.id;
    }
  };

  beforeAll(async () => {
    h = await startHarness(kind, { clock });
    adminKey = await keyFor(h, 'admin');
    A = (await h.custody.tenants.create(h.admin, { name: 'acme' })).id;
    B = (await h.custody.tenants.create(h.admin, { name: 'globex <b>&</b>' })).id;
    tenantAdminA = await keyFor(h, 'tenant_admin', A);
    const provider = (name: string, revocationEndpoint?: string) =>
      h.custody.providers.create(h.admin, { name, tokenEndpoint: 'https://issuer.example.com/token', ...(revocationEndpoint ? { revocationEndpoint } : {}), clientId: 'c', apiBaseUrls: ['https://api.example.com'] });
    verified = (await provider('verified', 'https://issuer.example.com/revoke')).id;
    noEndpoint = (await provider('no-endpoint')).id;
    await h.custody.storage.db.updateTable('providers').set({ revocation_verified_at: ago(30) }).where('id', '=', verified).execute();
    await h.custody.directory.createOwner(h.admin, { name: 'alice', kind: 'person' });
    const bob = await h.custody.directory.createOwner(h.admin, { name: 'bob', kind: 'person' });
    await h.custody.directory.patchOwner(h.admin, bob.id, { active: false });

    await token(A, 'clean');
    await token(A, 'clean2', { scopes: ['invoices.read', 'contacts.read'] });
    await token(A, 'noApprover', { approver: undefined });
    const noPurpose = await token(A, 'noPurpose', { purpose: undefined });
    await token(A, 'overdue', { reviewDueAt: ago(2) });
    await token(A, 'orphaned', { owner: 'bob' });
    await token(A, 'formula', { owner: OWNER_FORMULA, purpose: undefined });
    await token(A, 'markup', { owner: OWNER_MARKUP });
    await token(A, 'noEndpoint', { providerId: noEndpoint, scopes: ['files.read'] });
    await token(A, 'suspended', { scopes: ['admin'] }).then((id) => h.custody.tokens.transition(h.admin, id, 'suspend', 'investigating'));
    await token(B, 'b1', { approver: undefined, scopes: ['files.read', 'files.write'] });
    await token(B, 'b2', { providerId: noEndpoint, owner: 'carol' });
    await token(B, 'b3', { reviewDueAt: undefined, approver: { subject: 'x', approvedAt: ago(400) }, issuedAt: ago(400) });
    // Revocations: three in A and one in B inside the default period (the last 30 days), one before it.
    await revokeAt(await token(A, 'r1'), ago(20), 1_500);
    await revokeAt(await token(A, 'r2'), ago(15), 4_000);
    await revokeAt(await token(A, 'r3'), ago(5), 61_000, 'unverifiable');
    await revokeAt(await token(A, 'r4', { providerId: noEndpoint }), ago(3), null);
    await revokeAt(await token(B, 'rb'), ago(4), 250);
    await revokeAt(await token(A, 'old'), ago(45), 2_000);
    await h.custody.exceptions.create(h.admin, { tenantId: A, tokenId: noPurpose, findingType: 'no_purpose', approvedBy: '+1 CFO', reason: '@risk accepted until the migration', expiresAt: ahead(30) });
    await h.custody.exceptions.create(h.admin, { tenantId: B, findingType: 'no_approver', approvedBy: 'Dana', reason: 'legacy connector', expiresAt: ahead(10) });
    const withdrawn = await h.custody.exceptions.create(h.admin, { tenantId: A, findingType: 'dormant', approvedBy: 'Eve', reason: 'seasonal', expiresAt: ahead(10) });
    await h.custody.exceptions.withdraw(h.admin, withdrawn.id);
    await h.custody.findings.sweep();
    await h.custody.findings.settled();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('counts every figure over the inventory and the findings, for every tenant and for one', async () => {
    const tokens = await inventory();
    const findings = await liveFindings();
    const exceptions = await h.custody.exceptions.list(h.admin, { status: 'active' });
    for (const tenantId of [null, A, B]) {
      const { doc } = await signedReport(adminKey, tenantId ? `?tenantId=${tenantId}` : '');
      const r = doc.report;
      const mine = <T extends { tenantId: string | null }>(xs: T[]) => xs.filter((x) => tenantId === null || x.tenantId === tenantId);
      const live = mine(tokens).filter((t) => t.state === 'active' || t.state === 'suspended');
      const managed = live.filter((t) => t.managed === true).length;
      expect(r.scope).toEqual({ tenantId, tenantName: tenantId === A ? 'acme' : tenantId === B ? 'globex <b>&</b>' : null, tenants: tenantId ? 1 : 2 });
      expect(r.period).toEqual({ from: ago(30), to: NOW.toISOString() });
      expect(r.generatedAt).toBe(NOW.toISOString());
      expect({ live: r.managedShare.live, managed: r.managedShare.managed, unmanaged: r.managedShare.unmanaged, share: r.managedShare.share }).toEqual({ live: live.length, managed, unmanaged: live.length - managed, share: shareOf(managed, live.length) });
      expect(r.managedShare.byTenant.map((t) => [t.tenantId, t.live, t.managed])).toEqual(
        [...new Set(live.map((t) => t.tenantId))].sort().map((id) => [id, live.filter((t) => t.tenantId === id).length, live.filter((t) => t.tenantId === id && t.managed).length]),
      );
      // The trend and the review campaigns are the trends' and the reviews' own figures (wired by the composition root).
      const series = await h.custody.trends.series({ tenantId }, r.period.from.slice(0, 10), '2026-10-31');
      expect(r.managedShare.trend).toEqual({ points: series.map((p) => ({ day: p.day, live: p.tokens, managed: p.managed, share: shareOf(p.managed, p.tokens) })), note: series.length === 0 ? 'No daily snapshot was taken in the period.' : null });
      expect(r.reviews.campaigns).toEqual(await h.custody.reviews.stats({ tenantId }, new Date(r.period.from), new Date(r.period.to)));
      // The practical test as governance judged it: as many unmanaged as live `unmanaged` findings (the same after a sweep).
      expect(r.managedShare.unmanaged).toBe(mine(findings).filter((f) => f.type === 'unmanaged').length);
      expect(r.findings.sweptAt).toBe(NOW.toISOString());

      // Findings: by type, severity, status and each framework of the mapping table.
      const fs = mine(findings);
      expect(fs.length).toBeGreaterThan(tenantId === null ? 10 : 3);
      expect(r.findings.total).toBe(fs.length);
      for (const row of r.findings.byType) expect(row.count, row.type).toBe(fs.filter((f) => f.type === row.type).length);
      for (const [status, n] of Object.entries(r.findings.byStatus)) expect(n, status).toBe(fs.filter((f) => f.status === status).length);
      for (const [severity, n] of Object.entries(r.findings.bySeverity)) expect(n, severity).toBe(fs.filter((f) => f.severity === severity).length);
      const framework = (ids: string[], of: (f: Finding) => string[]) => ids.map((id) => [id, fs.filter((f) => of(f).includes(id)).length]);
      expect(r.findings.owaspNhi.map((x) => [x.id, x.count])).toEqual(framework(Object.keys(OWASP_NHI_2025), (f) => f.mappings.owaspNhi.map((m) => m.id)));
      expect(r.findings.nistCsf.map((x) => [x.id, x.count])).toEqual(framework(Object.keys(NIST_CSF_2), (f) => f.mappings.nistCsf.map((m) => m.id)));
      expect(r.findings.nistAiRmf.subcategories.map((x) => [x.id, x.count])).toEqual(framework(Object.keys(NIST_AI_RMF), (f) => f.mappings.nistAiRmf.map((m) => m.id)));
      const categories = [...new Set(Object.keys(NIST_AI_RMF).map(aiRmfCategory))];
      expect(r.findings.nistAiRmf.categories.map((x) => [x.id, x.count])).toEqual(framework(categories, (f) => f.mappings.nistAiRmf.map((m) => aiRmfCategory(m.id))));
      expect(r.findings.owaspNhi.find((x) => x.id === 'NHI1')!.count).toBe(fs.filter((f) => FINDING_MAPPINGS[f.type].owaspNhi.includes('NHI1')).length);

      // Accountability: owner from the owners directory (findings), approver and purpose from the record.
      const ownerless = new Set(fs.filter((f) => f.tokenId && (f.type === 'no_owner' || f.type === 'owner_orphaned')).map((f) => f.tokenId!));
      expect(r.accountability.lackingOwner).toBe(ownerless.size);
      expect(r.accountability.lackingOwner).toBeGreaterThan(0);
      expect(r.accountability.lackingApprover).toBe(live.filter((t) => t.approver === null).length);
      expect(r.accountability.lackingPurpose).toBe(live.filter((t) => t.purpose === null).length);
      const lacking = live
        .map((t) => ({ tenantId: t.tenantId, tokenId: t.id, lacking: [...(ownerless.has(t.id) ? ['owner'] : []), ...(t.approver ? [] : ['approver']), ...(t.purpose ? [] : ['purpose'])] }))
        .filter((t) => t.lacking.length > 0)
        .sort((a, b) => (a.tenantId === b.tenantId ? (a.tokenId < b.tokenId ? -1 : 1) : a.tenantId < b.tenantId ? -1 : 1));
      expect(r.accountability.tokens.map((t) => ({ tenantId: t.tenantId, tokenId: t.tokenId, lacking: t.lacking }))).toEqual(lacking);
      expect(r.accountability.truncated).toBe(false);

      // Exceptions in force (the withdrawn one is not).
      const inForce = mine(exceptions);
      expect(r.exceptions.inForce).toBe(inForce.length);
      expect(r.exceptions.items.map((e) => e.id).sort()).toEqual(inForce.map((e) => e.id).sort());

      // Review coverage: live tokens whose review is not overdue (the practical test's reason).
      const overdue = live.filter((t) => t.managedReasons.some((m) => m.code === 'review_overdue')).length;
      expect(overdue).toBeGreaterThan(0);
      expect(r.reviews).toMatchObject({ live: live.length, reviewOverdue: overdue, reviewCurrent: live.length - overdue, coverage: shareOf(live.length - overdue, live.length), note: null });

      // Kill times of the revocations asked for in the period, from the records' own times.
      const revoked = mine(tokens).filter((t) => t.revocation && t.revocation.requestedAt >= r.period.from && t.revocation.requestedAt < r.period.to);
      const ms = (a: string, b: string | null) => (b === null ? null : new Date(b).getTime() - new Date(a).getTime());
      const local = revoked.map((t) => ms(t.revocation!.requestedAt, t.revocation!.locallyEffectiveAt)!);
      const upstream = revoked.filter((t) => t.revocation!.upstream === 'verified').map((t) => ms(t.revocation!.requestedAt, t.revocation!.upstreamConfirmedAt)!);
      expect(r.killTime.revocations).toBe(revoked.length);
      expect(r.killTime.locallyEffective).toEqual({ count: local.length, p50Ms: nearestRank(local, 50), p99Ms: nearestRank(local, 99), maxMs: local.length ? Math.max(...local) : null });
      expect(r.killTime.upstreamVerified).toEqual({ count: upstream.length, p50Ms: nearestRank(upstream, 50), p99Ms: nearestRank(upstream, 99), maxMs: upstream.length ? Math.max(...upstream) : null });
      for (const [outcome, n] of Object.entries(r.killTime.upstreamOutcomes)) expect(n, outcome).toBe(revoked.filter((t) => t.revocation!.upstream === outcome).length);

      // Connections: live tokens per tenant × provider, and how many hold each scope.
      const pairs = new Map<string, { live: number; scopes: Record<string, number> }>();
      for (const t of live) {
        const p = pairs.get(`${t.tenantId} ${t.providerId}`) ?? { live: 0, scopes: {} };
        p.live++;
        for (const s of t.grantedScopes) p.scopes[s] = (p.scopes[s] ?? 0) + 1;
        pairs.set(`${t.tenantId} ${t.providerId}`, p);
      }
      expect(r.connections.pairs).toBe(pairs.size);
      expect(Object.fromEntries(r.connections.items.map((c) => [`${c.tenantId} ${c.providerId}`, { live: c.liveTokens, scopes: Object.fromEntries(c.scopes.map((s) => [s.scope, s.tokens])) }]))).toEqual(Object.fromEntries(pairs));
      expect(r.connections.items.every((c) => c.providerName === 'verified' || c.providerName === 'no-endpoint')).toBe(true);
    }
    // The sweep of the set-up took the day's snapshot (trends): a period that takes in today shows it.
    const today = (await signedReport(adminKey, '?to=2026-11-01')).doc.report.managedShare.trend;
    expect(today.points.map((p) => p.day)).toEqual(['2026-11-01']);
    expect(today.points[0]!.live).toBeGreaterThan(0);
    // The default period's kill times as scripted: A's three timed revocations (1.5 s, 4 s; the 61 s one unverifiable).
    const { doc } = await signedReport(adminKey, `?tenantId=${A}`);
    expect(doc.report.killTime).toEqual({
      revocations: 4,
      locallyEffective: { count: 4, p50Ms: 0, p99Ms: 0, maxMs: 0 },
      upstreamVerified: { count: 2, p50Ms: 1_500, p99Ms: 4_000, maxMs: 4_000 },
      upstreamOutcomes: { pending: 0, verified: 2, unverifiable: 1, failed: 0, none: 1 },
    });
    // The overview's kill times: the same figures, with the distribution in buckets.
    const kt = await h.app.inject({ url: `/v1/reports/kill-times?tenantId=${A}`, headers: bearer(adminKey) });
    expect(kt.statusCode).toBe(200);
    const { buckets: localBuckets, ...localStats } = kt.json().locallyEffective;
    const { buckets: upstreamBuckets, ...upstreamStats } = kt.json().upstreamVerified;
    expect({ revocations: kt.json().revocations, locallyEffective: localStats, upstreamVerified: upstreamStats, upstreamOutcomes: kt.json().upstreamOutcomes }).toEqual(doc.report.killTime);
    expect(kt.json().scope).toEqual({ tenantId: A });
    expect(Date.parse(kt.json().period.to) - Date.parse(kt.json().period.from)).toBe(30 * 86_400_000);
    expect(localBuckets.filter((b: { count: number }) => b.count > 0)).toEqual([{ underMs: 10, count: 4 }]);
    expect(upstreamBuckets.filter((b: { count: number }) => b.count > 0)).toEqual([{ underMs: 5_000, count: 2 }]);
    const badPeriod = await h.app.inject({ url: '/v1/reports/kill-times?from=2026-02-30', headers: bearer(adminKey) });
    expect(badPeriod.statusCode).toBe(400);
    expect(badPeriod.json().error.code).toBe('report_period_invalid');
  });

  it('is signed with the published ledger key over RFC 8785, tied to the signed ledger head, and fails after any byte changes', async () => {
    const keyAnswer = await h.app.inject({ method: 'GET', url: '/v1/ledger/key', headers: bearer(tenantAdminA) });
    expect(keyAnswer.statusCode).toBe(200);
    const key = publicKeyFrom(keyAnswer.body);
    // A write since the last checkpoint: the report signs a new one at its head.
    await h.custody.tenants.create(h.admin, { name: 'initech' });
    const head = await h.custody.ledger.head();
    const { text, doc } = await signedReport(adminKey);
    expect(doc.signature).toEqual({ alg: 'EdDSA', keyId: keyAnswer.json().keyId, canonicalization: 'RFC8785', value: expect.any(String) });
    expect(doc.report.ledger.checkpoint).toEqual({ seq: head!.seq, hash: head!.hash, at: NOW.toISOString(), keyId: keyAnswer.json().keyId, signature: expect.any(String) });
    expect((await h.custody.ledger.verify()).ok).toBe(true);

    const ok = verifyReport(JSON.parse(text), key);
    expect(ok).toMatchObject({ ok: true, problems: [], keyId: doc.signature.keyId, signature: { valid: true }, checkpoint: { seq: head!.seq, hash: head!.hash, valid: true }, period: doc.report.period, generatedAt: NOW.toISOString() });
    // Re-indented and re-ordered, it still verifies (JCS); the PEM form of the key works the same.
    const reordered = JSON.stringify({ signature: doc.signature, report: Object.fromEntries(Object.entries(doc.report).reverse()) }, null, 2);
    expect(verifyReport(JSON.parse(reordered), publicKeyFrom(keyAnswer.json().pem)).ok).toBe(true);

    // One byte changed anywhere (a sample of positions over the whole text): it no longer parses, or no longer verifies.
    const positions = new Set<number>();
    for (let i = 0; i < text.length; i += Math.max(1, Math.floor(text.length / 200))) positions.add(i);
    positions.add(text.indexOf('"live":') + 7);
    let checked = 0;
    for (const i of positions) {
      const c = text[i]!;
      const swapped = /\d/.test(c) ? String((Number(c) + 1) % 10) : c === 'a' ? 'b' : 'a';
      const changed = text.slice(0, i) + swapped + text.slice(i + 1);
      let parsed: unknown;
      try {
        parsed = JSON.parse(changed);
      } catch {
        continue;
      }
      checked++;
      expect(verifyReport(parsed, key).ok, `byte ${i} (${JSON.stringify(c)} → ${swapped})`).toBe(false);
    }
    expect(checked).toBeGreaterThan(120);
    // A figure changed with its signature intact names what failed.
    const forged = JSON.parse(text) as SignedReport;
    forged.report.managedShare.managed += 1;
    expect(verifyReport(forged, key).problems).toEqual([expect.stringContaining('does not match the report')]);
    // Another key (the checkpoint's signature and the report's both fail).
    const { generateKeyPairSync } = await import('node:crypto');
    expect(verifyReport(JSON.parse(text), generateKeyPairSync('ed25519').publicKey).problems).toHaveLength(3);
    expect(canonicalBytes(doc.report).toString('utf8').startsWith('{"accountability":')).toBe(true);
  });

  it('gives each table as RFC 4180 CSV that parses back, with formula-like values neutralised', async () => {
    const { doc } = await signedReport(adminKey);
    for (const table of REPORT_TABLES) {
      const r = await get(adminKey, `?format=csv&table=${table}`);
      expect(r.statusCode, `${table}: ${r.body}`).toBe(200);
      expect(r.headers['content-type']).toBe('text/csv; charset=utf-8; header=present');
      expect(r.headers['content-disposition']).toBe(`attachment; filename="custody-compliance-all-tenants-2026-11-01-${table}.csv"`);
      expect(r.body.endsWith('\r\n')).toBe(true);
      const rows = parse(r.body, { relax_column_count: false }) as string[][];
      const expected = reportTable(doc.report, table);
      expect(rows[0]).toEqual(expected.columns);
      const asText = (c: unknown) => (c === null ? '' : /^[=+\-@\t\r]/.test(String(c)) && typeof c === 'string' ? `'${c}` : String(c));
      // generatedAt is the same instant (fixed clock); every cell equals the JSON report's.
      expect(rows.slice(1)).toEqual(expected.rows.map((row) => row.map(asText)));
    }
    const lacking = parse((await get(adminKey, '?format=csv&table=lacking_accountability')).body, { columns: true }) as Record<string, string>[];
    expect(lacking.find((r) => r.owner!.includes('HYPERLINK'))!.owner).toBe(`'${OWNER_FORMULA}`);
    const exceptions = parse((await get(adminKey, '?format=csv&table=exceptions')).body, { columns: true }) as Record<string, string>[];
    expect(exceptions.map((e) => e.approved_by).sort()).toEqual(["'+1 CFO", 'Dana']);
    expect(exceptions.find((e) => e.approved_by === "'+1 CFO")!.reason).toBe("'@risk accepted until the migration");

    const missing = await get(adminKey, '?format=csv');
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error.code).toBe('report_table_invalid');
    expect(missing.json().error.message).toContain(REPORT_TABLES.join(', '));
    const unknown = await get(adminKey, '?format=csv&table=passwords');
    expect([unknown.statusCode, unknown.json().error.code]).toEqual([400, 'report_table_invalid']);
  });

  it('refuses a period that is empty, longer than 366 days or not a date, with a code', async () => {
    for (const query of ['?from=2026-10-01&to=2026-09-01', '?from=2025-01-01&to=2026-10-01', '?from=2026-02-30', '?to=2026-13-01T00:00:00Z']) {
      const r = await get(adminKey, query);
      expect([r.statusCode, r.json().error.code], query).toEqual([400, 'report_period_invalid']);
    }
    const bad = await get(adminKey, '?from=yesterday');
    expect([bad.statusCode, bad.json().error.code]).toEqual([400, 'validation_failed']);
    // A date as `to` takes in that whole day.
    const { doc } = await signedReport(adminKey, '?from=2026-10-01&to=2026-10-31');
    expect(doc.report.period).toEqual({ from: '2026-10-01T00:00:00.000Z', to: '2026-11-01T00:00:00.000Z' });
    expect(doc.report.killTime.revocations).toBe(5);
  });

  it('takes the trend and the review campaigns from their capabilities when the server has them', async () => {
    const asked: unknown[] = [];
    const c = h.custody;
    const reports = createReportService({
      clock,
      instance: { publicUrl: 'https://custody.example', version: 'test' },
      signer: c.vault.ledgerSigner,
      tenants: c.tenants,
      providers: c.providers,
      tokens: c.tokens,
      findings: c.findingQueries,
      lastSweepStart: c.findings.lastSweepStart,
      exceptions: c.exceptions,
      ledger: c.ledger,
      reads: inlineReportReads(c.storage),
      trendSeries: async (scope, fromDay, toDay) => {
        asked.push({ trend: scope, fromDay, toDay });
        return [
          { day: '2026-10-30', tokens: 8, managed: 2, managedShare: 0.25 },
          { day: '2026-10-31', tokens: 3, managed: 2, managedShare: 0.6666666 },
        ];
      },
      reviewStats: async (scope, from, to) => {
        asked.push({ reviews: scope, from: from.toISOString(), to: to.toISOString() });
        return { campaigns: 1, items: 5, decided: 3, kept: 1, revoked: 1, reassigned: 1, escalated: 1, open: 1 };
      },
    });
    const { report, signature } = await reports.generate(h.admin, { tenantId: A, from: '2026-10-01', to: '2026-10-31' });
    expect(asked).toEqual([
      { trend: { tenantId: A }, fromDay: '2026-10-01', toDay: '2026-10-31' },
      { reviews: { tenantId: A }, from: '2026-10-01T00:00:00.000Z', to: '2026-11-01T00:00:00.000Z' },
    ]);
    expect(report.managedShare.trend).toEqual({ points: [{ day: '2026-10-30', live: 8, managed: 2, share: 0.25 }, { day: '2026-10-31', live: 3, managed: 2, share: 0.6667 }], note: null });
    expect(report.reviews.campaigns).toEqual({ campaigns: 1, items: 5, decided: 3, kept: 1, revoked: 1, reassigned: 1, escalated: 1, open: 1 });
    expect(report.reviews.note).toBeNull();
    expect(report.custody).toEqual({ publicUrl: 'https://custody.example', version: 'test' });
    const key = publicKeyFrom((await h.app.inject({ method: 'GET', url: '/v1/ledger/key', headers: bearer(adminKey) })).body);
    expect(verifyReport({ report, signature }, key).ok).toBe(true);
    // Every tenant: the overall series.
    asked.length = 0;
    await reports.generate(h.admin, {});
    expect(asked[0]).toMatchObject({ trend: { tenantId: null } });
  });

  it('is in the OpenAPI document with its roles, and the ledger key beside it', async () => {
    const doc = (await h.app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, { get: { 'x-custody-roles': string[]; responses: Record<string, { description: string }> } }> };
    const op = doc.paths['/v1/reports/compliance']!.get;
    expect(op['x-custody-roles']).toEqual(['admin', 'security', 'auditor', 'tenant_admin']);
    expect(op.responses['400']!.description).toContain('`report_period_invalid`');
    expect(op.responses['404']!.description).toContain('`tenant_not_found`');
    expect(doc.paths['/v1/ledger/key']!.get['x-custody-roles']).toEqual(['admin', 'security', 'auditor', 'tenant_admin']);
  });

  it('gives a tenant administrator its own tenant only: another tenant is 404 tenant_not_found', async () => {
    const { doc } = await signedReport(tenantAdminA);
    expect(doc.report.scope.tenantId).toBe(A);
    const text = JSON.stringify(doc.report);
    expect(text).not.toContain(B);
    for (const format of ['json', 'csv&table=summary', 'html']) {
      const r = await get(tenantAdminA, `?tenantId=${B}&format=${format}`);
      expect([r.statusCode, r.json().error.code], format).toEqual([404, 'tenant_not_found']);
    }
    const auditor = await keyFor(h, 'auditor');
    expect((await signedReport(auditor, `?tenantId=${B}`)).doc.report.scope.tenantId).toBe(B);
    const workload = await keyFor(h, 'workload', A, 'billing-sync');
    expect((await get(workload, '')).statusCode).toBe(403);
  });

  it('leaves the connections out when asked (connections=omit), says so, and every other figure is the full report’s', async () => {
    for (const query of ['', `?tenantId=${A}`]) {
      const full = (await signedReport(adminKey, query)).doc.report;
      const omitted = (await signedReport(adminKey, `${query}${query ? '&' : '?'}connections=omit`)).doc.report;
      expect(omitted.connections).toEqual({ omitted: true, pairs: 0, items: [], truncated: false });
      expect(full.connections.omitted).toBeUndefined();
      expect(full.connections.pairs).toBeGreaterThan(0);
      const strip = (r: typeof full) => ({ ...r, generatedAt: '', connections: null, ledger: null });
      expect(strip(omitted)).toEqual(strip(full));
    }
    const html = await get(adminKey, '?format=html&connections=omit');
    expect(html.body).toContain('Left out of this report at the request of whoever asked for it (connections=omit).');
    const bad = await get(adminKey, '?connections=some');
    expect([bad.statusCode, bad.json().error.code]).toEqual([400, 'validation_failed']);
  });

  it('computes at most four reports at once for one tenant: more at the same moment are told to retry (503 report_busy), other tenants are not', async () => {
    const answers = await Promise.all([...Array.from({ length: 10 }, () => get(tenantAdminA, '')), get(adminKey, `?tenantId=${B}`)]);
    const forA = answers.slice(0, 10);
    const busy = forA.filter((r) => r.statusCode === 503);
    expect(forA.filter((r) => r.statusCode === 200).length).toBeGreaterThanOrEqual(4);
    expect(busy.length).toBeGreaterThanOrEqual(1);
    for (const r of busy) {
      expect(r.json().error.code).toBe('report_busy');
      expect(r.json().error.message).toContain('reports for this tenant are being computed already');
    }
    expect(answers[10]!.statusCode).toBe(200);
    // Once they have answered, the next is computed.
    expect((await get(tenantAdminA, '')).statusCode).toBe(200);
  });

  it('renders as one printable page in Chromium, with no error, no request and every value escaped', async () => {
    const r = await get(adminKey, '?format=html');
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.headers['content-security-policy']).toContain("default-src 'none'");
    // Nothing in the page could load anything: no element with a source or a link, no CSS url().
    expect(r.body).not.toMatch(/<(?:script|link|img|iframe|object|embed|base)\b|<[a-z][^>]*\s(?:src|href|action|srcset)=|url\(/i);
    const page = await (await sharedBrowser()).newPage();
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (req) => requests.push(req.url()));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.setContent(r.body, { waitUntil: 'load' });
    expect(await page.title()).toContain('Custody compliance report');
    expect(await page.locator('section').count()).toBe(REPORT_TABLES.length);
    // The markup in an owner's name and a tenant's name is text, not markup.
    expect(await page.locator('img, script, b').count()).toBe(0);
    expect(await page.locator('body').innerText()).toContain(OWNER_MARKUP);
    expect(await page.locator('body').innerText()).toContain('globex <b>&</b>');
    const pdf = await page.pdf({ format: 'A4' });
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
    await page.close();
  });
});
