import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fixedClock } from '../shared/clock.ts';
import { CustodyError } from '../shared/errors.ts';
import { Secret } from '../shared/secret.ts';
import { describeEachDatabase } from '../../test/support/databases.ts';
import { bearer, keyFor, startHarness, type Harness } from '../../test/support/harness.ts';
import type { ImportBody, ImportResult } from './import.contract.ts';
import { batchData, csvRows, type SplitRow } from './import.split.ts';

/**
 * Import of tokens held elsewhere (issue 16), on both databases with a fixed clock: a 10k-row CSV
 * imported twice (the second run finds every row), bad rows answered by line, an interrupted import
 * (stopped after some batches, and a batch that fails mid-way and rolls back) resumed without
 * duplicates, inventory-only records refused by the gateway and judged at once, credentials
 * encrypted as registration does, and a tenant administrator confined to its own tenant.
 */
const NOW = new Date('2026-11-01T00:00:00.000Z');
const HEADER = 'tenantId,providerId,externalId,owner,approverSubject,purpose,workloads,scopes,accessToken,refreshToken,issuedAt';

/** A CSV file cut into batches as the CLI cuts it (each a slice of the file, with its first line). */
async function csvBatches(text: string, rowsPerBatch: number): Promise<ImportBody[]> {
  let columns: string[] = [];
  const rows: SplitRow[] = [];
  for await (const r of csvRows(Readable.from([text]), (c) => (columns = c))) rows.push(r);
  const out: ImportBody[] = [];
  for (let i = 0; i < rows.length; i += rowsPerBatch) {
    const slice = rows.slice(i, i + rowsPerBatch);
    out.push({ format: 'csv', data: batchData('csv', slice), firstLine: slice[0]!.line, columns });
  }
  return out;
}

/** Imports the batches one after the other (as the CLI does) and sums what they did. */
async function runBatches(h: Harness, batches: ImportBody[]) {
  const total = { imported: 0, existing: 0, invalid: 0 };
  for (const b of batches) {
    const r = await h.custody.imports.importBatch(h.admin, b);
    total.imported += r.imported;
    total.existing += r.existing;
    total.invalid += r.invalid;
  }
  return total;
}

async function createProvider(h: Harness): Promise<string> {
  return (
    await h.custody.providers.create(h.admin, {
      name: 'crm',
      tokenEndpoint: 'https://issuer.example.com/token',
      revocationEndpoint: 'https://issuer.example.com/revoke',
      clientId: 'c',
      apiBaseUrls: ['https://api.example.com'],
      scopeRules: [{ method: 'GET', pathPattern: '/contacts/**', scope: 'contacts.read' }],
    })
  ).id;
}

const liveCount = async (h: Harness, tenantId: string) => (await h.custody.tokens.managedCounts(tenantId)).reduce((n, c) => n + c.live, 0);

// A harness of its own, its findings evaluation stopped: judging 10,000 new tokens (three times
// the import's own work) is what the findings' tests and the benchmark measure, not this one.
describeEachDatabase('import of 10,000 tokens', (kind) => {
  let h: Harness;
  let provider: string;
  beforeAll(async () => {
    h = await startHarness(kind, { clock: fixedClock(NOW) });
    provider = await createProvider(h);
    await h.custody.findings.close();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('imports a 10k-row CSV once: run again, it finds all 10,000 and inserts none', async () => {
    const tenant = (await h.custody.tenants.create(h.admin, { name: 'bulk' })).id;
    // Four in five inventory-only (matched by externalId), one in five with credentials and no externalId (matched by fingerprint).
    const lines = [HEADER];
    for (let i = 0; i < 10_000; i++) {
      lines.push(i % 5 !== 0 ? `${tenant},${provider},crm-${i},team-${i % 7},,,,contacts.read,,,2026-01-01` : `${tenant},${provider},,team-${i % 7},admin@acme,sync contacts,crm-sync,contacts.read contacts.write,at-bulk-${i},rt-bulk-${i},2026-01-01T00:00:00Z`);
    }
    const batches = await csvBatches(`${lines.join('\n')}\n`, 2_000);
    expect(batches).toHaveLength(5);
    expect(await runBatches(h, batches)).toEqual({ imported: 10_000, existing: 0, invalid: 0 });
    expect(await liveCount(h, tenant)).toBe(10_000);
    expect(await runBatches(h, batches)).toEqual({ imported: 0, existing: 10_000, invalid: 0 });
    expect(await liveCount(h, tenant)).toBe(10_000);
    // One token.imported entry per new token, none for the second run.
    let entries = 0;
    for (let after = 0; ; ) {
      const page = await h.custody.ledger.list({ tenantId: tenant, action: 'token.imported', order: 'asc', limit: 5000, afterSeq: after });
      entries += page.length;
      expect(page.every((e) => e.actor === 'system:test')).toBe(true);
      if (page.length < 5000) break;
      after = page[page.length - 1]!.seq;
    }
    expect(entries).toBe(10_000);
    // Seconds when the machine is quiet; a loaded one (two cores shared by parallel test files) takes longer.
  }, 90_000);
});

describeEachDatabase('import of tokens held elsewhere', (kind) => {
  const clock = fixedClock(NOW);
  let h: Harness;
  let A: string;
  let B: string;
  let provider: string;
  let adminKey: string;
  let tenantAdminA: string;

  const countOf = (tenantId: string) => liveCount(h, tenantId);
  const run = (batches: ImportBody[]) => runBatches(h, batches);
  const post = (body: object, key = adminKey) => h.app.inject({ method: 'POST', url: '/v1/tokens/import', headers: bearer(key), payload: body });

  beforeAll(async () => {
    h = await startHarness(kind, { clock });
    A = (await h.custody.tenants.create(h.admin, { name: 'acme' })).id;
    B = (await h.custody.tenants.create(h.admin, { name: 'globex' })).id;
    provider = await createProvider(h);
    adminKey = await keyFor(h, 'admin');
    tenantAdminA = await keyFor(h, 'tenant_admin', A);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('answers every bad row by its line in the file and writes nothing from that batch', async () => {
    const ghost = 'ten_01JAAAAAAAAAAAAAAAAAAAAAAA';
    const csv = [
      HEADER, // 1
      `${A},${provider},ok-1,team-a,,,,,,,`, // 2
      `${A},${provider},ok-2,team-a,,"multi`, // 3: a quoted field over two lines
      `line purpose",,,,,`, // 4
      `${ghost},${provider},x-1,team-a,,,,,,,`, // 5: unknown tenant
      '', // 6: empty, skipped
      `${A},${provider},x-2,team-a,,,,,,,31/12/2026`, // 7: bad date
      `${A},${provider},x-3,,,,,,,,`, // 8: missing owner
      `${A},${provider},ok-1,team-b,,,,,,,`, // 9: repeats line 2
      `${A},${provider},,team-a,,,,,,,`, // 10: no credential and no externalId
      `${A},${provider},x-4,team-a,,,bad workload!,,,,`, // 11
      `${A},${provider},x-5,team-a,,,,,,rt-only,`, // 12: refresh without access
      `${A},${provider},x-6`, // 13: too few fields
    ].join('\n');
    const before = await countOf(A);
    const r = await h.custody.imports.importBatch(h.admin, { format: 'csv', data: csv });
    expect(r.written).toBe(false);
    expect(r.imported).toBe(0);
    expect(await countOf(A)).toBe(before);
    const byLine = Object.fromEntries(r.invalidRows.map((i) => [i.line, i.reasons.map((x) => `${x.column}: ${x.message}`).join(' | ')]));
    expect(Object.keys(byLine).map(Number)).toEqual([5, 7, 8, 9, 10, 11, 12, 13]);
    expect(byLine[5]).toMatch(/^tenantId: no tenant ten_01JAAAAAAAAAAAAAAAAAAAAAAA is visible to you/);
    expect(byLine[7]).toMatch(/^issuedAt: is not a date/);
    expect(byLine[8]).toBe('owner: is required');
    expect(byLine[9]).toMatch(/^externalId: repeats line 2/);
    expect(byLine[10]).toMatch(/^externalId: is required for a row without credentials/);
    expect(byLine[11]).toMatch(/^workloads: item \d+ is not a workload name/);
    expect(byLine[12]).toMatch(/^accessToken: is required with a refreshToken/);
    expect(byLine[13]).toMatch(/has 3 fields; the header has 11/);
    // The valid rows are said to be new (not written), with their lines: 2 and the one spanning 3–4.
    expect(r.results.map((x) => [x.line, x.status])).toEqual([
      [2, 'new'],
      [3, 'new'],
    ]);
    expect(r.invalid).toBe(8);
    expect(r.unwritten).toBe(2);

    // skipInvalid writes the good rows and still reports the bad ones.
    const skipped = await h.custody.imports.importBatch(h.admin, { format: 'csv', data: csv, skipInvalid: true });
    expect(skipped).toMatchObject({ written: true, imported: 2, invalid: 8 });
    expect(await countOf(A)).toBe(before + 2);
    const multi = await h.custody.tokens.get(h.admin, skipped.results[1]!.tokenId!);
    expect(multi).toMatchObject({ externalId: 'ok-2', purpose: 'multi\nline purpose' });

    // JSON: the line each object starts on; an unknown key is refused, not dropped.
    const json = `{"tokens": [\n  {"tenantId": "${A}", "providerId": "${provider}", "externalId": "j-1", "owner": "team-a"},\n  {"tenantId": "${A}", "providerId": "${provider}", "externalId": "j-2",\n   "owner": "team-a", "colour": "blue"}\n]}`;
    const j = await h.custody.imports.importBatch(h.admin, { format: 'json', data: json, firstLine: 10 });
    expect(j.invalidRows).toEqual([{ line: 12, reasons: [{ column: 'colour', message: 'is not a column Custody knows (docs/import.md lists them)' }] }]);
    expect(j.written).toBe(false);
  });

  it('refuses a whole batch it cannot read with a coded 400, and writes nothing on a dry run', async () => {
    const unknownColumn = await post({ format: 'csv', data: 'tenantId,providerId,owner,colour\n' });
    expect(unknownColumn.statusCode).toBe(400);
    expect(unknownColumn.json().error.code).toBe('import_columns_invalid');
    expect(unknownColumn.json().error.message).toMatch(/unknown column "colour"/);
    const missing = await post({ format: 'csv', data: 'tenantId,providerId\n' });
    expect(missing.json().error).toMatchObject({ code: 'import_columns_invalid', message: expect.stringMatching(/owner is missing/) });
    const malformed = await post({ format: 'csv', data: `tenantId,providerId,owner\n${A},${provider},"team\n` });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().error).toMatchObject({ code: 'import_malformed', message: expect.stringMatching(/near line 2/) });
    const badJson = await post({ format: 'json', data: '[\n{"owner": "x"},\n{"owner": }\n]' });
    expect(badJson.json().error).toMatchObject({ code: 'import_malformed', message: expect.stringMatching(/near line 3/) });
    const tooMany = await post({ format: 'csv', data: `tenantId,providerId,owner\n${`${A},${provider},x\n`.repeat(2_001)}` });
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json().error.code).toBe('import_batch_too_large');
    const unknownField = await post({ format: 'csv', data: 'x', extra: 1 });
    expect(unknownField.json().error.code).toBe('validation_failed');

    const before = await countOf(A);
    const dry = await post({ format: 'csv', data: `tenantId,providerId,externalId,owner\n${A},${provider},dry-1,team-a\n`, dryRun: true });
    expect(dry.statusCode).toBe(200);
    expect(dry.json()).toMatchObject({ written: false, imported: 0, unwritten: 1, results: [{ line: 2, status: 'new', tokenId: null }] });
    expect(await countOf(A)).toBe(before);
  });

  it('resumes an interrupted import without duplicates (stopped after some batches, or a batch rolled back mid-way)', async () => {
    const tenant = (await h.custody.tenants.create(h.admin, { name: 'resume' })).id;
    const lines = [HEADER];
    for (let i = 0; i < 500; i++) lines.push(`${tenant},${provider},r-${i},team-r,,,,,${i % 3 === 0 ? `at-resume-${i}` : ''},,`);
    const batches = await csvBatches(lines.join('\n'), 100);
    // Stopped after two of five batches (the CLI killed, the machine restarted).
    expect(await run(batches.slice(0, 2))).toMatchObject({ imported: 200 });
    // A batch that fails after its rows were inserted (here: at the commit's change hooks) rolls back whole.
    let failNext = true;
    h.custody.tokens.onChange(async () => {
      if (failNext) {
        failNext = false;
        throw new Error('the database went away');
      }
    });
    await expect(h.custody.imports.importBatch(h.admin, batches[2]!)).rejects.toThrow('the database went away');
    expect(await countOf(tenant)).toBe(200);
    // The same file again, from the start: the first 200 are recognised, the rest written once.
    expect(await run(batches)).toEqual({ imported: 300, existing: 200, invalid: 0 });
    expect(await countOf(tenant)).toBe(500);
    expect(await run(batches)).toEqual({ imported: 0, existing: 500, invalid: 0 });
    const ids = new Set<string>();
    for (let cursor: string | undefined; ; ) {
      const page = await h.custody.tokens.list(h.admin, { tenantId: tenant, limit: 1000, ...(cursor ? { afterId: cursor } : {}) });
      for (const t of page.items) ids.add(t.externalId!);
      if (!page.nextCursor) break;
      cursor = page.items[page.items.length - 1]!.id;
    }
    expect(ids.size).toBe(500);
  });

  it('keeps an inventory-only record unusable: refused by the gateway, unmanaged with findings naming what is missing', async () => {
    const r = await h.custody.imports.importBatch(h.admin, { format: 'json', data: JSON.stringify([{ tenantId: A, providerId: provider, externalId: 'inv-1', owner: 'nobody-we-know', workloads: 'crm-sync', scopes: 'contacts.read' }]) });
    expect(r).toMatchObject({ written: true, imported: 1 });
    const id = r.results[0]!.tokenId!;
    const record = await h.custody.tokens.get(h.admin, id);
    expect(record).toMatchObject({ inventoryOnly: true, externalId: 'inv-1', usageChannel: 'direct', hasRefreshToken: false, managed: false, revocationPath: { upstream: 'none', verified: false } });
    expect(record.managedReasons.map((m) => m.code)).toEqual(['no_revocation_path', 'no_approver', 'no_purpose']);

    await h.custody.findings.settled();
    const { items } = await h.custody.findingQueries.list(h.admin, { tokenId: id, limit: 100 });
    const types = items.map((f) => f.type).sort();
    expect(types).toEqual(expect.arrayContaining(['unmanaged', 'no_owner', 'no_approver', 'no_purpose', 'no_revocation_path', 'unobserved']));
    expect(items.find((f) => f.type === 'no_owner')!.reasons[0]!.message).toMatch(/"nobody-we-know" is not in the owners directory/);

    // The gateway: a workload listed on the token is refused with the code, before anything is sent upstream.
    const workloadKey = await keyFor(h, 'workload', A, 'crm-sync');
    const call = await h.app.inject({ method: 'GET', url: `/gw/${id}/contacts/1`, headers: bearer(workloadKey) });
    expect(call.statusCode).toBe(403);
    expect(call.json().error.code).toBe('token_inventory_only');
    // Nothing reveals a credential it does not hold.
    await expect(h.custody.tokens.revealAccessToken(id)).rejects.toMatchObject({ code: 'token_inventory_only' });
    await expect(h.custody.tokens.revealCredentials(id)).rejects.toBeInstanceOf(CustodyError);
    // Revoked, it is revoked in Custody only: no upstream revocation is queued for it.
    const revoked = await h.custody.tokens.transition(h.admin, id, 'revoke', 'imported by mistake');
    expect(revoked.revocation).toMatchObject({ upstream: 'none' });
    const jobs = await h.custody.storage.db.selectFrom('outbox_jobs').select('id').where('subject_id', '=', id).execute();
    expect(jobs).toEqual([]);
  });

  it('brings an inventory-only record under management when the customer approves it again (consent renewal)', async () => {
    const r = await h.custody.imports.importBatch(h.admin, { format: 'csv', data: `tenantId,providerId,externalId,owner,workloads\n${A},${provider},inv-renew,team-a,crm-sync\n` });
    const id = r.results[0]!.tokenId!;
    // What a reauthorisation link's consent does for an active token (src/oauth/consent.service.ts).
    await h.custody.tokens.unitOfWork((work) =>
      h.custody.tokens.renewApproval(work, id, { subject: 'admin@acme', email: null, issuer: 'https://issuer.example.com', startedBy: 'system:test', flowId: 'flw_test' }, { access: new Secret('at-renewed'), refresh: new Secret('rt-renewed'), accessExpiresAt: null, scopes: ['contacts.read'] }),
    );
    const record = await h.custody.tokens.get(h.admin, id);
    expect(record).toMatchObject({ inventoryOnly: false, externalId: 'inv-renew', hasRefreshToken: true, revocationPath: { upstream: 'rfc7009' }, approver: { subject: 'admin@acme' } });
    expect((await h.custody.tokens.revealAccessToken(id)).reveal()).toBe('at-renewed');
    expect((await h.custody.tokens.findByCredential(h.admin, 'rt-renewed'))?.id).toBe(id);
  });

  it('encrypts imported credentials as registration does, and an imported record reads like a registered one', async () => {
    const r = await h.custody.imports.importBatch(h.admin, {
      format: 'csv',
      data: `${HEADER},accessExpiresAt\n${A},${provider},cred-1,team-a,admin@acme,sync contacts,crm-sync,contacts.read,at-imported-1,rt-imported-1,2026-10-01,2026-11-01T01:00:00Z\n`,
    });
    const id = r.results[0]!.tokenId!;
    expect(await h.custody.tokens.revealCredentials(id)).toMatchObject({ access: expect.any(Secret), refresh: expect.any(Secret) });
    expect((await h.custody.tokens.revealAccessToken(id)).reveal()).toBe('at-imported-1');
    const row = await h.custody.storage.db.selectFrom('tokens').select(['access_token_enc', 'refresh_token_enc', 'access_fp']).where('id', '=', id).executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain('imported-1');
    // A leaked string traces to the imported record.
    expect((await h.custody.tokens.findByCredential(h.admin, 'rt-imported-1'))?.id).toBe(id);

    const registered = await h.custody.tokens.register(h.admin, {
      tenantId: A,
      providerId: provider,
      owner: 'team-a',
      approver: { subject: 'admin@acme' },
      purpose: 'sync contacts',
      workloads: ['crm-sync'],
      scopes: ['contacts.read'],
      accessToken: new Secret('at-registered-1'),
      refreshToken: new Secret('rt-registered-1'),
      issuedAt: '2026-10-01T00:00:00.000Z',
      accessExpiresAt: '2026-11-01T01:00:00.000Z',
    });
    const imported = await h.custody.tokens.get(h.admin, id);
    // The risk score is judged in the background, whenever the findings get to each.
    const differs = ['id', 'stateReason', 'externalId', 'createdAt', 'updatedAt', 'risk'];
    const strip = (t: object) => Object.fromEntries(Object.entries(t).filter(([k]) => !differs.includes(k)));
    expect(strip(imported)).toEqual(strip(registered));
    expect(imported.stateReason).toBe('imported');
  });

  it('confines a tenant administrator to its own tenant, answering another tenant like one that does not exist', async () => {
    const row = (tenantId: string, ext: string) => `tenantId,providerId,externalId,owner\n${tenantId},${provider},${ext},team-a\n`;
    const foreign = await post({ format: 'csv', data: row(B, 'ta-1') }, tenantAdminA);
    const missing = await post({ format: 'csv', data: row('ten_01JAAAAAAAAAAAAAAAAAAAAAAA', 'ta-1') }, tenantAdminA);
    expect(foreign.statusCode).toBe(200);
    const reasonOf = (res: typeof foreign) => (res.json() as ImportResult).invalidRows[0]!.reasons[0]!;
    expect(foreign.json()).toMatchObject({ written: false, imported: 0, invalid: 1 });
    expect(reasonOf(foreign).column).toBe('tenantId');
    expect(reasonOf(foreign).message.replace(B, 'X')).toBe(reasonOf(missing).message.replace('ten_01JAAAAAAAAAAAAAAAAAAAAAAA', 'X'));
    expect((await h.custody.tokens.list(h.admin, { tenantId: B, limit: 1000 })).items.filter((t) => t.externalId === 'ta-1')).toEqual([]);
    // Even with skipInvalid, nothing lands in tenant B.
    const skipping = await post({ format: 'csv', data: row(B, 'ta-1'), skipInvalid: true }, tenantAdminA);
    expect(skipping.json()).toMatchObject({ written: true, imported: 0, invalid: 1 });
    // Its own tenant is fine; declaring other tenants served is platform staff's alone.
    const own = await post({ format: 'csv', data: row(A, 'ta-2') }, tenantAdminA);
    expect(own.json()).toMatchObject({ written: true, imported: 1 });
    const served = await post({ format: 'csv', data: `tenantId,providerId,externalId,owner,servedTenants\n${A},${provider},ta-3,team-a,${B}\n` }, tenantAdminA);
    expect(served.json().invalidRows[0].reasons[0]).toEqual({ column: 'servedTenants', message: 'only platform staff (admin, security) declare that a token serves other tenants' });
    // Roles without the permission.
    for (const role of ['auditor', 'workload'] as const) {
      const res = await post({ format: 'csv', data: row(A, 'ta-4') }, await keyFor(h, role, role === 'workload' ? A : undefined, role === 'workload' ? 'crm-sync' : undefined));
      expect(res.statusCode).toBe(403);
      expect(res.json().error.code).toBe('forbidden');
    }
  });
});
