import { sql, type SqlBool } from 'kysely';
import { canSeeTenant, type Principal } from '../auth/roles.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { Clock } from '../shared/clock.ts';
import { encodeCursor } from '../shared/cursor.ts';
import { CustodyError } from '../shared/errors.ts';
import type { Db, Storage } from '../storage/database.ts';
import type { FindingsTable } from '../storage/schema.ts';
import type { TenantService } from '../tenants/tenant.service.ts';
import type { TokenService } from '../tokens/token.service.ts';
import type { Finding } from './finding.contract.ts';
import { ENFORCED } from './enforcement.plan.ts';
import { FINDING_MAPPINGS, NIST_AI_RMF, NIST_CSF_2, OWASP_NHI_2025 } from './finding.mappings.ts';
import type { FindingRepo } from './finding.repo.ts';
import { FINDING_TYPES, type FindingSeverity, type FindingStatus, type FindingType } from './finding.types.ts';

const ref = (names: Record<string, string>) => (id: string) => ({ id, name: names[id] ?? id });

/** `confirmedAt`: when the newest finished sweep started; a live finding was seen true then too. */
export function toFinding(r: FindingsTable, exceptionExpiry?: string | null, confirmedAt?: string | null): Finding {
  const m = FINDING_MAPPINGS[r.type];
  const lastSeenAt = r.resolved_at === null && confirmedAt && confirmedAt > r.last_seen_at ? confirmedAt : r.last_seen_at;
  return {
    id: r.id,
    type: r.type,
    severity: r.severity,
    status: r.status,
    tokenId: r.token_id,
    workloadId: r.workload_id,
    tenantId: r.tenant_id,
    firstSeenAt: r.first_seen_at,
    lastSeenAt,
    resolvedAt: r.resolved_at,
    reasons: JSON.parse(r.reasons) as Finding['reasons'],
    mappings: { owaspNhi: m.owaspNhi.map(ref(OWASP_NHI_2025)), nistCsf: m.nistCsf.map(ref(NIST_CSF_2)), nistAiRmf: m.nistAiRmf.map(ref(NIST_AI_RMF)) },
    exception: r.exception_id ? { id: r.exception_id, expiresAt: exceptionExpiry ?? null } : null,
    acknowledgement: r.acknowledged_at ? { at: r.acknowledged_at, by: r.acknowledged_by ?? 'unknown', reason: r.acknowledged_reason } : null,
    enforcement: r.token_id && ENFORCED.has(r.type) ? { stage: r.enforcement_stage ?? null, nextActionAt: r.next_action_at ?? null, noticeId: r.notice_id ?? null } : null,
  };
}

/** Reading findings: list, one, acknowledge, and the summary with the managed share. */
export type FindingStatusTypeCount = { tenantId: string | null; status: FindingStatus; type: FindingType; n: number };

/**
 * Live findings counted by tenant (null: platform-wide), status and type, read now (the
 * compliance report). Live is "not resolved" as the status says it (resolving sets both), so
 * the counts come from the (tenant_id, status, type) index alone (027). A plain function of the
 * database: the report runs it on a reading thread of its own (src/reports/report.reads.ts).
 */
export async function findingStatusTypeCounts(db: Db, tenantId?: string): Promise<FindingStatusTypeCount[]> {
  let q = db
    .selectFrom('findings')
    .select(['tenant_id', 'status', 'type', (eb) => eb.fn.countAll<number>().as('n')])
    // Not "status in (…)": SQLite's planner (no statistics) would seek the (status, type, id) index and read every row.
    .where(sql<SqlBool>`status <> 'resolved'`);
  if (tenantId) q = q.where('tenant_id', '=', tenantId);
  const rows = await q.groupBy(['tenant_id', 'status', 'type']).execute();
  return rows.map((r) => ({ tenantId: r.tenant_id, status: r.status, type: r.type, n: Number(r.n) }));
}

export function createFindingQueries(deps: { storage: Storage; ledger: LedgerService; clock: Clock; repo: FindingRepo; tenants: TenantService; tokens: TokenService; lastSweepStart: () => Promise<string | null> }) {
  const { storage, ledger, clock, repo } = deps;
  // A summary counts every live finding and token of its scope (all tenants, or one): each is
  // reused for a few seconds and computed once for callers who ask meanwhile, so polling one cannot
  // keep the database scanning. At most 1,000 are kept (the platform's, and tenants').
  const SUMMARY_REUSE_MS = 10_000;
  type Counted = { at: number; value: Promise<[Awaited<ReturnType<FindingRepo['counts']>>, Awaited<ReturnType<TokenService['managedCounts']>>]> };
  const counted = new Map<string, Counted>();
  function countsFor(tenantId: string | undefined): Counted {
    const key = tenantId ?? '*';
    const hit = counted.get(key);
    if (hit && Date.now() - hit.at <= SUMMARY_REUSE_MS) return hit;
    const value = Promise.all([repo.counts(storage.db, tenantId), deps.tokens.managedCounts(tenantId)]);
    const entry = { at: Date.now(), value };
    counted.delete(key);
    if (counted.size >= 1_000) counted.delete(counted.keys().next().value!);
    counted.set(key, entry);
    value.catch(() => {
      if (counted.get(key) === entry) counted.delete(key);
    });
    return entry;
  }

  async function visible(principal: Principal, id: string): Promise<FindingsTable> {
    const row = await repo.findById(storage.db, id);
    // A tenant administrator sees their tenant's findings; platform-wide ones (no tenant) are not theirs.
    if (!row || (principal.tenantId !== null && row.tenant_id !== principal.tenantId) || !canSeeTenant(principal, row.tenant_id)) throw new CustodyError('finding_not_found');
    return row;
  }

  async function withExpiry(rows: FindingsTable[]): Promise<Finding[]> {
    const ids = [...new Set(rows.map((r) => r.exception_id).filter((x): x is string => x !== null))];
    const expiries = ids.length > 0 ? new Map((await storage.db.selectFrom('finding_exceptions').select(['id', 'expires_at']).where('id', 'in', ids).execute()).map((e) => [e.id, e.expires_at])) : new Map<string, string>();
    const confirmedAt = await deps.lastSweepStart();
    return rows.map((r) => toFinding(r, r.exception_id ? expiries.get(r.exception_id) : null, confirmedAt));
  }

  return {
    async list(principal: Principal, q: { tenantId?: string; tokenId?: string; type?: FindingType; severity?: FindingSeverity; status?: FindingStatus; owaspNhi?: string; afterId?: string; limit: number }) {
      if (principal.tenantId !== null && q.tenantId && q.tenantId !== principal.tenantId) return { items: [], nextCursor: null };
      const tenantId = principal.tenantId ?? q.tenantId;
      let types: FindingType[] | undefined = q.type ? [q.type] : undefined;
      if (q.owaspNhi) {
        const item = q.owaspNhi;
        const mapped = FINDING_TYPES.filter((t) => FINDING_MAPPINGS[t].owaspNhi.includes(item));
        types = types ? types.filter((t) => mapped.includes(t)) : mapped;
      }
      const rows = await repo.list(storage.db, { tenantId, tokenId: q.tokenId, types, severity: q.severity, status: q.status, afterId: q.afterId, limit: q.limit + 1 });
      const page = rows.slice(0, q.limit);
      return { items: await withExpiry(page), nextCursor: rows.length > q.limit ? encodeCursor(page[page.length - 1]!.id) : null };
    },

    async get(principal: Principal, id: string): Promise<Finding> {
      return (await withExpiry([await visible(principal, id)]))[0]!;
    },

    async acknowledge(principal: Principal, id: string, reason: string): Promise<Finding> {
      const at = clock.now().toISOString();
      await storage.db.transaction().execute(async (trx) => {
        const row = await storage.dialect.forUpdate(trx.selectFrom('findings').selectAll().where('id', '=', id)).executeTakeFirst();
        if (!row || (principal.tenantId !== null && row.tenant_id !== principal.tenantId)) throw new CustodyError('finding_not_found');
        if (row.status === 'resolved') throw new CustodyError('finding_resolved', `Finding ${id} was resolved at ${row.resolved_at}; there is nothing to acknowledge.`);
        // An excepted finding stays excepted (the exception decides), with the acknowledgement recorded.
        await trx
          .updateTable('findings')
          .set({ status: row.status === 'excepted' ? 'excepted' : 'acknowledged', acknowledged_at: at, acknowledged_by: principal.actor, acknowledged_reason: reason })
          .where('id', '=', id)
          .execute();
        await ledger.append(trx, { actor: principal.actor, action: 'finding.acknowledged', tenantId: row.tenant_id, subjectId: row.token_id ?? row.workload_id, data: { findingId: id, type: row.type, reason } });
      });
      return this.get(principal, id);
    },

    /** Live findings counted by tenant, type, severity and status, read now (the summary reuses its counts for a few seconds). */
    liveCounts(tenantId?: string) {
      return repo.counts(storage.db, tenantId);
    },

    /**
     * Tokens with a live finding of one of `types` (the compliance report's tokens lacking an
     * owner): how many, and the first `limit` in (tenant, token id) order. Workload findings are
     * not counted.
     */
    async tokensWithFinding(tenantId: string | undefined, types: readonly FindingType[], limit: number): Promise<{ count: number; tokens: { tenantId: string; id: string }[] }> {
      // By status (live) and type: the (tenant_id, status, type) and (status, type, id) indexes find exactly these rows.
      let q = storage.db.selectFrom('findings').where('status', 'in', ['open', 'acknowledged', 'excepted']).where('type', 'in', [...types]).where('token_id', 'is not', null);
      if (tenantId) q = q.where('tenant_id', '=', tenantId);
      const [counted, first] = await Promise.all([
        q.select((eb) => eb.fn.count<number>('token_id').distinct().as('n')).executeTakeFirst(),
        q.select(['tenant_id', 'token_id']).distinct().orderBy('tenant_id').orderBy('token_id').limit(limit).execute(),
      ]);
      return { count: Number(counted?.n ?? 0), tokens: first.map((r) => ({ tenantId: r.tenant_id!, id: r.token_id! })) };
    },

    async summary(principal: Principal, tenantFilter?: string) {
      if (tenantFilter) await deps.tenants.findVisible(storage.db, principal, tenantFilter);
      const tenantId = principal.tenantId ?? tenantFilter;
      const summaryOf = countsFor(tenantId);
      const [counts, managed] = await summaryOf.value;
      const byType: Record<string, number> = {};
      const bySeverity: Record<string, number> = {};
      const byStatus: Record<string, number> = {};
      const byOwaspNhi: Record<string, number> = {};
      const byNistCsf: Record<string, number> = {};
      const perTenant = new Map<string, number>();
      let findings = 0;
      const add = (m: Record<string, number>, k: string, n: number) => (m[k] = (m[k] ?? 0) + n);
      for (const c of counts) {
        // Platform-wide workload findings belong to no tenant: counted for the platform's staff only.
        if (principal.tenantId !== null && c.tenant_id !== principal.tenantId) continue;
        findings += c.n;
        add(byType, c.type, c.n);
        add(bySeverity, c.severity, c.n);
        add(byStatus, c.status, c.n);
        for (const item of FINDING_MAPPINGS[c.type].owaspNhi) add(byOwaspNhi, item, c.n);
        for (const sub of FINDING_MAPPINGS[c.type].nistCsf) add(byNistCsf, sub, c.n);
        if (c.tenant_id) perTenant.set(c.tenant_id, (perTenant.get(c.tenant_id) ?? 0) + c.n);
      }
      const share = (live: number, unmanaged: number) => ({ live, managed: live - unmanaged, unmanaged, share: live === 0 ? null : (live - unmanaged) / live });
      const live = managed.reduce((s, m) => s + m.live, 0);
      const unmanaged = managed.reduce((s, m) => s + m.unmanaged, 0);
      const tenantIds = [...new Set([...managed.map((m) => m.tenantId), ...perTenant.keys()])].sort();
      return {
        tenantId: tenantId ?? null,
        at: new Date(clock.now().getTime() - (Date.now() - summaryOf.at)).toISOString(),
        findings,
        byType,
        bySeverity,
        byStatus,
        byOwaspNhi,
        byNistCsf,
        managed: share(live, unmanaged),
        tenants: tenantIds.map((id) => {
          const m = managed.find((x) => x.tenantId === id);
          return { tenantId: id, findings: perTenant.get(id) ?? 0, managed: share(m?.live ?? 0, m?.unmanaged ?? 0) };
        }),
      };
    },
  };
}

export type FindingQueries = ReturnType<typeof createFindingQueries>;
