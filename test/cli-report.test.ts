import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from './support/cli.ts';
import { describeEachDatabase } from './support/databases.ts';
import { keyFor, seed, startHarness, type Harness, type Seeded } from './support/harness.ts';

/**
 * `custody report` and `custody report verify` as a user runs them (the compiled CLI) against a
 * real server: a saved report verifies online and offline, and fails with exit code 6 after one
 * byte of it changes; CSV and HTML are written as the server sends them.
 */
describeEachDatabase('custody report', (kind) => {
  let h: Harness;
  let s: Seeded;
  let env: Record<string, string | undefined>;
  let dir: string;

  beforeAll(async () => {
    h = await startHarness(kind);
    s = await seed(h);
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    env = { CUSTODY_URL: `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`, CUSTODY_API_KEY: await keyFor(h, 'auditor') };
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'custody-report-cli-'));
  });
  afterAll(async () => {
    await h?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const cli = (args: string[], extra: Record<string, string | undefined> = {}) => runCli(args, { ...env, ...extra });

  it('saves a signed report that verifies with the server’s key and offline, and fails with exit 6 after one byte changes', async () => {
    const file = path.join(dir, 'report.json');
    const keyFile = path.join(dir, 'ledger-key.json');
    // Independent commands run at once: each spawn costs most of a second.
    const [saved, key] = await Promise.all([cli(['report', '--tenant', s.tenantA, '--out', file]), h.app.inject({ method: 'GET', url: '/v1/ledger/key', headers: { authorization: `Bearer ${env.CUSTODY_API_KEY}` } })]);
    expect(saved.code, saved.stderr).toBe(0);
    expect(saved.stdout).toContain(`custody report verify ${file}`);
    fs.writeFileSync(keyFile, key.body);
    const pemFile = path.join(dir, 'ledger-key.pem');
    fs.writeFileSync(pemFile, key.json().pem);
    const text = fs.readFileSync(file, 'utf8');
    const report = JSON.parse(text).report;
    expect(report.scope.tenantId).toBe(s.tenantA);

    // One byte of a figure changed: the live count's first digit.
    const at = text.indexOf('"live": ') + '"live": '.length;
    const tampered = path.join(dir, 'tampered.json');
    fs.writeFileSync(tampered, text.slice(0, at) + String((Number(text[at]) + 1) % 10) + text.slice(at + 1));
    const broken = path.join(dir, 'broken.json');
    fs.writeFileSync(broken, `#${text.slice(1)}`);

    const [online, offline, offlinePem, asJson, bad, badJson, unreadable, noFile] = await Promise.all([
      cli(['report', 'verify', file]),
      cli(['report', 'verify', file, '--key', keyFile], { CUSTODY_URL: 'http://127.0.0.1:9', CUSTODY_API_KEY: undefined }),
      cli(['report', 'verify', file, '--key', pemFile], { CUSTODY_URL: 'http://127.0.0.1:9', CUSTODY_API_KEY: undefined }),
      cli(['report', 'verify', file, '--json']),
      cli(['report', 'verify', tampered, '--key', keyFile]),
      cli(['report', 'verify', tampered, '--key', keyFile, '--json']),
      cli(['report', 'verify', broken, '--key', keyFile]),
      cli(['report', 'verify', path.join(dir, 'missing.json'), '--key', keyFile]),
    ]);
    expect(online.code, online.stderr).toBe(0);
    expect(online.stdout).toContain(`Report signature: valid (EdDSA over RFC 8785, key ${key.json().keyId})`);
    expect(online.stdout).toContain(`checkpoint at entry ${report.ledger.checkpoint.seq}, hash ${report.ledger.checkpoint.hash}`);
    expect(online.stdout).toContain(`Period:           ${report.period.from} to ${report.period.to} (exclusive)`);
    expect(online.stdout).toContain(`Generated at:     ${report.generatedAt}`);
    expect(online.stdout).toContain(`published by ${env.CUSTODY_URL}`);
    expect(offline.code, offline.stderr).toBe(0);
    expect(offline.stdout).toContain(`key file ${keyFile}`);
    expect(offlinePem.code, offlinePem.stderr).toBe(0);
    expect(JSON.parse(asJson.stdout)).toMatchObject({ ok: true, keyId: key.json().keyId, checkpoint: { seq: report.ledger.checkpoint.seq, valid: true } });

    expect(bad.code).toBe(6);
    expect(bad.stdout).toContain('Report signature: NOT VALID');
    expect(bad.stderr).toContain('does NOT verify: the signature does not match the report');
    expect(badJson.code).toBe(6);
    expect(JSON.parse(badJson.stdout).ok).toBe(false);
    expect(JSON.parse(badJson.stderr).error.code).toBe('report_signature_invalid');
    expect(unreadable.code).toBe(6);
    expect(unreadable.stderr).toContain('is not valid JSON');
    expect(noFile.code).toBe(2);
  });

  it('writes one CSV table or the HTML page as the server sends them, and refuses a CSV without a table', async () => {
    const csvFile = path.join(dir, 'exceptions.csv');
    const [csv, html, noTable, wrongTable, other] = await Promise.all([
      cli(['report', '--format', 'csv', '--table', 'connections', '--from', '2020-01-01', '--to', '2020-12-31']),
      cli(['report', '--format', 'html', '--out', path.join(dir, 'report.html')]),
      cli(['report', '--format', 'csv']),
      cli(['report', '--format', 'csv', '--table', 'passwords']),
      cli(['report', '--tenant', s.tenantB, '--format', 'csv', '--table', 'findings_by_type', '--out', csvFile], { CUSTODY_API_KEY: await keyFor(h, 'tenant_admin', s.tenantA) }),
    ]);
    expect(csv.code, csv.stderr).toBe(0);
    const rows = parse(csv.stdout, { columns: true }) as Record<string, string>[];
    expect(rows.map((r) => [r.tenant_id, r.live_tokens, r.scopes]).sort()).toEqual([s.tenantA, s.tenantB].sort().map((t) => [t, '1', 'invoices.read(1)']));
    expect(html.code, html.stderr).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'report.html'), 'utf8')).toMatch(/^<!DOCTYPE html>/);
    expect(noTable.code).toBe(2);
    expect(noTable.stderr).toContain('add --table with one of summary,');
    expect(wrongTable.code).toBe(2);
    // A tenant administrator asking for another tenant: not found (exit 3), nothing written.
    expect(other.code).toBe(3);
    expect(fs.existsSync(csvFile)).toBe(false);
  });
});
