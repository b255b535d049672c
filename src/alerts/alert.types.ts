/** Alerts as plain data: severities in order, statuses, and what a raiser hands over. */

export const ALERT_SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

export const ALERT_STATUSES = ['open', 'acknowledged', 'resolved'] as const;
export type AlertStatus = (typeof ALERT_STATUSES)[number];

/** The newest pieces of evidence an alert keeps (older ones fall off as repeats bring new ones). */
export const MAX_EVIDENCE = 20;
/** A piece of evidence is a small JSON object; a larger one is replaced by a note saying so. */
export const MAX_EVIDENCE_BYTES = 2_000;

/** What caused (or repeated) an alert: the usage events, the signal, the leak report… */
export interface AlertEvidence {
  kind: string;
  [key: string]: unknown;
}

export interface NewAlert {
  /** What happened, as a stable snake_case name (`revoked_at_issuer`, `use_after_revoke`, …). */
  kind: string;
  severity: AlertSeverity;
  tenantId: string | null;
  /** The token id when the alert is about a token (de-duplication is per subject and kind). */
  subjectId: string | null;
  message: string;
  /** Facts about it, shown with it and exported: never credential material. */
  data?: Record<string, unknown>;
  /** What caused it (or this repeat): a small JSON object, kept with the newest 20. Never credential material. */
  evidence?: AlertEvidence;
}

export function severityRank(s: AlertSeverity): number {
  return ALERT_SEVERITIES.indexOf(s);
}

/** The higher of two severities: a repeat may raise an open alert's severity, never lower it. */
export function higherSeverity(a: AlertSeverity, b: AlertSeverity): AlertSeverity {
  return severityRank(b) > severityRank(a) ? b : a;
}

/**
 * An open alert's evidence after a repeat: the new piece appended, the oldest dropped beyond
 * MAX_EVIDENCE, an oversized piece replaced by a note (evidence is for reading, not storage).
 */
export function withEvidence(existing: AlertEvidence[], added: AlertEvidence | undefined, at: string): AlertEvidence[] {
  if (!added) return existing;
  const piece = JSON.stringify(added).length <= MAX_EVIDENCE_BYTES ? { ...added, at: added.at ?? at } : { kind: added.kind, at, truncated: true };
  return [...existing, piece].slice(-MAX_EVIDENCE);
}

/** Where an alert is de-duplicated: its subject, else its tenant, else the platform. */
export function dedupeKeyOf(alert: Pick<NewAlert, 'tenantId' | 'subjectId'>): string {
  return alert.subjectId ?? alert.tenantId ?? 'global';
}
