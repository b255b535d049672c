import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readImportBatch } from './import.parse.ts';
import { checkRow, duplicateProblems, headerProblems, type CheckedRow, type RawRow, type RowContext } from './import.rules.ts';
import { batchData, csvRows, ImportFileError, JsonRowSplitter, jsonRows, type SplitRow } from './import.split.ts';

/** The import's rules, reading and splitting as plain functions: no database. */
const T = 'ten_01JAAAAAAAAAAAAAAAAAAAAAAA';
const T2 = 'ten_01JBBBBBBBBBBBBBBBBBBBBBBB';
const P = 'prv_01JAAAAAAAAAAAAAAAAAAAAAAA';
const staff: RowContext = { callerTenantId: null, tenants: new Set([T, T2]), providers: new Set([P]) };
const raw = (values: RawRow['values'], line = 2): RawRow => ({ line, values, problems: [] });
const base = { tenantId: T, providerId: P, externalId: 'x-1', owner: 'team' };
const problemsOf = (values: RawRow['values'], ctx = staff) => {
  const r = checkRow(raw(values), ctx);
  return r.ok ? [] : r.problems.map((p) => `${p.column}: ${p.message}`);
};

describe('a row of an import', () => {
  it('accepts the documented columns, from CSV text and from JSON values alike', () => {
    const fromCsv = checkRow(raw({ ...base, workloads: 'a; b;a', scopes: ' read  write ', approverSubject: 'alice', approvedAt: '2026-01-31', accessToken: 'at', refreshToken: 'rt', servedTenants: `${T2}` }), staff);
    const fromJson = checkRow(raw({ ...base, workloads: ['a', 'b'], scopes: ['read', 'write'], approverSubject: 'alice', approvedAt: '2026-01-31T00:00:00+00:00', accessToken: 'at', refreshToken: 'rt', servedTenants: [T2] }), staff);
    expect(fromCsv).toEqual(fromJson);
    expect(fromCsv).toMatchObject({ ok: true, row: { workloads: ['a', 'b'], scopes: ['read', 'write'], approver: { subject: 'alice', approvedAt: '2026-01-31T00:00:00.000Z' }, servedTenants: [T2] } });
    // A numeric external id from JSON is its text.
    expect(checkRow(raw({ ...base, externalId: 12345 }), staff)).toMatchObject({ ok: true, row: { externalId: '12345' } });
  });

  it('refuses dates that are not real calendar dates or lack a zone', () => {
    // Nor impossible hours, years outside 1970–2200, or approval and issue dates ahead of now; the value itself is never repeated (it may be a shifted credential).
    for (const bad of ['2026-02-30', '2026-13-01', '31/12/2026', '2026-01-01T10:00:00', 'yesterday', '2026-01-01T24:00:00Z', '0000-01-01', '9999-12-31']) {
      const [problem] = problemsOf({ ...base, issuedAt: bad });
      expect(problem).toMatch(/^issuedAt: is not a date between 1970 and 2200/);
      expect(problem).not.toContain(bad);
    }
    expect(checkRow(raw({ ...base, issuedAt: '2100-01-01' }), { ...staff, now: new Date('2026-12-01T00:00:00Z') })).toMatchObject({ ok: false, problems: [{ column: 'issuedAt', message: expect.stringMatching(/lies in the future/) }] });
    expect(problemsOf({ ...base, accessToken: 'same-value', refreshToken: 'same-value' })).toEqual(['refreshToken: is the same as the accessToken: give each its own value (or only the access token)']);
    expect(problemsOf({ ...base, issuedAt: '2028-02-29' })).toEqual([]);
  });

  it('names every problem of a row with its column', () => {
    expect(problemsOf({ tenantId: 'acme', providerId: 'prv_01JZZZZZZZZZZZZZZZZZZZZZZZ', owner: ' ', approverEmail: 'not-an-email', refreshToken: 'rt', workloads: 'has space' })).toEqual([
      'tenantId: is not a tenant id (like ten_01J…: a prefix and 26 characters)',
      'providerId: no provider prv_01JZZZZZZZZZZZZZZZZZZZZZZZ exists (custody providers list)',
      'owner: is required',
      'approverEmail: is not an email address',
      'approverSubject: is required when approverEmail, approverIssuer or approvedAt is given (the approver is named by their subject at the issuer)',
      'workloads: item 1 is not a workload name (letters, digits and . _ : -, up to 100)',
      'accessToken: is required with a refreshToken (leave both empty for an inventory-only record)',
    ]);
    expect(problemsOf({ ...base, owner: 'line\nbreak', purpose: 'a purpose\nover two lines' })).toEqual(['owner: contains control characters (a line break, a tab, …)']);
    expect(problemsOf({ ...base, externalId: undefined })).toEqual(['externalId: is required for a row without credentials: it is how a later run of the same import recognises the record']);
    expect(problemsOf({ ...base, owner: 42 })).toEqual(['owner: must be text']);
  });

  it('answers a tenant administrator naming another tenant exactly as for a tenant that does not exist', () => {
    const tenantAdmin: RowContext = { ...staff, callerTenantId: T };
    const other = problemsOf({ ...base, tenantId: T2 }, tenantAdmin);
    const missing = problemsOf({ ...base, tenantId: 'ten_01JCCCCCCCCCCCCCCCCCCCCCCC' }, tenantAdmin);
    expect(other).toEqual([`tenantId: no tenant ${T2} is visible to you`]);
    expect(missing).toEqual(['tenantId: no tenant ten_01JCCCCCCCCCCCCCCCCCCCCCCC is visible to you']);
    expect(problemsOf({ ...base, servedTenants: T2 }, tenantAdmin)).toEqual(['servedTenants: only platform staff (admin, security) declare that a token serves other tenants']);
  });

  it('refuses a row repeating an earlier one of the batch by external id or credential', () => {
    const row = (line: number, over: Partial<CheckedRow>): CheckedRow => ({ line, tenantId: T, providerId: P, externalId: null, owner: 'o', workloads: [], scopes: [], servedTenants: [], ...over });
    const rows = [row(2, { externalId: 'a' }), row(3, { externalId: 'a', tenantId: T2 }), row(4, { externalId: 'a' }), row(5, { accessToken: 'at-1' }), row(6, { accessToken: 'at-2', refreshToken: 'at-1' })];
    const d = duplicateProblems(rows);
    expect([...d.keys()]).toEqual([2, 4]);
    expect(d.get(2)!.message).toMatch(/^repeats line 2 /);
    expect(d.get(4)).toMatchObject({ column: 'refreshToken', message: expect.stringMatching(/^repeats line 5 \(the same credential/) });
  });

  it('checks a header: unknown, unnamed, repeated and missing required columns', () => {
    expect(headerProblems(['TenantId', ' providerId ', 'OWNER'])).toEqual([]);
    expect(headerProblems(['tenantId', 'providerId', 'owner', 'colour', '', 'owner'])).toEqual([
      expect.stringMatching(/^unknown column "colour" \(the columns are tenantId, providerId, externalId/),
      'a column has no name',
      'column owner is named twice',
    ]);
    expect(headerProblems(['tenantId'])).toEqual(['the required columns providerId, owner are missing']);
    // A first line that is data, not a header, is not echoed back: it may hold credentials.
    const [noHeader] = headerProblems([T, P, 'team', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl']);
    expect(noHeader).toContain('(52 characters, not shown: is the first line a header?)');
    expect(noHeader).not.toContain('eyJ');
  });
});

describe('reading a batch', () => {
  it('gives each CSV row its line in the file, across quoted line breaks, CRLF and empty lines', () => {
    const rows = readImportBatch({ format: 'csv', data: 'tenantId,providerId,owner\r\n\r\na,b,"c\r\nd"\r\n,,\r\ne,f,g\r\n', firstLine: 40 });
    expect(rows.map((r) => [r.line, r.values.owner])).toEqual([
      [42, 'c\r\nd'],
      [45, 'g'],
    ]);
  });

  it('reads {"tokens": [...]} and plain arrays, with each object’s first line', () => {
    const data = '{"tokens": [\n  {"owner": "a"},\n\n  {\n  "owner": "b"}\n]}';
    expect(readImportBatch({ format: 'json', data }).map((r) => [r.line, r.values.owner])).toEqual([
      [2, 'a'],
      [4, 'b'],
    ]);
    expect(() => readImportBatch({ format: 'json', data: '{"rows": []}' })).toThrow(/must be an array of objects/);
  });
});

describe('splitting a streamed file into batches', () => {
  const collect = async (gen: AsyncIterable<SplitRow>) => {
    const out: SplitRow[] = [];
    for await (const r of gen) out.push(r);
    return out;
  };

  it('finds the same JSON rows however the file is cut into chunks', async () => {
    const text = '\uFEFF{"tokens": [\n {"externalId": "a\\"]}", "tenantId": "t", "providerId": "p"},\n\n {"x": [1, {"y": "}"}]}, 7, "s"\n]}\n';
    const whole = await collect(jsonRows(Readable.from([text])));
    expect(whole.map((r) => [r.line, r.text, r.key])).toEqual([
      [2, '{"externalId": "a\\"]}", "tenantId": "t", "providerId": "p"}', 't\u0000p\u0000a"]}'],
      [4, '{"x": [1, {"y": "}"}]}', null],
      [4, '7', null],
      [4, '"s"', null],
    ]);
    for (const size of [1, 2, 5, 13]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < text.length; i += size) chunks.push(Buffer.from(text.slice(i, i + size)));
      expect(await collect(jsonRows(Readable.from(chunks)))).toEqual(whole);
    }
  });

  it('refuses a JSON file that is not an array of rows, or ends too soon', () => {
    const fails = (text: string) => () => {
      const s = new JsonRowSplitter();
      s.push(text);
      s.end();
    };
    expect(fails('[{"a": 1}')).toThrow(ImportFileError);
    expect(fails('"just text"')).toThrow(/does not start with \[ or \{/);
    expect(fails('{"rows": [{"a": 1}]}')).toThrow(/no "tokens" array/);
    expect(fails('[{"a": 1}] [')).toThrow(/Unexpected text after the rows/);
  });

  it('leaves rows out of a batch without moving the lines after them', async () => {
    const json = await collect(jsonRows(Readable.from(['[\n{"owner": "a"},\n{"owner": "b"},\n{"owner": "c"}\n]'])));
    for (const leave of [[0], [1], [2], [0, 2]]) {
      const rows = readImportBatch({ format: 'json', data: batchData('json', json, new Set(leave)), firstLine: json[0]!.line });
      expect(rows.map((r) => [r.line, r.values.owner])).toEqual(json.map((r, i) => [r.line, ['a', 'b', 'c'][i]]).filter((_, i) => !leave.includes(i)));
    }
    let columns: string[] = [];
    const csv = await collect(csvRows(Readable.from(['tenantId,providerId,owner\n\na,b,"c\nc"\nd,e,f\n']), (c) => (columns = c)));
    expect(csv.map((r) => r.line)).toEqual([3, 5]);
    const kept = readImportBatch({ format: 'csv', data: batchData('csv', csv, new Set([0])), firstLine: csv[0]!.line, columns });
    expect(kept.map((r) => [r.line, r.values.owner])).toEqual([[5, 'f']]);
  });

  it('checks a CSV header before any row comes out', async () => {
    await expect(collect(csvRows(Readable.from(['tenantId,providerId,owner,colour\na,b,c,d\n']), () => {}))).rejects.toThrow(/unknown column "colour"/);
    await expect(collect(csvRows(Readable.from(['']), () => {}))).rejects.toThrow(/The file is empty/);
  });
});
