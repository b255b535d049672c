import type { LedgerService } from '../ledger/ledger.service.ts';
import type { NewLedgerEntry } from '../ledger/ledger.types.ts';
import type { Clock } from '../shared/clock.ts';
import { newId } from '../shared/ids.ts';
import type { Secret } from '../shared/secret.ts';
import type { Db, Storage } from '../storage/database.ts';
import type { TokensTable } from '../storage/schema.ts';
import type { Vault } from '../vault/vault.service.ts';
import type { TokenState } from './token.lifecycle.ts';
import type { TokenWork } from './token.unit-of-work.ts';

/** One token held elsewhere, as an import brings it in (src/imports checked it). */
export interface ImportTokenInput {
  tenantId: string;
  providerId: string;
  /** Its id in the system it came from: what a re-run finds it by. */
  externalId: string | null;
  owner: string;
  subject?: string;
  approver?: { subject: string; email?: string; issuer?: string; approvedAt?: string };
  purpose?: string;
  reviewDueAt?: string;
  workloads?: string[];
  scopes: string[];
  /** Absent (with no refresh token either): an inventory-only record. */
  accessToken?: Secret;
  refreshToken?: Secret;
  issuedAt?: string;
  accessExpiresAt?: string;
  refreshExpiresAt?: string;
  servedTenants?: string[];
}

/**
 * What became of one row: `imported` (written now), `existing` (Custody already holds it: matched
 * by tenant, provider and external id, or by the credential's fingerprint; left as it is), or `new`
 * (not held yet, and not written: a dry run, or a batch refused for other rows).
 */
export type ImportOutcome =
  | { status: 'imported'; tokenId: string }
  | { status: 'new'; tokenId: null }
  | { status: 'existing'; tokenId: string; state: TokenState; matchedBy: 'externalId' | 'fingerprint' };

/**
 * The fingerprint an inventory-only record stores in `access_fp` (NOT NULL): keyed fingerprints are
 * 64 hex digits, so this can never equal one, and no leaked string traces to the record.
 */
export function inventoryFingerprint(tokenId: string): string {
  return `none:${tokenId}`;
}

function iso(value: string | undefined): string | null {
  return value === undefined ? null : new Date(value).toISOString();
}

const unique = (xs: readonly string[] | undefined) => [...new Set(xs ?? [])];

/**
 * The import of tokens held elsewhere (issue 16), as the tokens folder's named operation: one
 * batch in the caller's unit of work — matched against what is held, the new records inserted
 * set-based (their data keys, tokens and `token.imported` entries in a few statements), every new
 * id touched so the change hooks and committed listeners (gateway caches, findings) hear of them
 * as of any registration. The row mirrors `insert` (token.operations.ts); token-import.test.ts
 * checks that an imported token reads like a registered one.
 */
export function createTokenImport(deps: { storage: Storage; vault: Vault; ledger: LedgerService; clock: Clock }) {
  const { storage, vault, ledger, clock } = deps;

  /** Which rows Custody already holds: by (tenant, provider, external id), else by a credential's fingerprint within that tenant and provider. */
  async function match(db: Db, rows: readonly ImportTokenInput[], fingerprints: readonly ({ access: string; refresh: string | null } | null)[]): Promise<(ImportOutcome & { status: 'existing' })[] | null[]> {
    const out: ((ImportOutcome & { status: 'existing' }) | null)[] = rows.map(() => null);
    const byPair = new Map<string, { tenantId: string; providerId: string; ids: Map<string, number> }>();
    rows.forEach((r, i) => {
      if (r.externalId === null) return;
      const key = `${r.tenantId} ${r.providerId}`;
      let g = byPair.get(key);
      if (!g) byPair.set(key, (g = { tenantId: r.tenantId, providerId: r.providerId, ids: new Map() }));
      g.ids.set(r.externalId, i);
    });
    // One indexed read per tenant and provider (tokens_external_id): a batch names a few.
    for (const g of byPair.values()) {
      const found = await db
        .selectFrom('tokens')
        .select(['id', 'state', 'external_id'])
        .where('tenant_id', '=', g.tenantId)
        .where('provider_id', '=', g.providerId)
        .where('external_id', 'is not', null)
        .where(storage.dialect.anyOf('external_id', [...g.ids.keys()]))
        .execute();
      for (const f of found) {
        const i = g.ids.get(f.external_id!);
        if (i !== undefined) out[i] = { status: 'existing', tokenId: f.id, state: f.state, matchedBy: 'externalId' };
      }
    }
    const wanted = new Map<string, number[]>();
    fingerprints.forEach((fp, i) => {
      if (!fp || out[i]) return;
      for (const f of [fp.access, fp.refresh]) if (f) wanted.set(f, [...(wanted.get(f) ?? []), i]);
    });
    if (wanted.size > 0) {
      const fps = [...wanted.keys()];
      const read = (column: 'access_fp' | 'refresh_fp') =>
        db.selectFrom('tokens').select(['id', 'tenant_id', 'provider_id', 'state', 'access_fp', 'refresh_fp']).where(storage.dialect.anyOf(column, fps)).execute();
      // One after the other: inside a transaction they run on its one connection anyway.
      const found = [...(await read('access_fp')), ...(await read('refresh_fp'))];
      for (const f of found) {
        for (const fp of [f.access_fp, f.refresh_fp]) {
          for (const i of (fp && wanted.get(fp)) || []) {
            const r = rows[i]!;
            if (!out[i] && r.tenantId === f.tenant_id && r.providerId === f.provider_id) out[i] = { status: 'existing', tokenId: f.id, state: f.state, matchedBy: 'fingerprint' };
          }
        }
      }
    }
    return out as (ImportOutcome & { status: 'existing' })[] | null[];
  }

  function fingerprintsOf(rows: readonly ImportTokenInput[]) {
    return rows.map((r) => (r.accessToken ? { access: vault.fingerprint(r.accessToken), refresh: r.refreshToken ? vault.fingerprint(r.refreshToken) : null } : null));
  }

  return {
    /**
     * What an import of `rows` would do, writing nothing: for each row, the record that already
     * holds it, or `new`.
     */
    async matchImport(db: Db, rows: readonly ImportTokenInput[]): Promise<ImportOutcome[]> {
      const found = await match(db, rows, fingerprintsOf(rows));
      return found.map((f) => f ?? { status: 'new', tokenId: null });
    },

    /**
     * Imports a batch in the caller's unit of work: rows Custody already holds are left as they are
     * (`existing`), the others inserted with a `token.imported` entry each. Rows must be distinct
     * (src/imports refuses a batch naming one external id or credential twice). Credentials are
     * encrypted under a data key per record, as registration does; a row without any is an
     * inventory-only record (no data key, the `none:` fingerprint, usage channel `direct`).
     */
    async importBatch(work: TokenWork, actor: string, rows: readonly ImportTokenInput[]): Promise<ImportOutcome[]> {
      const fingerprints = fingerprintsOf(rows);
      const found = await match(work.trx, rows, fingerprints);
      const at = clock.now();
      const now = at.toISOString();
      const fresh = rows.map((r, i) => ({ r, i, id: newId('token', at.getTime()), fp: fingerprints[i]! })).filter((x) => !found[x.i]);
      const withCredentials = fresh.filter((x) => x.r.accessToken);
      const keys = await vault.createDataKeys(work.trx, withCredentials.map((x) => ({ tenantId: x.r.tenantId, ownerId: x.id })), at);
      const keyOf = new Map(withCredentials.map((x, k) => [x.id, keys[k]!]));
      const tokenRows: TokensTable[] = [];
      const entries: NewLedgerEntry[] = [];
      for (const { r, id, fp } of fresh) {
        const key = keyOf.get(id);
        const inventoryOnly = key === undefined;
        const row: TokensTable = {
          id,
          tenant_id: r.tenantId,
          provider_id: r.providerId,
          subject: r.subject ?? null,
          owner: r.owner,
          approver_subject: r.approver?.subject ?? null,
          approver_email: r.approver?.email ?? null,
          approver_issuer: r.approver?.issuer ?? null,
          approved_at: iso(r.approver?.approvedAt),
          approver_active: 1,
          approval_started_by: null,
          purpose: r.purpose ?? null,
          review_due_at: iso(r.reviewDueAt),
          workloads: JSON.stringify(unique(r.workloads)),
          granted_scopes: JSON.stringify(unique(r.scopes)),
          excess_scopes: null,
          state: 'active',
          state_reason: 'imported',
          state_actor: actor,
          state_changed_at: now,
          issued_at: iso(r.issuedAt) ?? now,
          access_expires_at: iso(r.accessExpiresAt),
          refresh_expires_at: iso(r.refreshExpiresAt),
          last_used_at: null,
          last_used_by: null,
          access_token_enc: key ? vault.encrypt(key, 'access_token', r.accessToken!) : '',
          access_fp: key ? fp!.access : inventoryFingerprint(id),
          refresh_token_enc: key && r.refreshToken ? vault.encrypt(key, 'refresh_token', r.refreshToken) : null,
          refresh_fp: key && r.refreshToken ? fp!.refresh : null,
          predecessor_id: null,
          // Its use is not observed: an inventory-only record is used (if at all) outside Custody.
          usage_channel: inventoryOnly ? 'direct' : 'gateway',
          served_tenants: JSON.stringify(unique(r.servedTenants)),
          // When Custody received it, as for a registration.
          access_issued_at: now,
          external_id: r.externalId,
          inventory_only: inventoryOnly ? 1 : 0,
          created_at: now,
          updated_at: now,
        };
        tokenRows.push(row);
        entries.push({
          actor,
          action: 'token.imported',
          tenantId: r.tenantId,
          subjectId: id,
          data: {
            providerId: r.providerId,
            externalId: r.externalId,
            owner: r.owner,
            approver: r.approver ? { subject: r.approver.subject, email: r.approver.email ?? null, issuer: r.approver.issuer ?? null } : null,
            purpose: row.purpose,
            workloads: JSON.parse(row.workloads) as string[],
            scopes: JSON.parse(row.granted_scopes) as string[],
            usageChannel: row.usage_channel,
            ...(r.servedTenants?.length ? { servedTenants: JSON.parse(row.served_tenants!) as string[] } : {}),
            inventoryOnly,
            hasRefreshToken: row.refresh_token_enc !== null,
          },
        });
      }
      // Set-based: the rows in a few multi-row statements, their entries in one append.
      await storage.dialect.insertRows(work.trx, 'tokens', tokenRows);
      await ledger.appendMany(work.trx, entries);
      for (const t of tokenRows) await work.inserted(t.id);
      const ids = new Map(fresh.map((x) => [x.i, x.id]));
      return rows.map((_, i) => found[i] ?? { status: 'imported', tokenId: ids.get(i)! });
    },
  };
}

export type TokenImport = ReturnType<typeof createTokenImport>;
