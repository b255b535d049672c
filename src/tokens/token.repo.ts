import { sql, type ExpressionBuilder, type Expression, type SqlBool } from 'kysely';
import type { Db } from '../storage/database.ts';
import type { StorageDialect } from '../storage/dialect.ts';
import type { Database, TokenRetiredCredentialsTable, TokensTable } from '../storage/schema.ts';
import { dormancyCutoff, LIVE_STATES, reviewCutoff, TERMINAL_STATES, type PracticalTestPolicies, type PracticalTestPolicy } from './token.practical-test.ts';
import type { TokenState } from './token.lifecycle.ts';
import type { SuspensionKind } from './token.suspension.ts';
import type { TokenFilter, UpstreamRevocationStatus } from './token.types.ts';

/** Which credential of a record a fingerprint matched: one it holds, or one a refresh or renewal replaced. */
export type CredentialMatch = 'access' | 'refresh' | 'previous_access' | 'previous_refresh';

export type TokenRow = TokensTable & {
  p_revocation_endpoint: string | null;
  p_revocation_verified_at: string | null;
};

type Eb = ExpressionBuilder<Database & { t: TokensTable; p: Database['providers'] }, 't' | 'p'>;

/**
 * The provider's revocation endpoint as it applies to a token (`t` joined to its provider `p`):
 * none for an inventory-only record (src/imports), which holds no credential to revoke at the
 * issuer with. Every read that decides a token's upstream revocation path (the record, a
 * transition's outbox job, governance's facts) selects it through here.
 */
export function upstreamEndpointOf(eb: Eb) {
  return eb.case().when('t.inventory_only', '=', 1).then(sql<string | null>`null`).else(eb.ref('p.revocation_endpoint')).end();
}

/**
 * The practical test (token.practical-test.ts) as a SQL predicate, so `managed=false` filters in
 * the database over millions of rows. Keep the two in step; token.practical-test.test.ts checks.
 */
function unmanagedPredicate(eb: Eb, now: Date, policies: PracticalTestPolicies, tenantId: string | undefined): Expression<SqlBool> {
  const nowIso = now.toISOString();
  // The conditions that depend on the tenant's policy: review due and dormancy.
  const timed = (p: PracticalTestPolicy) =>
    eb.or([
      eb.and([eb('t.review_due_at', 'is not', null), eb('t.review_due_at', '<=', nowIso)]),
      eb.and([eb('t.review_due_at', 'is', null), eb(eb.fn.coalesce('t.approved_at', 't.issued_at'), '<=', reviewCutoff(now, p))]),
      eb.and([eb('t.usage_channel', '=', 'gateway'), eb(eb.fn.coalesce('t.last_used_at', 't.issued_at'), '<', dormancyCutoff(now, p)), eb('t.issued_at', '<', dormancyCutoff(now, p))]),
    ]);
  let byPolicy: Expression<SqlBool>;
  const overrides = policies.overrides();
  if (tenantId !== undefined) byPolicy = timed(policies.forTenant(tenantId));
  else if (overrides.size === 0) byPolicy = timed(policies.global);
  else {
    // Tenants whose policy differs are judged by their own values, the rest by the global ones.
    byPolicy = eb.or([
      eb.and([eb('t.tenant_id', 'not in', [...overrides.keys()]), timed(policies.global)]),
      ...[...overrides].map(([id, p]) => eb.and([eb('t.tenant_id', '=', id), timed(p)])),
    ]);
  }
  return eb.and([
    // "Not terminal" rather than "in the live states": the same rows, but a NOT IN cannot use the
    // state index, so the page is read in id order and stops at the limit. With `state in (…)`,
    // SQLite walks every live token through the state index and sorts them (docs/benchmarks.md).
    eb('t.state', 'not in', [...TERMINAL_STATES]),
    eb.or([
      eb('p.revocation_endpoint', 'is', null),
      eb('t.inventory_only', '=', 1),
      eb('p.revocation_verified_at', 'is', null),
      eb('t.approver_subject', 'is', null),
      eb('t.approver_active', '=', 0),
      eb('t.purpose', 'is', null),
      byPolicy,
    ]),
  ]);
}


function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

export function createTokenRepo() {
  const base = (db: Db) =>
    db
      .selectFrom('tokens as t')
      .innerJoin('providers as p', 'p.id', 't.provider_id')
      .selectAll('t')
      .select((eb) => [upstreamEndpointOf(eb as Eb).as('p_revocation_endpoint'), 'p.revocation_verified_at as p_revocation_verified_at']);

  return {
    async insert(db: Db, row: TokensTable): Promise<void> {
      await db.insertInto('tokens').values(row).execute();
    },

    async findById(db: Db, id: string): Promise<TokenRow | undefined> {
      return base(db).where('t.id', '=', id).executeTakeFirst();
    },

    /** The columns a gateway decision reads (no join, no credentials). */
    findAccessColumns(db: Db, id: string) {
      return db
        .selectFrom('tokens')
        .select(['id', 'tenant_id', 'provider_id', 'state', 'workloads', 'granted_scopes', 'effective_scopes', 'wanted_scopes', 'access_expires_at', 'access_issued_at', 'refresh_fp', 'inventory_only', 'updated_at'])
        .where('id', '=', id)
        .executeTakeFirst();
    },

    /** The encrypted credentials and the tenant their data key is bound to. */
    findCredentialColumns(db: Db, id: string) {
      return db.selectFrom('tokens').select(['tenant_id', 'access_token_enc', 'refresh_token_enc', 'inventory_only']).where('id', '=', id).executeTakeFirst();
    },

    async list(db: Db, f: TokenFilter, now: Date, policies: PracticalTestPolicies): Promise<TokenRow[]> {
      let q = base(db);
      // sort=risk reads a risk index in order and filters as it goes. An equality on the provider or
      // the state, written plainly, would make SQLite (which keeps no statistics) read every token of
      // that provider or state through their own index and sort them all — a second at a million
      // (docs/benchmarks.md); written as an expression no index serves, it stays a filter.
      const byRisk = f.sort === 'risk';
      if (f.tenantId) q = q.where('t.tenant_id', '=', f.tenantId);
      if (f.providerId) q = byRisk ? q.where(sql<string>`${sql.ref('t.provider_id')} || ''`, '=', f.providerId) : q.where('t.provider_id', '=', f.providerId);
      if (f.state) q = byRisk ? q.where(sql<string>`${sql.ref('t.state')} || ''`, '=', f.state) : q.where('t.state', '=', f.state);
      if (f.owner) q = q.where('t.owner', '=', f.owner);
      if (f.ids) q = q.where('t.id', 'in', f.ids.length > 0 ? f.ids : ['']);
      if (f.afterId) q = q.where('t.id', '>', f.afterId);
      // A risk order or bound reads the partial risk indexes (025), which hold scored tokens only.
      if (f.sort === 'risk' || f.minRisk !== undefined || f.maxRisk !== undefined) q = q.where('t.risk_score', 'is not', null);
      if (f.minRisk !== undefined) q = q.where('t.risk_score', '>=', f.minRisk);
      if (f.maxRisk !== undefined) q = q.where('t.risk_score', '<=', f.maxRisk);
      if (f.dormantDays !== undefined) {
        const cutoff = dormancyCutoff(now, { dormantAfterDays: f.dormantDays });
        // The newer of the last use and the last (re)approval: a reauthorisation starts the clock again.
        q = q.where((eb) => eb.and([eb(eb.fn.coalesce('t.last_used_at', 't.issued_at'), '<', cutoff), eb('t.issued_at', '<', cutoff)]));
      }
      if (f.managed !== undefined) {
        const managed = f.managed;
        // Revoked and expired tokens are neither: they hold no privilege (DESIGN §9).
        q = q.where((eb) =>
          managed
            ? eb.and([eb('t.state', 'not in', [...TERMINAL_STATES]), eb.not(unmanagedPredicate(eb as Eb, now, policies, f.tenantId))])
            : unmanagedPredicate(eb as Eb, now, policies, f.tenantId),
        );
      }
      if (f.q) {
        const like = `%${escapeLike(f.q.toLowerCase())}%`;
        q = q.where((eb) =>
          eb.or(
            (['t.id', 't.owner', 't.purpose', 't.subject', 't.approver_email', 't.approver_subject'] as const).map(
              (col) => sql<SqlBool>`lower(${sql.ref(col)}) like ${like} escape '\\'`,
            ),
          ),
        );
      }
      if (f.sort === 'risk') {
        // Highest first, ties in id order, keyset-paged on (score, id): the rest of the cursor's
        // score, then the lower scores — each one range of the risk index, however deep the page.
        const byRisk = (limit: number) => q.orderBy('t.risk_score', 'desc').orderBy('t.id', 'asc').limit(limit);
        const after = f.afterRisk;
        if (!after) return byRisk(f.limit).execute();
        const same = await q.where('t.risk_score', '=', after.score).where('t.id', '>', after.id).orderBy('t.id', 'asc').limit(f.limit).execute();
        if (same.length >= f.limit) return same;
        return [...same, ...(await q.where('t.risk_score', '<', after.score).orderBy('t.risk_score', 'desc').orderBy('t.id', 'asc').limit(f.limit - same.length).execute())];
      }
      return q.orderBy('t.id', 'asc').limit(f.limit).execute();
    },

    /** Live tokens per tenant and how many of them fail the practical test (the managed share). */
    async managedCounts(db: Db, now: Date, policies: PracticalTestPolicies, tenantId?: string): Promise<{ tenantId: string; live: number; unmanaged: number }[]> {
      let q = db
        .selectFrom('tokens as t')
        .innerJoin('providers as p', 'p.id', 't.provider_id')
        .select((eb) => [
          't.tenant_id',
          eb.fn.countAll<number>().as('live'),
          eb.fn.sum<number>(eb.case().when(unmanagedPredicate(eb as Eb, now, policies, tenantId)).then(1).else(0).end()).as('unmanaged'),
        ])
        .where('t.state', 'in', [...LIVE_STATES]);
      if (tenantId) q = q.where('t.tenant_id', '=', tenantId);
      const rows = await q.groupBy('t.tenant_id').orderBy('t.tenant_id').execute();
      return rows.map((r) => ({ tenantId: r.tenant_id, live: Number(r.live), unmanaged: Number(r.unmanaged ?? 0) }));
    },

    /**
     * Updates one row; with `expect`, only while the row still has those values (a compare-and-set
     * on state and, for a refresh, on the refresh-token fingerprint). True when the row changed.
     */
    async update(db: Db, id: string, changes: Partial<TokensTable>, expect: { state?: TokenState; refreshFp?: string | null } = {}): Promise<boolean> {
      let q = db.updateTable('tokens').set(changes).where('id', '=', id);
      if (expect.state) q = q.where('state', '=', expect.state);
      if (expect.refreshFp !== undefined) q = expect.refreshFp === null ? q.where('refresh_fp', 'is', null) : q.where('refresh_fp', '=', expect.refreshFp);
      const result = await q.executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },

    /**
     * One page of tokens in `states` matching a bulk filter, in id order, with only what a bulk
     * transition needs (no credentials, no practical-test columns), locked for the transaction.
     */
    async forBulk(db: Db, dialect: StorageDialect, f: { tenantId?: string | undefined; providerId?: string | undefined; ids?: string[] | undefined; afterId?: string | undefined; limit: number }, states: readonly TokenState[]) {
      let q = db
        .selectFrom('tokens as t')
        .innerJoin('providers as p', 'p.id', 't.provider_id')
        .select((eb) => ['t.id', 't.tenant_id', 't.provider_id', 't.state', upstreamEndpointOf(eb as Eb).as('p_revocation_endpoint')])
        .where('t.state', 'in', [...states]);
      if (f.tenantId) q = q.where('t.tenant_id', '=', f.tenantId);
      if (f.providerId) q = q.where('t.provider_id', '=', f.providerId);
      if (f.ids) q = q.where('t.id', 'in', f.ids.length > 0 ? f.ids : ['']);
      if (f.afterId) q = q.where('t.id', '>', f.afterId);
      // Locked until the page's transaction commits (PostgreSQL): a token resumed or reauthorised
      // meanwhile waits for the revocation instead of slipping past its compare-and-set.
      return dialect.forUpdate(q.orderBy('t.id', 'asc').limit(f.limit), ['t']).execute();
    },

    /** The tenant, provider and state of each of these tokens that exists (any tenant: the caller filters what it may see). */
    async statesOf(db: Db, dialect: StorageDialect, ids: string[]) {
      if (ids.length === 0) return [];
      return db.selectFrom('tokens').select(['id', 'tenant_id', 'provider_id', 'state']).where(dialect.anyOf('id', ids)).execute();
    },

    /**
     * Updates many rows that are still in state `from` (the compare-and-set of update, set-based,
     * in one statement whose ids are one parameter) and answers the ids that changed.
     */
    async updateMany(db: Db, dialect: StorageDialect, ids: string[], changes: Partial<TokensTable>, from: TokenState): Promise<string[]> {
      if (ids.length === 0) return [];
      const rows = await db.updateTable('tokens').set(changes).where(dialect.anyOf('id', ids)).where('state', '=', from).returning('id').execute();
      return rows.map((r) => r.id);
    },

    /** Tokens whose revocation was asked for at `requestedAt`, counted by upstream outcome. */
    async revocationOutcomes(db: Db, requestedAt: string, tenantId?: string, providerId?: string): Promise<{ status: UpstreamRevocationStatus; count: number }[]> {
      let q = db
        .selectFrom('tokens')
        .select(['upstream_revocation', (eb) => eb.fn.countAll<number>().as('n')])
        .where('revocation_requested_at', '=', requestedAt);
      if (tenantId) q = q.where('tenant_id', '=', tenantId);
      if (providerId) q = q.where('provider_id', '=', providerId);
      const rows = await q.groupBy('upstream_revocation').execute();
      return rows.filter((r) => r.upstream_revocation !== null).map((r) => ({ status: r.upstream_revocation as UpstreamRevocationStatus, count: Number(r.n) }));
    },

    async usageFor(db: Db, ids: string[]): Promise<Map<string, Map<string, string>>> {
      const out = new Map<string, Map<string, string>>();
      if (ids.length === 0) return out;
      const rows = await db.selectFrom('token_scope_usage').select(['token_id', 'scope', 'last_used_at']).where('token_id', 'in', ids).execute();
      for (const r of rows) {
        let m = out.get(r.token_id);
        if (!m) out.set(r.token_id, (m = new Map()));
        m.set(r.scope, r.last_used_at);
      }
      return out;
    },

    /** The newest record of a tenant, provider and subject in one of `states` (what a consent continues or succeeds). */
    async tenantsOfSubject(db: Db, providerId: string, subject: string): Promise<string[]> {
      const rows = await db.selectFrom('tokens').select('tenant_id').distinct().where('provider_id', '=', providerId).where('subject', '=', subject).limit(20).execute();
      return rows.map((r) => r.tenant_id);
    },

    async findForSubject(db: Db, tenantId: string, providerId: string, subject: string, states: readonly TokenState[]): Promise<{ id: string; state: TokenState; suspension_kind?: SuspensionKind | null; state_changed_at: string } | undefined> {
      return db
        .selectFrom('tokens')
        .select(['id', 'state', 'suspension_kind', 'state_changed_at'])
        .where('tenant_id', '=', tenantId)
        .where('provider_id', '=', providerId)
        .where('subject', '=', subject)
        .where('state', 'in', [...states])
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst();
    },

    /** Records by provider and state, of one tenant or all: from the (provider_id, state) and (tenant_id, provider_id, …, state) indexes alone. */
    async countByProviderState(db: Db, tenantId?: string): Promise<{ providerId: string; state: TokenState; count: number }[]> {
      let q = db.selectFrom('tokens').select(['provider_id', 'state', (eb) => eb.fn.countAll<number>().as('n')]);
      if (tenantId) q = q.where('tenant_id', '=', tenantId);
      const rows = await q.groupBy(['provider_id', 'state']).orderBy('provider_id').orderBy('state').execute();
      return rows.map((r) => ({ providerId: r.provider_id, state: r.state, count: Number(r.n) }));
    },

    async countByState(db: Db): Promise<{ state: TokenState; count: number }[]> {
      const rows = await db.selectFrom('tokens').select(['state', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('state').execute();
      return rows.map((r) => ({ state: r.state, count: Number(r.n) }));
    },

    async scopeUsage(db: Db, tokenId: string): Promise<Map<string, string>> {
      const rows = await db.selectFrom('token_scope_usage').select(['scope', 'last_used_at']).where('token_id', '=', tokenId).execute();
      return new Map(rows.map((r) => [r.scope, r.last_used_at]));
    },

    /**
     * Records whose stored access or refresh token has one of these fingerprints, or had it until
     * a refresh or renewal replaced it and may still work (`keep_until` after `now`) — leak intake:
     * one indexed query per place a fingerprint is kept, whatever matches, so the work does not
     * depend on which do.
     */
    async findByFingerprints(db: Db, dialect: StorageDialect, fingerprints: readonly string[], now: Date): Promise<{ row: TokenRow; credential: CredentialMatch; fingerprint: string }[]> {
      if (fingerprints.length === 0) return [];
      // One after the other: inside a transaction they run on its one connection anyway.
      const access = await base(db).where(dialect.anyOf('t.access_fp', fingerprints)).execute();
      const refresh = await base(db).where(dialect.anyOf('t.refresh_fp', fingerprints)).execute();
      const retired = await base(db)
        .innerJoin('token_retired_credentials as r', 'r.token_id', 't.id')
        .select(['r.fingerprint as r_fingerprint', 'r.credential as r_credential'])
        .where(dialect.anyOf('r.fingerprint', fingerprints))
        .where('r.keep_until', '>', now.toISOString())
        .execute();
      return [
        ...access.map((row) => ({ row, credential: 'access' as const, fingerprint: row.access_fp })),
        ...refresh.map((row) => ({ row, credential: 'refresh' as const, fingerprint: row.refresh_fp! })),
        ...retired.map(({ r_fingerprint, r_credential, ...row }) => ({ row: row as TokenRow, credential: `previous_${r_credential}` as const, fingerprint: r_fingerprint })),
      ];
    },

    /** Keeps the fingerprints of replaced credentials (refresh, renewal) while the issuer may still honour them. */
    async retireCredentials(db: Db, rows: TokenRetiredCredentialsTable[]): Promise<void> {
      if (rows.length === 0) return;
      await db.insertInto('token_retired_credentials').values(rows).onConflict((oc) => oc.columns(['token_id', 'fingerprint']).doNothing()).execute();
    },

    /** Forgets retired fingerprints past their window (the expiry sweep); how many. */
    async forgetRetiredCredentials(db: Db, now: Date): Promise<number> {
      const r = await db.deleteFrom('token_retired_credentials').where('keep_until', '<=', now.toISOString()).executeTakeFirst();
      return Number(r.numDeletedRows);
    },

    async findByFingerprint(db: Db, fingerprint: string): Promise<TokenRow | undefined> {
      return base(db)
        .where((eb) => eb.or([eb('t.access_fp', '=', fingerprint), eb('t.refresh_fp', '=', fingerprint)]))
        .executeTakeFirst();
    },

    /** Live tokens whose credential can no longer be refreshed or used: candidates for `expire`. */
    async findExpiring(db: Db, now: Date, limit: number): Promise<{ id: string; state: TokenState }[]> {
      const nowIso = now.toISOString();
      return db
        .selectFrom('tokens')
        .select(['id', 'state'])
        .where('state', 'in', [...LIVE_STATES])
        .where((eb) =>
          eb.or([
            eb.and([eb('refresh_token_enc', 'is not', null), eb('refresh_expires_at', 'is not', null), eb('refresh_expires_at', '<=', nowIso)]),
            eb.and([eb('refresh_token_enc', 'is', null), eb('access_expires_at', 'is not', null), eb('access_expires_at', '<=', nowIso)]),
          ]),
        )
        .orderBy('id')
        .limit(limit)
        .execute();
    },
  };
}

export type TokenRepo = ReturnType<typeof createTokenRepo>;
