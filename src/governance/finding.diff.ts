import { hash } from 'node:crypto';
import type { NewLedgerEntry } from '../ledger/ledger.types.ts';
import { newId } from '../shared/ids.ts';
import type { FindingsTable } from '../storage/schema.ts';
import type { TokenFacts } from '../tokens/token.facts.ts';
import { ENFORCED, planKey, plannedAction, type PlannedAction } from './enforcement.plan.ts';
import type { LiveFinding } from './finding.repo.ts';
import { tokenFindings, type FindingCandidate } from './finding.rules.ts';
import type { FindingStatus } from './finding.types.ts';
import type { Context } from './governance.context.ts';

/** What a finding is about: a token, or a workload. */
export interface Subject {
  subjectId: string;
  tokenId: string | null;
  workloadId: string | null;
  tenantId: string | null;
}

/** Changes to the findings table, computed from what was read; written in one short transaction. */
export interface Diff {
  inserts: FindingsTable[];
  updates: { id: string; subjectId: string; changes: Partial<FindingsTable> }[];
  resolves: { id: string; subjectId: string }[];
  wouldAct: NewLedgerEntry[];
}

function digestOf(severity: string, reasons: string): string {
  return hash('sha1', `${severity}\u0000${reasons}`, 'base64url');
}

export const isEmptyDiff = (d: Diff) => d.inserts.length + d.updates.length + d.resolves.length + d.wouldAct.length === 0;

/** The diff without these subjects' part (they changed since it was read; the change path re-evaluates them). */
export function withoutSubjects(d: Diff, skip: ReadonlySet<string>): Diff {
  if (skip.size === 0) return d;
  return {
    inserts: d.inserts.filter((r) => !skip.has(r.subject_id)),
    updates: d.updates.filter((u) => !skip.has(u.subjectId)),
    resolves: d.resolves.filter((r) => !skip.has(r.subjectId)),
    wouldAct: d.wouldAct.filter((e) => !skip.has(e.subjectId ?? '')),
  };
}

/** Token facts as subjects; `ids` may name tokens that no longer exist (their findings resolve). */
export function tokenSubjects(ids: readonly string[], facts: readonly TokenFacts[]): Subject[] {
  const tenantOf = new Map(facts.map((f) => [f.id, f.tenantId]));
  return ids.map((id) => ({ subjectId: id, tokenId: id, workloadId: null, tenantId: tenantOf.get(id) ?? null }));
}

/** Each token's findings under its tenant's effective policy. */
export function tokenCandidates(facts: readonly TokenFacts[], ctx: Context): Map<string, FindingCandidate[]> {
  const out = new Map<string, FindingCandidate[]>();
  for (const f of facts) {
    const policy = ctx.policies.forTenant(f.tenantId);
    out.set(f.id, tokenFindings(f, policy, ctx.directory, ctx.now, ctx.cutoffs(policy)));
  }
  return out;
}

/**
 * What it takes to bring the live findings of `subjects` to `desired`: `live` are the live
 * findings to compare with; any of them not desired any more is resolved (so a sweep page passes
 * every live finding in its id range, including those of tokens no longer live). A finding still
 * true is left as it is (the sweep's record confirms it): a steady sweep writes nothing. In audit
 * mode, and until enforcement exists, what enforcement would do is a ledger entry, written when it
 * first falls due or changes, never every sweep.
 */
export function diffFindings(subjects: Subject[], desired: Map<string, FindingCandidate[]>, ctx: Context, live: LiveFinding[]): Diff {
  const at = ctx.now.toISOString();
  const existing = new Map<string, LiveFinding>();
  for (const f of live) existing.set(f.subject_id + '|' + f.type, f);
  const out: Diff = { inserts: [], updates: [], resolves: [], wouldAct: [] };
  const plans = new Map<string, PlannedAction | null>();
  for (const s of subjects) {
    const candidates = desired.get(s.subjectId);
    if (!candidates || candidates.length === 0) continue;
    const policy = s.tenantId ? ctx.policies.forTenant(s.tenantId) : ctx.policies.globalValues;
    for (const c of candidates) {
      const key = s.subjectId + '|' + c.type;
      const f = existing.get(key);
      if (f) existing.delete(key);
      const exception = s.tenantId ? ctx.exceptions.covering(s.tenantId, s.tokenId, c.type) : undefined;
      const reasons = JSON.stringify(c.reasons);
      const digest = digestOf(c.severity, reasons);
      const firstSeenAt = f?.first_seen_at ?? at;
      const status: FindingStatus = exception ? 'excepted' : !f || f.status === 'excepted' ? 'open' : f.status;
      // What enforcement would do, for tokens whose finding is not excepted (memoised: most share a first sighting).
      let plan: PlannedAction | null = null;
      if (s.tokenId && status !== 'excepted' && ENFORCED.has(c.type)) {
        const memo = `${c.type}|${firstSeenAt}|${policy.graceDays}`;
        if (!plans.has(memo)) plans.set(memo, plannedAction(c.type, firstSeenAt, policy));
        plan = plans.get(memo)!;
      }
      const planned = planKey(plan);
      const id = f?.id ?? newId('finding', ctx.now.getTime());
      if (plan && planned !== (f?.planned_action ?? null)) {
        const versions = { global: ctx.policies.global.version, tenant: s.tenantId ? (ctx.policies.tenants.get(s.tenantId)?.version ?? 0) : 0 };
        out.wouldAct.push({
          actor: 'policy',
          action: `policy.would_${plan.action}`,
          tenantId: s.tenantId,
          subjectId: s.tokenId,
          data: {
            findingId: id,
            findingType: c.type,
            suspendAt: plan.suspendAt,
            mode: policy.mode,
            policyVersion: versions,
            note: policy.mode === 'audit' ? 'audit mode: nothing was changed' : 'enforcement is not built yet (issue 14): nothing was changed',
          },
        });
      }
      if (!f) {
        out.inserts.push({
          id,
          type: c.type,
          severity: c.severity,
          status,
          subject_id: s.subjectId,
          token_id: s.tokenId,
          workload_id: s.workloadId,
          tenant_id: s.tenantId,
          first_seen_at: at,
          last_seen_at: at,
          resolved_at: null,
          reasons,
          digest,
          exception_id: exception?.id ?? null,
          acknowledged_at: null,
          acknowledged_by: null,
          acknowledged_reason: null,
          planned_action: planned,
        });
      } else if (f.status !== status || f.digest !== digest || f.exception_id !== (exception?.id ?? null) || f.planned_action !== planned) {
        out.updates.push({ id: f.id, subjectId: s.subjectId, changes: { status, reasons, digest, severity: c.severity, exception_id: exception?.id ?? null, planned_action: planned, last_seen_at: at } });
      }
    }
  }
  for (const f of existing.values()) out.resolves.push({ id: f.id, subjectId: f.subject_id });
  return out;
}
