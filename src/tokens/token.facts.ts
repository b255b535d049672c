import type { Db } from '../storage/database.ts';
import type { StorageDialect } from '../storage/dialect.ts';
import { LIVE_STATES, TERMINAL_STATES } from './token.practical-test.ts';
import type { TokenState } from './token.lifecycle.ts';
import { upstreamEndpointOf } from './token.repo.ts';

/**
 * What governance judges a token by (findings): plain data, no credential material, read in pages
 * for the sweep or by id after a change. The tokens folder owns the tables; governance sees this.
 */
export interface TokenFacts {
  id: string;
  tenantId: string;
  providerId: string;
  state: TokenState;
  /** When the state last changed (a suspension lifted since a notice restarts enforcement). */
  stateChangedAt: string;
  owner: string;
  approverSubject: string | null;
  approverEmail: string | null;
  approverActive: boolean;
  approvedAt: string | null;
  purpose: string | null;
  reviewDueAt: string | null;
  issuedAt: string;
  lastUsedAt: string | null;
  usageChannel: 'gateway' | 'direct';
  grantedScopes: string[];
  /** What the issuer granted beyond what the last consent asked for ([]: nothing). */
  excessScopes: string[];
  /** What the live access token holds after a narrowing refresh; null: the granted scopes. */
  effectiveScopes: string[] | null;
  /** Granted scopes gateway calls needed while they were narrowed away (cleared by a consent). */
  wantedScopes: string[];
  /** scope → last use through the gateway (absent: never used). */
  scopeLastUsed: Record<string, string>;
  workloads: string[];
  /** workload → last use through the gateway. */
  workloadLastUsed: Record<string, string>;
  servedTenants: string[];
  accessIssuedAt: string | null;
  accessExpiresAt: string | null;
  refreshExpiresAt: string | null;
  hasRefreshToken: boolean;
  upstreamRevocation: 'rfc7009' | 'none';
  revocationVerified: boolean;
  /** Imported without credentials: Custody holds nothing to use, refresh or revoke it with (its revocation path is none). */
  inventoryOnly: boolean;
  /** The risk score stored when it was last evaluated (null: never, or final), and the digest of what its components were made from: governance writes only a change. */
  riskScore: number | null;
  riskDigest: string | null;
}

export function createTokenFactsReader(dialect: StorageDialect) {
  const select = (db: Db) =>
    db
      .selectFrom('tokens as t')
      .innerJoin('providers as p', 'p.id', 't.provider_id')
      .select([
        't.id',
        't.tenant_id',
        't.provider_id',
        't.state',
        't.state_changed_at',
        't.owner',
        't.approver_subject',
        't.approver_email',
        't.approver_active',
        't.approved_at',
        't.purpose',
        't.review_due_at',
        't.issued_at',
        't.last_used_at',
        't.usage_channel',
        't.granted_scopes',
        't.excess_scopes',
        't.effective_scopes',
        't.wanted_scopes',
        't.workloads',
        't.served_tenants',
        't.access_issued_at',
        't.access_expires_at',
        't.refresh_expires_at',
        't.refresh_fp',
        't.risk_score',
        't.risk_digest',
        't.inventory_only',
        // None for an inventory-only record: it holds no credential to revoke at the issuer with.
        (eb) => upstreamEndpointOf(eb).as('revocation_endpoint'),
        'p.revocation_verified_at',
      ]);
  type Row = Awaited<ReturnType<ReturnType<typeof select>['execute']>>[number];

  /** With `range`, usage is read by id range (a sweep's page: one index range scan, not a list of ids). */
  async function withUsage(db: Db, rows: Row[], range?: { after: string | null; last: string }): Promise<TokenFacts[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const scopeQ = db.selectFrom('token_scope_usage').select(['token_id', 'scope as name', 'last_used_at']);
    const workloadQ = db.selectFrom('token_workload_usage').select(['token_id', 'workload as name', 'last_used_at']);
    const [scopes, workloads] = await Promise.all(
      range
        ? [
            (range.after ? scopeQ.where('token_id', '>', range.after) : scopeQ).where('token_id', '<=', range.last).execute(),
            (range.after ? workloadQ.where('token_id', '>', range.after) : workloadQ).where('token_id', '<=', range.last).execute(),
          ]
        : [scopeQ.where(dialect.anyOf('token_id', ids)).execute(), workloadQ.where(dialect.anyOf('token_id', ids)).execute()],
    );
    const index = (list: { token_id: string; name: string; last_used_at: string }[]) => {
      const out = new Map<string, Record<string, string>>();
      for (const u of list) {
        let m = out.get(u.token_id);
        if (!m) out.set(u.token_id, (m = {}));
        m[u.name] = u.last_used_at;
      }
      return out;
    };
    const byScope = index(scopes);
    const byWorkload = index(workloads);
    return rows.map((r) => ({
      id: r.id,
      tenantId: r.tenant_id,
      providerId: r.provider_id,
      state: r.state,
      stateChangedAt: r.state_changed_at,
      owner: r.owner,
      approverSubject: r.approver_subject,
      approverEmail: r.approver_email,
      approverActive: r.approver_active === 1,
      approvedAt: r.approved_at,
      purpose: r.purpose,
      reviewDueAt: r.review_due_at,
      issuedAt: r.issued_at,
      lastUsedAt: r.last_used_at,
      usageChannel: r.usage_channel ?? 'gateway',
      grantedScopes: JSON.parse(r.granted_scopes) as string[],
      excessScopes: r.excess_scopes ? (JSON.parse(r.excess_scopes) as string[]) : [],
      effectiveScopes: r.effective_scopes ? (JSON.parse(r.effective_scopes) as string[]) : null,
      wantedScopes: r.wanted_scopes ? (JSON.parse(r.wanted_scopes) as string[]) : [],
      scopeLastUsed: byScope.get(r.id) ?? {},
      workloads: JSON.parse(r.workloads) as string[],
      workloadLastUsed: byWorkload.get(r.id) ?? {},
      servedTenants: JSON.parse(r.served_tenants ?? '[]') as string[],
      accessIssuedAt: r.access_issued_at ?? null,
      accessExpiresAt: r.access_expires_at,
      refreshExpiresAt: r.refresh_expires_at,
      hasRefreshToken: r.refresh_fp !== null,
      upstreamRevocation: r.revocation_endpoint ? 'rfc7009' : 'none',
      revocationVerified: r.revocation_endpoint !== null && r.revocation_verified_at !== null,
      inventoryOnly: r.inventory_only === 1,
      riskScore: r.risk_score === null || r.risk_score === undefined ? null : Number(r.risk_score),
      riskDigest: r.risk_digest ?? null,
    }));
  }

  return {
    /** A page of live tokens in id order, after `afterId` and up to `upTo` (inclusive; null: no bound) — the sweep. */
    async livePage(db: Db, afterId: string | null, limit: number, upTo: string | null = null): Promise<TokenFacts[]> {
      // "Not terminal" rather than "in the live states": the same rows, read in primary-key order
      // and stopping at the limit, where `state in (…)` would read every live token by the state
      // index and sort them, for every page.
      let q = select(db).where('t.state', 'not in', [...TERMINAL_STATES]);
      if (afterId) q = q.where('t.id', '>', afterId);
      if (upTo) q = q.where('t.id', '<=', upTo);
      const rows = await q.orderBy('t.id').limit(limit).execute();
      return withUsage(db, rows, rows.length > 0 ? { after: afterId, last: rows[rows.length - 1]!.id } : undefined);
    },
    /** The tokens with these ids, live or not (a token absent from the answer does not exist). */
    async byIds(db: Db, ids: readonly string[]): Promise<TokenFacts[]> {
      if (ids.length === 0) return [];
      return withUsage(db, await select(db).where(dialect.anyOf('t.id', ids)).orderBy('t.id').execute());
    },
    /**
     * Token ids that cut the id space into `parts` ranges of about as many tokens each (the sweep's
     * threads take one range each); fewer when there are few tokens.
     */
    async splitPoints(db: Db, parts: number): Promise<string[]> {
      const count = Number((await db.selectFrom('tokens').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst())?.n ?? 0);
      if (parts < 2 || count < parts * 1_000) return [];
      const points: string[] = [];
      for (let i = 1; i < parts; i++) {
        const row = await db.selectFrom('tokens').select('id').orderBy('id').offset(Math.floor((count * i) / parts)).limit(1).executeTakeFirst();
        if (row) points.push(row.id);
      }
      return points;
    },
    /** Ids of live tokens owned by `owner` (after an owner's change). */
    async idsOfOwner(db: Db, owner: string): Promise<string[]> {
      const rows = await db
        .selectFrom('tokens')
        .select('id')
        .where((eb) => eb(eb.fn('lower', ['owner']), '=', owner.toLowerCase()))
        .where('state', 'in', [...LIVE_STATES])
        .execute();
      return rows.map((r) => r.id);
    },
    /** Ids of live tokens naming workload `name` (of `tenantId`'s tokens; every tenant's for a platform-wide workload). */
    async idsNamingWorkload(db: Db, name: string, tenantId: string | null): Promise<string[]> {
      // Workload names are letters, digits and . _ : - (the schema): no LIKE wildcard can appear in one.
      let q = db.selectFrom('tokens').select('id').where('state', 'in', [...LIVE_STATES]).where('workloads', 'like', `%${JSON.stringify(name)}%`);
      if (tenantId) q = q.where('tenant_id', '=', tenantId);
      return (await q.limit(100_000).execute()).map((r) => r.id);
    },
    /** Ids of live tokens of a tenant (after its policy changed); all tenants with null. */
    async liveIds(db: Db, tenantId: string, afterId: string | null, limit: number): Promise<string[]> {
      let q = db.selectFrom('tokens').select('id').where('tenant_id', '=', tenantId).where('state', 'in', [...LIVE_STATES]);
      if (afterId) q = q.where('id', '>', afterId);
      return (await q.orderBy('id').limit(limit).execute()).map((r) => r.id);
    },
  };
}

export type TokenFactsReader = ReturnType<typeof createTokenFactsReader>;
