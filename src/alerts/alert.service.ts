import { sql } from 'kysely';
import type { Principal } from '../auth/roles.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { Clock } from '../shared/clock.ts';
import { encodeCursor } from '../shared/cursor.ts';
import { CustodyError } from '../shared/errors.ts';
import { isId, newId } from '../shared/ids.ts';
import type { Db, Storage } from '../storage/database.ts';
import type { AlertsTable } from '../storage/schema.ts';
import type { Alert, AlertDetail } from './alert.contract.ts';
import { dedupeKeyOf, higherSeverity, withEvidence, type AlertEvidence, type AlertSeverity, type AlertStatus, type NewAlert } from './alert.types.ts';

export type { NewAlert } from './alert.types.ts';

export interface AlertRecord {
  id: string;
  kind: string;
  severity: AlertSeverity;
  status: AlertStatus;
  tenantId: string | null;
  subjectId: string | null;
  message: string;
  data: Record<string, unknown>;
  count: number;
  createdAt: string;
  lastSeenAt: string;
}

/** Who the ledger names for an alert Custody raised itself (the cause's own entry names who caused it). */
const ALERT_ACTOR = 'system:alerts';
/** /metrics reads the open counts at most this often, however often it is scraped. */
const COUNTS_REUSE_MS = 5_000;

// The literal predicate of the partial indexes (015): a bound parameter would keep SQLite from using them.
const notResolved = sql<boolean>`status <> 'resolved'`;

type AlertRow = Omit<AlertsTable, 'status' | 'count' | 'evidence'> & { status: AlertStatus; count: number; evidence: string };

export function toAlert(r: AlertRow): Alert {
  const done = (at: string | null, by: string | null, reason: string | null) => (at ? { at, by: by ?? 'unknown', reason } : null);
  return {
    id: r.id,
    kind: r.kind,
    severity: r.severity,
    status: r.status,
    tenantId: r.tenant_id,
    tokenId: r.subject_id && isId('token', r.subject_id) ? r.subject_id : null,
    subjectId: r.subject_id,
    message: r.message,
    data: JSON.parse(r.data) as Record<string, unknown>,
    count: Number(r.count),
    firstSeenAt: r.created_at,
    lastSeenAt: r.last_seen_at ?? r.created_at,
    acknowledgement: done(r.acknowledged_at, r.acknowledged_by, r.acknowledged_reason),
    resolution: done(r.resolved_at, r.resolved_by, r.resolved_reason),
  };
}

function toDetail(r: AlertRow): AlertDetail {
  return { ...toAlert(r), evidence: JSON.parse(r.evidence) as AlertEvidence[] };
}

export interface AlertListQuery {
  tenantId?: string;
  tokenId?: string;
  kind?: string;
  severity?: AlertSeverity;
  status?: AlertStatus;
  /** The cursor: the page starts after (older than) this alert. */
  beforeId?: string;
  limit: number;
}

/**
 * Alerts: raised inside the transaction of the change that causes them (with its ledger entry),
 * so an alert is never lost and never raised for a change that did not commit; read, acknowledged
 * and resolved through the API.
 *
 * Invariants: at most one alert not resolved per (subject — else tenant, else platform — and
 * kind), held by a partial unique index (015), so a repeat bumps the open alert's count, last-seen
 * time and evidence instead of adding a row, on any instance and under any race; a created alert
 * is ledgered (`alert.raised`), a bump is not (the count says it; a noisy cause would flood the
 * ledger); acknowledging and resolving are ledgered with the actor and reason; a tenant-bound
 * caller sees its tenant's alerts only, and another tenant's alert answers 404.
 */
export function createAlertService(deps: { storage: Storage; ledger: LedgerService; clock: Clock }) {
  const { storage, ledger, clock } = deps;

  async function visible(db: Db, principal: Principal, id: string, lock = false): Promise<AlertRow> {
    const query = db.selectFrom('alerts').selectAll().where('id', '=', id);
    const row = (await (lock ? storage.dialect.forUpdate(query) : query).executeTakeFirst()) as AlertRow | undefined;
    // Platform-wide alerts (no tenant) are the platform staff's: a tenant-bound caller never sees them.
    if (!row || (principal.tenantId !== null && row.tenant_id !== principal.tenantId)) throw new CustodyError('alert_not_found');
    return row;
  }

  let counted: { at: number; value: Promise<{ kind: string; severity: AlertSeverity; n: number }[]> } | null = null;

  /** Acknowledge or resolve, with its ledger entry, in one transaction. */
  async function close(principal: Principal, id: string, to: 'acknowledged' | 'resolved', reason: string): Promise<AlertDetail> {
    const at = clock.now().toISOString();
    return storage.db.transaction().execute(async (trx) => {
      const row = await visible(trx, principal, id, true);
      if (row.status === 'resolved') throw new CustodyError('alert_resolved', `Alert ${id} was resolved at ${row.resolved_at} by ${row.resolved_by ?? 'unknown'}; a repeat of its cause opens a new alert.`);
      const change =
        to === 'resolved'
          ? { status: 'resolved' as const, resolved_at: at, resolved_by: principal.actor, resolved_reason: reason, updated_at: at }
          : { status: 'acknowledged' as const, acknowledged_at: at, acknowledged_by: principal.actor, acknowledged_reason: reason, updated_at: at };
      await trx.updateTable('alerts').set(change).where('id', '=', id).execute();
      await ledger.append(trx, { actor: principal.actor, action: to === 'resolved' ? 'alert.resolved' : 'alert.acknowledged', tenantId: row.tenant_id, subjectId: row.subject_id, data: { alertId: id, kind: row.kind, severity: row.severity, reason } });
      return toDetail({ ...row, ...change });
    });
  }

  return {
    /**
     * Raises an alert in the caller's transaction: a new one (ledgered `alert.raised`), or a bump
     * of the open one of the same subject and kind (count, last seen, newest evidence, message and
     * data, and the severity raised if this one is higher). Two raisers at once end with one alert: the insert
     * yields to the unique index, and the bump is made under the row's lock.
     */
    async raise(trx: Db, alert: NewAlert, at: Date): Promise<{ id: string; created: boolean }> {
      const iso = at.toISOString();
      const dedupeKey = dedupeKeyOf(alert);
      // A resolve can slip in between the insert that yielded and the read of the open alert: try again (it is gone from the index then).
      for (let attempt = 0; attempt < 3; attempt++) {
        const id = newId('alert', at.getTime());
        const inserted = await trx
          .insertInto('alerts')
          .values({
            id,
            kind: alert.kind,
            severity: alert.severity,
            tenant_id: alert.tenantId,
            subject_id: alert.subjectId,
            message: alert.message,
            data: JSON.stringify(alert.data ?? {}),
            created_at: iso,
            acknowledged_at: null,
            status: 'open',
            count: 1,
            last_seen_at: iso,
            updated_at: iso,
            evidence: JSON.stringify(withEvidence([], alert.evidence, iso)),
            dedupe_key: dedupeKey,
          })
          .onConflict((oc) => oc.doNothing())
          .returning('id')
          .execute();
        if (inserted.length === 1) {
          await ledger.append(trx, { actor: ALERT_ACTOR, action: 'alert.raised', tenantId: alert.tenantId, subjectId: alert.subjectId, data: { alertId: id, kind: alert.kind, severity: alert.severity } });
          return { id, created: true };
        }
        const open = await storage.dialect
          .forUpdate(trx.selectFrom('alerts').select(['id', 'severity', 'evidence', 'last_seen_at']).where('dedupe_key', '=', dedupeKey).where('kind', '=', alert.kind).where(notResolved))
          .executeTakeFirst();
        if (!open) continue;
        const newer = !(open.last_seen_at && open.last_seen_at > iso);
        const lastSeen = newer ? iso : open.last_seen_at!;
        await trx
          .updateTable('alerts')
          .set((eb) => ({
            count: eb('count', '+', 1),
            // The message and data say what the newest occurrence found (a count in them stays true).
            ...(newer ? { message: alert.message, data: JSON.stringify(alert.data ?? {}) } : {}),
            last_seen_at: lastSeen,
            updated_at: iso,
            severity: higherSeverity(open.severity, alert.severity),
            evidence: alert.evidence ? JSON.stringify(withEvidence(JSON.parse(open.evidence) as AlertEvidence[], alert.evidence, iso)) : open.evidence,
          }))
          .where('id', '=', open.id)
          .execute();
        return { id: open.id, created: false };
      }
      throw new Error(`raising alert ${alert.kind} for ${dedupeKey}: the open alert kept changing under the raise`);
    },

    async forSubject(db: Db, subjectId: string): Promise<AlertRecord[]> {
      const rows = (await db.selectFrom('alerts').selectAll().where('subject_id', '=', subjectId).orderBy('id').execute()) as AlertRow[];
      return rows.map((r) => ({
        id: r.id,
        kind: r.kind,
        severity: r.severity,
        status: r.status,
        tenantId: r.tenant_id,
        subjectId: r.subject_id,
        message: r.message,
        data: JSON.parse(r.data) as Record<string, unknown>,
        count: Number(r.count),
        createdAt: r.created_at,
        lastSeenAt: r.last_seen_at ?? r.created_at,
      }));
    },

    /** Newest first; without a status, every alert not resolved. */
    async list(principal: Principal, q: AlertListQuery): Promise<{ items: Alert[]; nextCursor: string | null }> {
      if (principal.tenantId !== null && q.tenantId && q.tenantId !== principal.tenantId) return { items: [], nextCursor: null };
      const tenantId = principal.tenantId ?? q.tenantId;
      let query = storage.db.selectFrom('alerts').selectAll();
      if (tenantId) query = query.where('tenant_id', '=', tenantId);
      if (q.tokenId) query = query.where('subject_id', '=', q.tokenId);
      if (q.kind) query = query.where('kind', '=', q.kind);
      if (q.severity) query = query.where('severity', '=', q.severity);
      query = q.status ? query.where('status', '=', q.status) : query.where(notResolved);
      if (q.beforeId) query = query.where('id', '<', q.beforeId);
      const rows = (await query.orderBy('id', 'desc').limit(q.limit + 1).execute()) as AlertRow[];
      const page = rows.slice(0, q.limit);
      return { items: page.map(toAlert), nextCursor: rows.length > q.limit ? encodeCursor(page[page.length - 1]!.id) : null };
    },

    async get(principal: Principal, id: string): Promise<AlertDetail> {
      return toDetail(await visible(storage.db, principal, id));
    },

    acknowledge: (principal: Principal, id: string, reason: string) => close(principal, id, 'acknowledged', reason),
    resolve: (principal: Principal, id: string, reason: string) => close(principal, id, 'resolved', reason),

    /**
     * Alerts not resolved, by kind and severity (for /metrics): read through the index of open
     * alerts only (015), at most once every few seconds however often it is asked, one query for
     * every caller who asks meanwhile.
     */
    openCounts(): Promise<{ kind: string; severity: AlertSeverity; n: number }[]> {
      if (counted && Date.now() - counted.at <= COUNTS_REUSE_MS) return counted.value;
      const entry = {
        at: Date.now(),
        value: storage.db
          .selectFrom('alerts')
          .select(['kind', 'severity', (eb) => eb.fn.countAll<number>().as('n')])
          .where(notResolved)
          .groupBy(['kind', 'severity'])
          .execute()
          .then((rows) => rows.map((r) => ({ kind: r.kind, severity: r.severity, n: Number(r.n) }))),
      };
      counted = entry;
      entry.value.catch(() => {
        if (counted === entry) counted = null;
      });
      return entry.value;
    },
  };
}

export type AlertService = ReturnType<typeof createAlertService>;
