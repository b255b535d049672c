import type { Principal } from '../auth/roles.ts';
import type { ProviderService } from '../providers/provider.service.ts';
import { isCustodyError } from '../shared/errors.ts';
import { isId } from '../shared/ids.ts';
import { Secret } from '../shared/secret.ts';
import type { Clock } from '../shared/clock.ts';
import type { Db, Storage } from '../storage/database.ts';
import type { TenantService } from '../tenants/tenant.service.ts';
import type { ImportOutcome, ImportTokenInput } from '../tokens/token.import.ts';
import type { TokenService } from '../tokens/token.service.ts';
import type { ImportBody, ImportResult } from './import.contract.ts';
import { readImportBatch } from './import.parse.ts';
import { checkRow, duplicateProblems, MAX_INVALID_LISTED, type CheckedRow, type RawRow, type RowProblem } from './import.rules.ts';

export interface ImportServiceDeps {
  storage: Storage;
  tokens: TokenService;
  /** Approval and issue dates may not lie ahead of it; absent: not checked. */
  clock?: Clock;
  tenants: TenantService;
  providers: ProviderService;
}

/** Imports of the same rows from two instances at once would race past each other's matching: one batch at a time. */
const IMPORT_LOCK = 'custody:tokens-import';

function toTokenInput(row: CheckedRow): ImportTokenInput {
  const { line: _line, accessToken, refreshToken, ...rest } = row;
  return {
    ...rest,
    ...(accessToken !== undefined ? { accessToken: new Secret(accessToken) } : {}),
    ...(refreshToken !== undefined ? { refreshToken: new Secret(refreshToken) } : {}),
  };
}

/**
 * The import of tokens held elsewhere (issue 16): a batch read (import.parse.ts), each row checked
 * (import.rules.ts), then — all or nothing — written through the tokens folder's `importBatch` in
 * one unit of work, so each new record is encrypted, ledgered and heard of (gateway, findings) as a
 * registration is. Idempotent: what Custody already holds is reported, never inserted again.
 */
export function createImportService(deps: ImportServiceDeps) {
  const { storage, tokens } = deps;

  /** Which of the tenants and providers the batch names exist (ids of the right form only). */
  async function lookups(db: Db, raw: readonly RawRow[]) {
    const tenantIds = new Set<string>();
    const providerIds = new Set<string>();
    const add = (set: Set<string>, kind: 'tenant' | 'provider', v: unknown) => {
      if (typeof v === 'string' && isId(kind, v.trim())) set.add(v.trim());
    };
    for (const r of raw) {
      add(tenantIds, 'tenant', r.values.tenantId);
      add(providerIds, 'provider', r.values.providerId);
      const served = r.values.servedTenants;
      for (const t of Array.isArray(served) ? served : typeof served === 'string' ? served.split(';') : []) add(tenantIds, 'tenant', t);
    }
    const providers = new Set<string>();
    // A batch names a few providers (platform configuration): one read each.
    for (const id of providerIds) {
      try {
        await deps.providers.findRow(db, id);
        providers.add(id);
      } catch (err) {
        if (!isCustodyError(err) || err.code !== 'provider_not_found') throw err;
      }
    }
    return { tenants: await deps.tenants.existing(db, [...tenantIds]), providers };
  }

  /**
   * Writes the batch in one unit of work; a concurrent import's insert of the same external id
   * makes it run again (and find that record). A batch Custody already holds whole (a resumed
   * import's first batches) is answered from a read, without the lock or a transaction.
   */
  async function write(actor: string, rows: ImportTokenInput[]): Promise<ImportOutcome[]> {
    const held = await tokens.matchImport(storage.db, rows);
    if (held.every((o) => o.status === 'existing')) return held;
    for (let attempt = 1; ; attempt++) {
      try {
        return await storage.dialect.withNamedLock(storage.db, IMPORT_LOCK, () => tokens.unitOfWork((work) => tokens.importBatch(work, actor, rows)));
      } catch (err) {
        if (attempt >= 2 || !storage.dialect.isUniqueViolation(err)) throw err;
      }
    }
  }

  return {
    async importBatch(principal: Principal, body: ImportBody): Promise<ImportResult> {
      const raw = readImportBatch(body);
      const ctx = { callerTenantId: principal.tenantId, ...(await lookups(storage.db, raw)), ...(deps.clock ? { now: deps.clock.now() } : {}) };
      const checked: CheckedRow[] = [];
      const invalid: { line: number; reasons: RowProblem[] }[] = [];
      for (const r of raw) {
        const result = checkRow(r, ctx);
        if (result.ok) checked.push(result.row);
        else invalid.push({ line: r.line, reasons: result.problems });
      }
      const duplicates = duplicateProblems(checked);
      const valid = checked.filter((_, i) => !duplicates.has(i));
      for (const [i, problem] of duplicates) invalid.push({ line: checked[i]!.line, reasons: [problem] });
      invalid.sort((a, b) => a.line - b.line);

      const write_ = !body.dryRun && (invalid.length === 0 || body.skipInvalid === true);
      const inputs = valid.map(toTokenInput);
      const outcomes = valid.length === 0 ? [] : write_ ? await write(principal.actor, inputs) : await tokens.matchImport(storage.db, inputs);
      const count = (status: ImportOutcome['status']) => outcomes.filter((o) => o.status === status).length;
      return {
        written: write_,
        rows: raw.length,
        imported: count('imported'),
        existing: count('existing'),
        unwritten: count('new'),
        invalid: invalid.length,
        invalidRows: invalid.slice(0, MAX_INVALID_LISTED),
        results: outcomes.map((o, i) => ({
          line: valid[i]!.line,
          status: o.status,
          tokenId: o.tokenId,
          // Imported now: active (an import lands active, like a registration). Not written: none yet.
          state: o.status === 'existing' ? o.state : o.status === 'imported' ? ('active' as const) : null,
          matchedBy: o.status === 'existing' ? o.matchedBy : null,
        })),
      };
    },
  };
}

export type ImportService = ReturnType<typeof createImportService>;
