import { sql, type Expression, type SqlBool } from 'kysely';
import type { Storage } from '../storage/database.ts';
import type { UpstreamRevocationStatus } from './token.types.ts';

/** A live token lacking an approver or a purpose (or named by the caller: lacking an owner). */
export interface LackingToken {
  id: string;
  tenantId: string;
  providerId: string;
  owner: string;
  hasApprover: boolean;
  hasPurpose: boolean;
}

/** The live tokens of one tenant at one provider, and how many of them hold each scope. */
export interface ProviderConnection {
  tenantId: string;
  providerId: string;
  live: number;
  scopes: Record<string, number>;
}

/** Durations (ms) with how many revocations took exactly that long, shortest first. */
export type DurationCounts = { ms: number; n: number }[];

/** The kill times of the revocations asked for in a period. */
export interface RevocationTimes {
  revocations: number;
  /** By where the upstream side stands now. */
  outcomes: Record<UpstreamRevocationStatus, number>;
  /** Requested → locally effective (the gateway refuses the token). */
  locallyEffective: DurationCounts;
  /** Requested → the issuer's revocation confirmed by introspection (outcome `verified`). */
  upstreamVerified: DurationCounts;
}

/**
 * "Live", written as a literal: SQLite uses a partial index (027: live tokens without an approver,
 * without a purpose) only for a query whose WHERE says its predicate as written, and a bound
 * parameter is not that. "Not terminal" rather than "in the live states": an IN lets SQLite's
 * planner (no statistics) seek the state index and read every live token's row.
 */
const LIVE = sql<SqlBool>`state not in ('expired', 'revoked')`;
const NO_APPROVER = sql<SqlBool>`approver_subject is null`;
const NO_PURPOSE = sql<SqlBool>`purpose is null`;

/** The time between two ISO instants, in whole milliseconds (null when either is missing). */
function between(from: string | null | undefined, to: string | null | undefined): number | null {
  if (!from || !to) return null;
  return Math.max(0, Math.round(new Date(to).getTime() - new Date(from).getTime()));
}

function addDuration(into: Map<number, number>, ms: number | null, n: number) {
  if (ms !== null) into.set(ms, (into.get(ms) ?? 0) + n);
}

const sorted = (m: Map<number, number>): DurationCounts => [...m].sort(([a], [b]) => a - b).map(([ms, n]) => ({ ms, n }));
const byTenantThenId = (a: { tenantId: string; id: string }, b: { tenantId: string; id: string }) => (a.tenantId === b.tenantId ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) : a.tenantId < b.tenantId ? -1 : 1);

/**
 * Aggregates over the inventory for the compliance report (src/reports): counts in SQL, each read
 * from an index alone where one serves it (027), so a report over a million tokens sends back
 * counts, not rows, and reads no token's row but the few it lists. Only this folder reads the
 * tokens table; the report sees these figures.
 */
export function createTokenReportQueries(deps: { storage: Storage }) {
  const { storage } = deps;
  const db = () => storage.db;

  /** Live tokens per tenant matching `where` (null: all), counted from an index. */
  async function countLive(tenantId: string | undefined, where: Expression<SqlBool> | null): Promise<Map<string, number>> {
    let q = db()
      .selectFrom('tokens')
      .select((eb) => ['tenant_id', eb.fn.countAll<number>().as('n')])
      .where(LIVE);
    if (where) q = q.where(where);
    if (tenantId) q = q.where('tenant_id', '=', tenantId);
    const rows = await q.groupBy('tenant_id').execute();
    return new Map(rows.map((r) => [r.tenant_id, Number(r.n)]));
  }

  /** The first `limit` live tokens matching `where`, in (tenant, id) order, read from its partial index. */
  async function firstLive(tenantId: string | undefined, where: Expression<SqlBool>, limit: number): Promise<{ tenantId: string; id: string }[]> {
    let q = db().selectFrom('tokens').select(['tenant_id', 'id']).where(where).where(LIVE);
    if (tenantId) q = q.where('tenant_id', '=', tenantId);
    const rows = await q.orderBy('tenant_id').orderBy('id').limit(limit).execute();
    return rows.map((r) => ({ tenantId: r.tenant_id, id: r.id }));
  }

  return {
    /** Live tokens per tenant (one tenant's, or every tenant's), from an index alone. */
    async liveCounts(tenantId?: string): Promise<[string, number][]> {
      return [...(await countLive(tenantId, null))];
    },

    /**
     * Live tokens without an approver, and without a purpose, per tenant (two counts from the
     * partial indexes, 027): the report takes each tenant's live count from its connections, which
     * read every live token's index entry already.
     */
    async lackingCounts(tenantId?: string): Promise<{ noApprover: [string, number][]; noPurpose: [string, number][] }> {
      // The partial indexes hold only the tokens lacking something: counting every tenant's from
      // them is cheap, and with a tenant filter SQLite's planner would pick a wider tenant index.
      const [noApprover, noPurpose] = await Promise.all([countLive(undefined, NO_APPROVER), countLive(undefined, NO_PURPOSE)]);
      const mine = (m: Map<string, number>) => [...m].filter(([t]) => !tenantId || t === tenantId);
      return { noApprover: mine(noApprover), noPurpose: mine(noPurpose) };
    },

    /**
     * The first `limit` live tokens, in (tenant, id) order, that lack an approver or a purpose or
     * are among `also` (the caller's tokens lacking what the tokens table cannot tell, such as an
     * owner in the owners directory: its first `limit` in the same order).
     */
    async lackingAccountability(tenantId: string | undefined, limit: number, also: readonly { tenantId: string; id: string }[] = []): Promise<LackingToken[]> {
      const [noApprover, noPurpose] = await Promise.all([firstLive(tenantId, NO_APPROVER, limit), firstLive(tenantId, NO_PURPOSE, limit)]);
      const first = new Map<string, { tenantId: string; id: string }>();
      for (const t of [...noApprover, ...noPurpose, ...also]) first.set(t.id, t);
      const ids = [...first.values()].sort(byTenantThenId).slice(0, limit).map((t) => t.id);
      if (ids.length === 0) return [];
      const rows = await db()
        .selectFrom('tokens')
        .select(['id', 'tenant_id', 'provider_id', 'owner', 'approver_subject', 'purpose'])
        .where(storage.dialect.anyOf('id', ids))
        .where(LIVE)
        .execute();
      return rows
        .map((r) => ({ id: r.id, tenantId: r.tenant_id, providerId: r.provider_id, owner: r.owner, hasApprover: r.approver_subject !== null, hasPurpose: r.purpose !== null }))
        .sort(byTenantThenId);
    },

    /**
     * Which providers hold live tokens of which tenants, with the scopes granted: grouped by the
     * granted scope list in SQL from an index alone (tokens of a tenant and provider share a few
     * lists), the union and per-scope counts made from those groups.
     */
    async connections(tenantId?: string): Promise<ProviderConnection[]> {
      let q = db()
        .selectFrom('tokens')
        .select((eb) => ['tenant_id', 'provider_id', 'granted_scopes', eb.fn.countAll<number>().as('n')])
        .where(LIVE);
      if (tenantId) q = q.where('tenant_id', '=', tenantId);
      const rows = await q.groupBy(['tenant_id', 'provider_id', 'granted_scopes']).execute();
      const pairs = new Map<string, ProviderConnection>();
      const parsed = new Map<string, string[]>();
      for (const r of rows) {
        const key = `${r.tenant_id}\u0000${r.provider_id}`;
        let pair = pairs.get(key);
        if (!pair) pairs.set(key, (pair = { tenantId: r.tenant_id, providerId: r.provider_id, live: 0, scopes: {} }));
        const n = Number(r.n);
        pair.live += n;
        let scopes = parsed.get(r.granted_scopes);
        if (!scopes) parsed.set(r.granted_scopes, (scopes = [...new Set(JSON.parse(r.granted_scopes) as string[])]));
        for (const scope of scopes) pair.scopes[scope] = (pair.scopes[scope] ?? 0) + n;
      }
      return [...pairs.values()].sort((a, b) => (a.tenantId === b.tenantId ? (a.providerId < b.providerId ? -1 : 1) : a.tenantId < b.tenantId ? -1 : 1));
    },

    /**
     * Kill times of the revocations requested in [from, to): requested → locally effective, and
     * requested → verified at the issuer. Grouped in SQL by the instants (a bulk revocation's
     * tokens share them), from an index alone: every tenant's from 027's (request time first), one
     * tenant's from 029's (tenant first), so a tenant's costs what its own revocations cost.
     */
    async revocationTimes(tenantId: string | undefined, from: string, to: string): Promise<RevocationTimes> {
      let q = db()
        .selectFrom('tokens')
        .select((eb) => ['revocation_requested_at', 'revocation_effective_at', 'upstream_revocation', 'upstream_confirmed_at', eb.fn.countAll<number>().as('n')])
        .where(sql<SqlBool>`revocation_requested_at is not null`)
        .where('revocation_requested_at', '>=', from)
        .where('revocation_requested_at', '<', to);
      if (tenantId) q = q.where('tenant_id', '=', tenantId);
      const rows = await q.groupBy(['revocation_requested_at', 'revocation_effective_at', 'upstream_revocation', 'upstream_confirmed_at']).execute();
      const outcomes: Record<UpstreamRevocationStatus, number> = { pending: 0, verified: 0, unverifiable: 0, failed: 0, none: 0 };
      const local = new Map<number, number>();
      const upstream = new Map<number, number>();
      let revocations = 0;
      for (const r of rows) {
        const n = Number(r.n);
        revocations += n;
        const status = (r.upstream_revocation ?? 'pending') as UpstreamRevocationStatus;
        outcomes[status] = (outcomes[status] ?? 0) + n;
        addDuration(local, between(r.revocation_requested_at, r.revocation_effective_at), n);
        if (status === 'verified') addDuration(upstream, between(r.revocation_requested_at, r.upstream_confirmed_at), n);
      }
      return { revocations, outcomes, locallyEffective: sorted(local), upstreamVerified: sorted(upstream) };
    },
  };
}

export type TokenReportQueries = ReturnType<typeof createTokenReportQueries>;
