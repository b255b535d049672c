import type { LedgerEntry } from '../ledger/ledger.types.ts';

/**
 * Ledger entries as OCSF 1.3 events (https://schema.ocsf.io), for SIEMs. Pure: one entry in, one
 * event out, the same every time (the SIEM export and the file sink must agree, and a re-export
 * after a crash must repeat itself exactly). The classes:
 *
 * - Account Change [3001] (Identity & Access Management): a token's lifecycle — the token is the
 *   account (a non-human identity). registered → Create, resumed/reauthorised → Enable,
 *   refreshed → Password Change (its credential rotated), suspended/expired → Disable,
 *   revoked → Delete; other token changes → Other.
 * - Authentication [3002]: consent — the customer administrator's OAuth grant (token.approved,
 *   oauth.consent_*, oauth.connect_link_*), Logon with status Success or Failure.
 * - Detection Finding [2004] (Findings): alerts and findings — raised → Create, acknowledged →
 *   Update, resolved → Close.
 * - API Activity [6003] (Application Activity): everything else (tenants, providers, keys, policy,
 *   owners, exceptions, notices, webhooks, sweeps), by verb: created → Create, changed → Update,
 *   deleted/revoked/withdrawn → Delete, else Other.
 *
 * `metadata.sequence` is the ledger seq (the export's cursor), `metadata.uid` is stable per entry,
 * and `unmapped` carries the ledger entry's own fields (action, data), which hold no secrets.
 */
export const OCSF_VERSION = '1.3.0';

type Activity = [id: number, name: string];

const SEVERITY: Record<string, Activity> = { info: [1, 'Informational'], low: [2, 'Low'], warning: [3, 'Medium'], medium: [3, 'Medium'], high: [4, 'High'], critical: [5, 'Critical'] };

const ACCOUNT_ACTIVITY: Record<string, Activity> = {
  'token.registered': [1, 'Create'],
  'token.imported': [1, 'Create'],
  'token.resumed': [2, 'Enable'],
  'token.reauthorised': [2, 'Enable'],
  'token.refreshed': [3, 'Password Change'],
  'token.suspended': [5, 'Disable'],
  'token.expired': [5, 'Disable'],
  'token.revoked': [6, 'Delete'],
};

function classOf(action: string): { uid: number; name: string; category: Activity } {
  if (action === 'token.approved' || action.startsWith('oauth.')) return { uid: 3002, name: 'Authentication', category: [3, 'Identity & Access Management'] };
  if (action.startsWith('token.')) return { uid: 3001, name: 'Account Change', category: [3, 'Identity & Access Management'] };
  if (action.startsWith('alert.') || action.startsWith('finding.')) return { uid: 2004, name: 'Detection Finding', category: [2, 'Findings'] };
  return { uid: 6003, name: 'API Activity', category: [6, 'Application Activity'] };
}

function activityOf(classUid: number, action: string): Activity {
  const verb = action.slice(action.indexOf('.') + 1);
  if (classUid === 3001) return ACCOUNT_ACTIVITY[action] ?? [99, 'Other'];
  if (classUid === 3002) return [1, 'Logon'];
  if (classUid === 2004) return verb === 'raised' || verb === 'opened' ? [1, 'Create'] : verb === 'resolved' ? [3, 'Close'] : [2, 'Update'];
  if (/^(created|registered|added)$/.test(verb)) return [1, 'Create'];
  if (/(changed|updated|reassigned|version_added|rotation_)/.test(verb)) return [3, 'Update'];
  if (/^(deleted|revoked|withdrawn|removed|pruned)$/.test(verb)) return [4, 'Delete'];
  return [99, 'Other'];
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export function toOcsf(entry: LedgerEntry, productVersion: string): Record<string, unknown> {
  const cls = classOf(entry.action);
  const [activityId, activityName] = activityOf(cls.uid, entry.action);
  const data = entry.data ?? {};
  const failed = /failed|undelivered|refused/.test(entry.action);
  const [severityId, severity] = SEVERITY[str(data.severity) ?? ''] ?? (failed ? SEVERITY.low! : SEVERITY.info!);
  const event: Record<string, unknown> = {
    class_uid: cls.uid,
    class_name: cls.name,
    category_uid: cls.category[0],
    category_name: cls.category[1],
    activity_id: activityId,
    activity_name: activityName,
    type_uid: cls.uid * 100 + activityId,
    type_name: `${cls.name}: ${activityName}`,
    time: Date.parse(entry.at),
    severity_id: severityId,
    severity,
    status_id: failed ? 2 : 1,
    status: failed ? 'Failure' : 'Success',
    message: `${entry.action}${entry.subjectId ? ` ${entry.subjectId}` : ''}`,
    metadata: {
      version: OCSF_VERSION,
      uid: `custody-ledger-${entry.seq}`,
      sequence: entry.seq,
      log_name: 'custody-ledger',
      logged_time: Date.parse(entry.at),
      product: { name: 'Custody', vendor_name: 'Custody', version: productVersion },
      ...(entry.tenantId ? { tenant_uid: entry.tenantId } : {}),
    },
    actor: { user: { uid: entry.actor, name: entry.actor } },
    unmapped: { action: entry.action, tenant_id: entry.tenantId, subject_id: entry.subjectId, data, hash: entry.hash },
  };
  if (cls.uid === 3001) {
    event.user = { uid: entry.subjectId, type_id: 99, type: 'OAuth token (non-human identity)' };
  } else if (cls.uid === 3002) {
    const approver = (data.approver ?? {}) as Record<string, unknown>;
    event.user = { uid: str(approver.subject) ?? entry.subjectId, ...(str(approver.email) ? { email_addr: approver.email } : {}), type_id: 1, type: 'User' };
    event.auth_protocol_id = 6;
    event.auth_protocol = 'OAUTH 2.0';
    event.is_mfa = false;
  } else if (cls.uid === 2004) {
    const uid = str(data.alertId) ?? str(data.findingId) ?? entry.subjectId ?? `custody-ledger-${entry.seq}`;
    const kind = str(data.kind) ?? str(data.type) ?? entry.action;
    event.finding_info = { uid, title: str(data.message) ?? kind, types: [kind] };
  } else {
    event.api = { operation: entry.action, service: { name: 'custody' } };
    event.src_endpoint = { svc_name: 'custody' };
  }
  return event;
}
