import { hash } from 'node:crypto';
import { newId } from '../shared/ids.ts';
import type { FindingsTable } from '../storage/schema.ts';
import type { TokenFacts } from '../tokens/token.facts.ts';
import { armedState } from './enforcement.plan.ts';
import type { LiveFinding } from './finding.repo.ts';
import { tokenFindings, type FindingCandidate } from './finding.rules.ts';
import type { FindingStatus } from './finding.types.ts';
import type { Context } from './governance.context.ts';
import { riskChanges } from './risk.diff.ts';
import type { RiskWrite } from '../tokens/token.risk.ts';

/** What a finding is about: a token, or a workload. */
export interface Subject {
  subjectId: string;
  tokenId: string | null;
  workloadId: string | null;
  tenantId: string | null;
  /** The token's state (null for a workload, or a token that no longer exists). */
  tokenState: string | null;
}

/** Changes to the findings table, computed from what was read; written in one short transaction. */
export interface Diff {
  inserts: FindingsTable[];
  /** `expect`: the enforcement state read; the update applies only if it is still that (an enforcement pass may have moved it). */
  updates: { id: string; subjectId: string; changes: Partial<FindingsTable>; expect: { stage: string | null; nextActionAt: string | null } }[];
  resolves: { id: string; subjectId: string }[];
  /** Tokens whose risk score or its components changed (risk.diff.ts), written through tokens.recordRiskScores. */
  risks: RiskWrite[];
}

function digestOf(severity: string, reasons: string): string {
  return hash('sha1', `${severity}\u0000${reasons}`, 'base64url');
}

export const isEmptyDiff = (d: Diff) => d.inserts.length + d.updates.length + d.resolves.length + d.risks.length === 0;

/** The diff cut into parts of at most `subjects` subjects each (each subject's changes in one part), in order. */
export function splitDiff(d: Diff, subjects: number): Diff[] {
  const partOf = new Map<string, number>();
  const part = (subjectId: string) => {
    let p = partOf.get(subjectId);
    if (p === undefined) partOf.set(subjectId, (p = Math.floor(partOf.size / subjects)));
    return p;
  };
  const parts: Diff[] = [];
  const at = (p: number) => (parts[p] ??= { inserts: [], updates: [], resolves: [], risks: [] });
  for (const r of d.inserts) at(part(r.subject_id)).inserts.push(r);
  for (const u of d.updates) at(part(u.subjectId)).updates.push(u);
  for (const r of d.resolves) at(part(r.subjectId)).resolves.push(r);
  for (const r of d.risks) at(part(r.tokenId)).risks.push(r);
  return parts.filter((p) => p !== undefined);
}

/** The diff without these subjects' part (they changed since it was read; the change path re-evaluates them). */
export function withoutSubjects(d: Diff, skip: ReadonlySet<string>): Diff {
  if (skip.size === 0) return d;
  return {
    inserts: d.inserts.filter((r) => !skip.has(r.subject_id)),
    updates: d.updates.filter((u) => !skip.has(u.subjectId)),
    resolves: d.resolves.filter((r) => !skip.has(r.subjectId)),
    risks: d.risks.filter((r) => !skip.has(r.tokenId)),
  };
}

/**
 * Tokens judged (a sweep's page, or the change path's batch): their findings' changes against
 * `live`, and their risk scores' changes against what is stored. `ids` may name tokens that no
 * longer exist (their findings resolve).
 */
export function judgeTokens(ids: readonly string[], facts: readonly TokenFacts[], ctx: Context, live: LiveFinding[]): Diff {
  const desired = tokenCandidates(facts, ctx);
  return { ...diffFindings(tokenSubjects(ids, facts), desired, ctx, live), risks: riskChanges(facts, desired, ctx) };
}

/** Token facts as subjects; `ids` may name tokens that no longer exist (their findings resolve). */
export function tokenSubjects(ids: readonly string[], facts: readonly TokenFacts[]): Subject[] {
  const byId = new Map(facts.map((f) => [f.id, f]));
  return ids.map((id) => ({ subjectId: id, tokenId: id, workloadId: null, tenantId: byId.get(id)?.tenantId ?? null, tokenState: byId.get(id)?.state ?? null }));
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
 * true is left as it is (the sweep's record confirms it): a steady sweep writes nothing. Each
 * finding enforcement acts on is armed or held here (enforcement.plan.ts `armedState`); the
 * enforcement pass takes the steps.
 */
export function diffFindings(subjects: Subject[], desired: Map<string, FindingCandidate[]>, ctx: Context, live: LiveFinding[]): Diff {
  const at = ctx.now.toISOString();
  const existing = new Map<string, LiveFinding>();
  for (const f of live) existing.set(f.subject_id + '|' + f.type, f);
  const out: Diff = { inserts: [], updates: [], resolves: [], risks: [] };
  for (const s of subjects) {
    const candidates = desired.get(s.subjectId);
    if (!candidates || candidates.length === 0) continue;
    const mode = (s.tenantId ? ctx.policies.forTenant(s.tenantId) : ctx.policies.globalValues).mode;
    for (const c of candidates) {
      const key = s.subjectId + '|' + c.type;
      const f = existing.get(key);
      if (f) existing.delete(key);
      const exception = s.tenantId ? ctx.exceptions.covering(s.tenantId, s.tokenId, c.type) : undefined;
      const reasons = JSON.stringify(c.reasons);
      const digest = digestOf(c.severity, reasons);
      const status: FindingStatus = exception ? 'excepted' : !f || f.status === 'excepted' ? 'open' : f.status;
      const current = { stage: f?.enforcement_stage ?? null, nextActionAt: f?.next_action_at ?? null };
      const armed = s.tokenId ? armedState(c.type, status, s.tokenState, mode, current, at) : current;
      if (!f) {
        out.inserts.push({
          // The id's time is the clock's, not the judgement's `now` (one instant for a whole sweep):
          // ids made in order land at the end of the primary key, where millions of ids of one
          // instant would each land on a random page of it.
          id: newId('finding'),
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
          enforcement_stage: armed.stage,
          next_action_at: armed.nextActionAt,
          notice_id: null,
        });
      } else if (f.status !== status || f.digest !== digest || f.exception_id !== (exception?.id ?? null) || armed.stage !== current.stage || armed.nextActionAt !== current.nextActionAt) {
        out.updates.push({
          id: f.id,
          subjectId: s.subjectId,
          changes: { status, reasons, digest, severity: c.severity, exception_id: exception?.id ?? null, enforcement_stage: armed.stage, next_action_at: armed.nextActionAt, last_seen_at: at },
          expect: current,
        });
      }
    }
  }
  for (const f of existing.values()) out.resolves.push({ id: f.id, subjectId: f.subject_id });
  return out;
}
