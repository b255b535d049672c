import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli, spawnCli } from './support/cli.ts';
import { describeEachDatabase } from './support/databases.ts';
import { keyFor, startHarness, type Harness } from './support/harness.ts';
import { eventually } from './support/wait.ts';

/**
 * `custody import FILE` as a user runs it (the compiled CLI against a listening server): bad rows
 * reported by line with a non-zero exit, a full --report, and an import stopped half way — the
 * process killed, or the server failing a batch — resumed by running the same command again,
 * without duplicates. (The server side, 10,000 rows included, is src/imports/imports.test.ts.)
 */
describeEachDatabase('custody import', (kind) => {
  let h: Harness;
  let env: Record<string, string | undefined>;
  let provider: string;
  let dir: string;
  /** How the server's token commits behave: as usual, slowed (so a test can kill the CLI half way), or failing the third. */
  let commits: { mode: 'normal' | 'slow' | 'fail-third'; count: number } = { mode: 'normal', count: 0 };

  beforeAll(async () => {
    h = await startHarness(kind);
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    env = { CUSTODY_URL: `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`, CUSTODY_API_KEY: await keyFor(h, 'admin') };
    provider = (await h.custody.providers.create(h.admin, { name: 'crm', tokenEndpoint: 'https://issuer.example.com/token', clientId: 'c', apiBaseUrls: ['https://api.example.com'] })).id;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'custody-import-'));
    h.custody.tokens.onChange(async () => {
      if (commits.mode === 'slow') await new Promise((r) => setTimeout(r, 50));
      if (commits.mode === 'fail-third' && ++commits.count === 3) throw new Error('disk full');
    });
  });
  afterAll(async () => {
    await h?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const tenant = async (name: string) => (await h.custody.tenants.create(h.admin, { name: `${name}-${kind}` })).id;
  const write = (name: string, text: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };
  const csvOf = (tenantId: string, rows: number) =>
    ['tenantId,providerId,externalId,owner,scopes,accessToken', ...Array.from({ length: rows }, (_, i) => `${tenantId},${provider},ext-${i},team-${i % 3},contacts.read,${i % 4 === 0 ? `at-${tenantId}-${i}` : ''}`)].join('\n') + '\n';
  const live = async (tenantId: string) => (await h.custody.tokens.managedCounts(tenantId)).reduce((n, c) => n + c.live, 0);

  it('reports bad rows by line on stderr and in --report, exits 2, and writes nothing of a batch holding one', async () => {
    const t = await tenant('bad');
    const rows = csvOf(t, 6).trimEnd().split('\n');
    rows[3] = `${t},${provider},ext-2,,contacts.read,`; // line 4: no owner
    rows[5] = `${t},${provider},ext-4,team,contacts.read,,extra`; // line 6: a field too many
    rows.push(`${t},${provider},ext-0,team,contacts.read,`); // line 8: repeats line 2, in a later batch
    rows.push(`${t},${provider},ext-other,team,contacts.read,at-${t}-0`); // line 9: line 2's credential under another external id, in a later batch
    const file = write('bad.csv', `${rows.join('\n')}\n`);
    const reportFile = path.join(dir, 'bad-report.json');
    const r = await runCli(['import', file, '--batch', '3', '--report', reportFile], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('line 4: owner is required');
    expect(r.stderr).toContain('line 6: has 7 fields; the header has 6');
    expect(r.stderr).toContain('line 8: externalId repeats line 2');
    expect(r.stderr).toContain('line 9: accessToken repeats line 2 (the same credential');
    expect(r.stderr + r.stdout).not.toContain(`at-${t}-0`);
    const report = JSON.parse(fs.readFileSync(reportFile, 'utf8'));
    expect(report.invalidRows.map((x: { line: number }) => x.line)).toEqual([4, 6, 8, 9]);
    // Lines 2–4 and 5–7 were refused whole (all or nothing); lines 8–9's batch held only the repeats.
    expect(report).toMatchObject({ imported: 0, invalid: 4, unwritten: 4, refusedBatches: 3 });
    expect(await live(t)).toBe(0);
    expect(r.stdout).toMatch(/not written: 4 valid rows/);
    // --skip-invalid writes the good ones.
    const skipped = await runCli(['import', file, '--batch', '3', '--skip-invalid', '--json'], env);
    expect(skipped.code).toBe(2);
    expect(JSON.parse(skipped.stdout)).toMatchObject({ imported: 4, invalid: 4 });
    expect(await live(t)).toBe(4);
    // Whatever the batch size: one row a batch finds the same repeats.
    const single = await runCli(['import', file, '--batch', '1', '--json'], env);
    expect(JSON.parse(single.stdout).invalidRows.map((x: { line: number }) => x.line)).toEqual([4, 6, 8, 9]);
  });

  it('says so when no server answers (exit 7) or the key is refused (exit 4), instead of stopping silently', async () => {
    const t = await tenant('unreachable');
    const file = write('unreachable.csv', csvOf(t, 30));
    const none = await runCli(['import', file, '--batch', '10'], { ...env, CUSTODY_URL: 'http://127.0.0.1:1' });
    expect([none.code, none.stderr]).toEqual([7, expect.stringMatching(/Cannot reach Custody/)]);
    const auditor = await runCli(['import', file, '--batch', '10'], { ...env, CUSTODY_API_KEY: await keyFor(h, 'auditor') });
    expect([auditor.code, auditor.stderr]).toEqual([4, expect.stringMatching(/auditor role may not/)]);
    // A stray quote in the file: exit 2 with where, and no value repeated.
    const stray = write('stray.csv', `tenantId,providerId,externalId,owner,accessToken\n${t},${provider},e1,alice,ya29.SECRET"tail\n`);
    const bad = await runCli(['import', stray], env);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/could not be read near line 2/)]);
    expect(bad.stderr).not.toContain('SECRET');
  });

  it('resumes without duplicates after the process is killed half way', async () => {
    const t = await tenant('killed');
    const file = write('killed.csv', csvOf(t, 600));
    commits = { mode: 'slow', count: 0 };
    const { child, done } = spawnCli(['import', file, '--batch', '25'], env);
    await eventually(async () => (await live(t)) >= 50, { what: 'two batches imported', timeoutMs: 20_000 });
    child.kill('SIGKILL');
    await done;
    commits = { mode: 'normal', count: 0 };
    const before = await live(t);
    expect(before).toBeLessThan(600);
    // The same command again: what the killed run imported is recognised, the rest written once.
    // (A batch the killed process had already sent may still commit after the kill: at least `before` exist.)
    const resumed = await runCli(['import', file, '--batch', '25', '--json'], env);
    expect(resumed.code, resumed.stderr).toBe(0);
    const report = JSON.parse(resumed.stdout) as { imported: number; existing: number };
    expect(report.existing).toBeGreaterThanOrEqual(before);
    expect(report.imported).toBeGreaterThan(0);
    expect(report.imported + report.existing).toBe(600);
    expect(await live(t)).toBe(600);
  });

  it('stops at a batch the server fails (nothing of it kept), exits 8, and a second run completes it', async () => {
    const t = await tenant('failed');
    const text = JSON.stringify(Array.from({ length: 90 }, (_, i) => ({ tenantId: t, providerId: provider, externalId: `j-${i}`, owner: 'team' })), null, 1);
    const file = write('failed.json', text);
    // The third batch's object opens three lines above its externalId.
    const thirdBatchLine = text.split('\n').findIndex((l) => l.includes('"j-60"')) + 1 - 3;
    commits = { mode: 'fail-third', count: 0 };
    const r = await runCli(['import', file, '--batch', '30', '--json'], env);
    commits = { mode: 'normal', count: 0 };
    expect(r.code).toBe(8);
    expect(JSON.parse(r.stdout)).toMatchObject({ imported: 60, stopped: { atLine: thirdBatchLine, code: 'internal_error' } });
    expect(JSON.parse(r.stderr).error.message).toMatch(/run the same command again to resume/);
    expect(await live(t)).toBe(60);
    const again = await runCli(['import', file, '--batch', '30', '--json'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ imported: 30, existing: 60 });
    expect(await live(t)).toBe(90);
  });
});
