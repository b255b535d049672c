import type { Db } from '../storage/database.ts';
import { newId } from '../shared/ids.ts';

export interface NewAlert {
  kind: string;
  severity: 'info' | 'warning' | 'critical';
  tenantId: string | null;
  subjectId: string | null;
  message: string;
  data?: Record<string, unknown>;
}

export interface AlertRecord {
  id: string;
  kind: string;
  severity: string;
  tenantId: string | null;
  subjectId: string | null;
  message: string;
  data: Record<string, unknown>;
  createdAt: string;
}

/**
 * Alert records. Raised inside the transaction of the change that causes them (with its ledger
 * entry), so an alert is never lost and never raised for a change that did not commit. Detection
 * (another issue) will add its own kinds and the API to read and acknowledge them.
 */
export function createAlertService() {
  return {
    async raise(trx: Db, alert: NewAlert, at: Date): Promise<string> {
      const id = newId('alert', at.getTime());
      await trx
        .insertInto('alerts')
        .values({
          id,
          kind: alert.kind,
          severity: alert.severity,
          tenant_id: alert.tenantId,
          subject_id: alert.subjectId,
          message: alert.message,
          data: JSON.stringify(alert.data ?? {}),
          created_at: at.toISOString(),
          acknowledged_at: null,
        })
        .execute();
      return id;
    },
    async forSubject(db: Db, subjectId: string): Promise<AlertRecord[]> {
      const rows = await db.selectFrom('alerts').selectAll().where('subject_id', '=', subjectId).orderBy('created_at').execute();
      return rows.map((r) => ({
        id: r.id,
        kind: r.kind,
        severity: r.severity,
        tenantId: r.tenant_id,
        subjectId: r.subject_id,
        message: r.message,
        data: JSON.parse(r.data) as Record<string, unknown>,
        createdAt: r.created_at,
      }));
    },
  };
}

export type AlertService = ReturnType<typeof createAlertService>;
