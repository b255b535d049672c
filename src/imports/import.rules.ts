import { isId } from '../shared/ids.ts';

/**
 * What a row of an import must be (issue 16), as plain functions over plain data: the columns, how
 * each value is read from CSV text or JSON, and every reason a row is refused — each a message a
 * person can act on, naming the column. docs/import.md documents the same table.
 */

/** The columns an import knows, in the order docs/import.md lists them. */
export const IMPORT_COLUMNS = [
  'tenantId',
  'providerId',
  'externalId',
  'owner',
  'subject',
  'approverSubject',
  'approverEmail',
  'approverIssuer',
  'approvedAt',
  'purpose',
  'reviewDueAt',
  'workloads',
  'scopes',
  'accessToken',
  'refreshToken',
  'issuedAt',
  'accessExpiresAt',
  'refreshExpiresAt',
  'servedTenants',
] as const;
export type ImportColumn = (typeof IMPORT_COLUMNS)[number];

/** A CSV header must name these (a row may still leave owner empty: it is then refused with its line). */
export const REQUIRED_COLUMNS: readonly ImportColumn[] = ['tenantId', 'providerId', 'owner'];

/** Rows one batch may hold: a batch is one transaction, held briefly. */
export const MAX_BATCH_ROWS = 2_000;
/** Invalid rows listed in one answer: all of a batch's (so an answer stays bounded by the batch, and a CLI report is complete). */
export const MAX_INVALID_LISTED = MAX_BATCH_ROWS;

const BY_LOWER = new Map<string, ImportColumn>(IMPORT_COLUMNS.map((c) => [c.toLowerCase(), c]));

/** The column a header cell names (case and surrounding blanks do not matter); undefined when none. */
export function columnNamed(name: string): ImportColumn | undefined {
  return BY_LOWER.get(name.trim().toLowerCase());
}

/**
 * An unknown column's name as an answer may repeat it: a header that is really a row of data (no
 * header line) would otherwise echo its values — credentials among them — back to the terminal.
 */
export function shownName(name: string): string {
  const n = name.trim();
  // Short: a credential in a header cell (a file without its header) is longer than any column name.
  return /^[A-Za-z][A-Za-z0-9 _.-]{0,23}$/.test(n) ? `"${n}"` : `(${n.length} characters, not shown: is the first line a header?)`;
}

/** Problems with a header (or a JSON object's keys as a header), each a sentence; [] when it is fine. */
export function headerProblems(names: readonly string[], { requireAll = true } = {}): string[] {
  const problems: string[] = [];
  const unknown = names.filter((n) => n.trim() !== '' && !columnNamed(n));
  if (unknown.length > 0) problems.push(`unknown column${unknown.length === 1 ? '' : 's'} ${unknown.map(shownName).join(', ')} (the columns are ${IMPORT_COLUMNS.join(', ')})`);
  if (names.some((n) => n.trim() === '')) problems.push('a column has no name');
  const seen = new Set<string>();
  for (const n of names) {
    const c = columnNamed(n);
    if (c && seen.has(c)) problems.push(`column ${c} is named twice`);
    if (c) seen.add(c);
  }
  if (requireAll) {
    const missing = REQUIRED_COLUMNS.filter((c) => !seen.has(c));
    if (missing.length > 0) problems.push(`the required column${missing.length === 1 ? '' : 's'} ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing`);
  }
  return problems;
}

/** One row as read from the file: its line and its values by column (text from CSV; any JSON value). */
export interface RawRow {
  line: number;
  values: Partial<Record<ImportColumn, unknown>>;
  /** Problems found while reading it (unknown keys, a wrong number of fields, not an object). */
  problems: RowProblem[];
}

export interface RowProblem {
  /** The column the problem is with; null for the row as a whole. */
  column: string | null;
  message: string;
}

/** A row that passed every check, ready for the tokens folder (credentials still plain strings here). */
export interface CheckedRow {
  line: number;
  tenantId: string;
  providerId: string;
  externalId: string | null;
  owner: string;
  subject?: string;
  approver?: { subject: string; email?: string; issuer?: string; approvedAt?: string };
  purpose?: string;
  reviewDueAt?: string;
  workloads: string[];
  scopes: string[];
  accessToken?: string;
  refreshToken?: string;
  issuedAt?: string;
  accessExpiresAt?: string;
  refreshExpiresAt?: string;
  servedTenants: string[];
}

/** What the checks need to know beyond the row: who asks, and which tenants and providers exist. */
export interface RowContext {
  /** The caller's tenant (a tenant administrator), or null for platform staff. */
  callerTenantId: string | null;
  /** Tenant ids that exist (of those the batch names). */
  tenants: ReadonlySet<string>;
  /** Provider ids that exist (of those the batch names). */
  providers: ReadonlySet<string>;
  /** The time now (approval and issue dates may not lie ahead of it); absent: not checked. */
  now?: Date;
}

const WORKLOAD = /^[A-Za-z0-9._:-]{1,100}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[Tt]\d{2}:\d{2}:[0-5]\d(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$/;
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const CONTROL = /[\u0000-\u001f\u007f]/;
// Free text (a purpose) may span lines; nothing else may.
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const CONTROL_BUT_LINES = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** Reads one row's values; each problem names its column. */
class RowReader {
  readonly problems: RowProblem[] = [];
  constructor(private readonly values: RawRow['values']) {}

  private fail(column: string | null, message: string): undefined {
    this.problems.push({ column, message });
    return undefined;
  }

  /** Text, trimmed; undefined when absent or blank. */
  text(column: ImportColumn, max: number, { required = false, numbers = false, multiline = false } = {}): string | undefined {
    const v = this.values[column];
    if (v === undefined || v === null || (typeof v === 'string' && v.trim() === '')) return required ? this.fail(column, 'is required') : undefined;
    if (typeof v === 'number' && numbers && Number.isFinite(v)) return String(v);
    if (typeof v !== 'string') return this.fail(column, 'must be text');
    const s = v.trim();
    if (s.length > max) return this.fail(column, `is longer than ${max} characters`);
    if ((multiline ? CONTROL_BUT_LINES : CONTROL).test(s)) return this.fail(column, multiline ? 'contains control characters' : 'contains control characters (a line break, a tab, …)');
    return s;
  }

  /** A list: a JSON array of text, or text separated by `separator`. */
  list(column: ImportColumn, separator: RegExp, maxItems: number, check: (item: string) => string | null): string[] {
    const v = this.values[column];
    if (v === undefined || v === null) return [];
    let items: unknown[];
    if (Array.isArray(v)) items = v;
    else if (typeof v === 'string') items = v.split(separator);
    else return this.fail(column, 'must be text or a list of text') ?? [];
    const out: string[] = [];
    for (const item of items) {
      if (typeof item !== 'string') return this.fail(column, 'must hold only text') ?? [];
      const s = item.trim();
      if (s === '') continue;
      const problem = check(s);
      // The value is not repeated: a column shifted by an unquoted comma may hold a credential.
      if (problem) return this.fail(column, `item ${out.length + 1} ${problem}`) ?? [];
      out.push(s);
    }
    const distinct = [...new Set(out)];
    if (distinct.length > maxItems) return this.fail(column, `names more than ${maxItems} items`) ?? [];
    return distinct;
  }

  /** An ISO 8601 date (midnight UTC) or timestamp with a zone, as a canonical timestamp. */
  date(column: ImportColumn): string | undefined {
    const s = this.text(column, 40);
    if (s === undefined) return undefined;
    const parts = DATE_ONLY.exec(s) ?? TIMESTAMP.exec(s);
    const ms = parts ? Date.parse(DATE_ONLY.test(s) ? `${s}T00:00:00Z` : s) : Number.NaN;
    // Date.parse rolls 2026-02-30 over to March: the calendar date must survive the round trip.
    const real = parts && Number.isFinite(ms) && Number(parts[2]) >= 1 && Number(parts[2]) <= 12 && Number(parts[3]) >= 1 && Number(parts[3]) <= daysIn(Number(parts[1]), Number(parts[2]));
    const hour = /[Tt](\d{2})/.exec(s);
    const year = parts ? Number(parts[1]) : 0;
    if (!real || (hour && Number(hour[1]) > 23) || year < 1970 || year > 2200) {
      return this.fail(column, 'is not a date between 1970 and 2200: write an ISO 8601 date (2026-11-28) or timestamp with a zone (2026-11-28T09:00:00Z)');
    }
    return new Date(ms).toISOString();
  }
}

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * Checks one row against the columns' rules and the context (tenants, providers, the caller's
 * tenant). A tenant administrator naming another tenant gets the same answer as for a tenant that
 * does not exist: an import never tells a tenant what other tenants exist.
 */
export function checkRow(raw: RawRow, ctx: RowContext): { ok: true; row: CheckedRow } | { ok: false; problems: RowProblem[] } {
  const r = new RowReader(raw.values);
  const tenantId = r.text('tenantId', 40, { required: true });
  if (tenantId !== undefined) {
    if (!isId('tenant', tenantId)) r.problems.push({ column: 'tenantId', message: 'is not a tenant id (like ten_01J…: a prefix and 26 characters)' });
    else if (!ctx.tenants.has(tenantId) || (ctx.callerTenantId !== null && ctx.callerTenantId !== tenantId)) r.problems.push({ column: 'tenantId', message: `no tenant ${tenantId} is visible to you` });
  }
  const providerId = r.text('providerId', 40, { required: true });
  if (providerId !== undefined) {
    if (!isId('provider', providerId)) r.problems.push({ column: 'providerId', message: 'is not a provider id (like prv_01J…: a prefix and 26 characters)' });
    else if (!ctx.providers.has(providerId)) r.problems.push({ column: 'providerId', message: `no provider ${providerId} exists (custody providers list)` });
  }
  const externalId = r.text('externalId', 200, { numbers: true }) ?? null;
  const owner = r.text('owner', 200, { required: true });
  const subject = r.text('subject', 255);
  const approverSubject = r.text('approverSubject', 255);
  const approverEmail = r.text('approverEmail', 320);
  if (approverEmail !== undefined && !EMAIL.test(approverEmail)) r.problems.push({ column: 'approverEmail', message: 'is not an email address' });
  const approverIssuer = r.text('approverIssuer', 500);
  const approvedAt = r.date('approvedAt');
  if (!approverSubject && (approverEmail || approverIssuer || approvedAt)) {
    r.problems.push({ column: 'approverSubject', message: 'is required when approverEmail, approverIssuer or approvedAt is given (the approver is named by their subject at the issuer)' });
  }
  const purpose = r.text('purpose', 1000, { multiline: true });
  const reviewDueAt = r.date('reviewDueAt');
  const workloads = r.list('workloads', /;/, 100, (w) => (WORKLOAD.test(w) ? null : 'is not a workload name (letters, digits and . _ : -, up to 100)'));
  const scopes = r.list('scopes', /\s+/, 200, (s) => (s.length <= 200 ? null : 'is longer than 200 characters'));
  const accessToken = r.text('accessToken', 16_384);
  const refreshToken = r.text('refreshToken', 16_384);
  if (refreshToken !== undefined && refreshToken === accessToken) r.problems.push({ column: 'refreshToken', message: 'is the same as the accessToken: give each its own value (or only the access token)' });
  if (refreshToken !== undefined && accessToken === undefined) {
    r.problems.push({ column: 'accessToken', message: 'is required with a refreshToken (leave both empty for an inventory-only record)' });
  }
  if (accessToken === undefined && refreshToken === undefined && externalId === null) {
    r.problems.push({ column: 'externalId', message: 'is required for a row without credentials: it is how a later run of the same import recognises the record' });
  }
  const issuedAt = r.date('issuedAt');
  // When it was approved or issued cannot lie ahead (a day's slack for clocks): a future date would keep it looking fresh for ever.
  if (ctx.now) {
    const latest = new Date(ctx.now.getTime() + 86_400_000).toISOString();
    for (const [column, at] of [['approvedAt', approvedAt], ['issuedAt', issuedAt]] as const) if (at !== undefined && at > latest) r.problems.push({ column, message: 'lies in the future: write when it was approved or issued' });
  }
  const accessExpiresAt = r.date('accessExpiresAt');
  const refreshExpiresAt = r.date('refreshExpiresAt');
  const servedTenants = r.list('servedTenants', /;/, 1000, (t) => (isId('tenant', t) ? null : 'is not a tenant id'));
  const others = servedTenants.filter((t) => t !== tenantId);
  if (others.length > 0) {
    if (ctx.callerTenantId !== null) r.problems.push({ column: 'servedTenants', message: 'only platform staff (admin, security) declare that a token serves other tenants' });
    else {
      const missing = others.filter((t) => !ctx.tenants.has(t));
      if (missing.length > 0) r.problems.push({ column: 'servedTenants', message: `names tenants that do not exist: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}` });
    }
  }
  const problems = [...raw.problems, ...r.problems];
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    row: {
      line: raw.line,
      tenantId: tenantId!,
      providerId: providerId!,
      externalId,
      owner: owner!,
      ...(subject !== undefined ? { subject } : {}),
      ...(approverSubject !== undefined
        ? { approver: { subject: approverSubject, ...(approverEmail !== undefined ? { email: approverEmail } : {}), ...(approverIssuer !== undefined ? { issuer: approverIssuer } : {}), ...(approvedAt !== undefined ? { approvedAt } : {}) } }
        : {}),
      ...(purpose !== undefined ? { purpose } : {}),
      ...(reviewDueAt !== undefined ? { reviewDueAt } : {}),
      workloads,
      scopes,
      ...(accessToken !== undefined ? { accessToken } : {}),
      ...(refreshToken !== undefined ? { refreshToken } : {}),
      ...(issuedAt !== undefined ? { issuedAt } : {}),
      ...(accessExpiresAt !== undefined ? { accessExpiresAt } : {}),
      ...(refreshExpiresAt !== undefined ? { refreshExpiresAt } : {}),
      servedTenants,
    },
  };
}

/**
 * The key a re-run recognises a row by (tenant, provider, external id); null without an external
 * id. The CLI uses the same key to find a row repeated in a later batch of the file.
 */
export function externalKeyOf(values: { tenantId?: unknown; providerId?: unknown; externalId?: unknown }): string | null {
  const text = (v: unknown) => (typeof v === 'string' ? v.trim() : typeof v === 'number' && Number.isFinite(v) ? String(v) : '');
  const externalId = text(values.externalId);
  return externalId === '' ? null : `${text(values.tenantId)}\u0000${text(values.providerId)}\u0000${externalId}`;
}

/**
 * Rows of one batch that repeat an earlier row: the same external id, or the same access or
 * refresh token, for the same tenant and provider. Each is refused naming the line it repeats
 * (importing both would make one token two records).
 */
export function duplicateProblems(rows: readonly CheckedRow[]): Map<number, RowProblem> {
  const out = new Map<number, RowProblem>();
  const seen = new Map<string, number>();
  rows.forEach((row, i) => {
    const pair = `${row.tenantId}\u0000${row.providerId}\u0000`;
    const keys: [string, string][] = [];
    if (row.externalId !== null) keys.push([`e${pair}${row.externalId}`, 'externalId']);
    for (const credential of [row.accessToken, row.refreshToken]) if (credential !== undefined) keys.push([`c${pair}${credential}`, credential === row.accessToken ? 'accessToken' : 'refreshToken']);
    for (const [key, column] of keys) {
      const first = seen.get(key);
      if (first !== undefined) {
        out.set(i, { column, message: `repeats line ${rows[first]!.line} (the same ${column === 'externalId' ? 'externalId' : 'credential'} for this tenant and provider): one token is one row` });
        return;
      }
    }
    for (const [key] of keys) seen.set(key, i);
  });
  return out;
}
