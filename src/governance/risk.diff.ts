import { hash } from 'node:crypto';
import type { TokenFacts } from '../tokens/token.facts.ts';
import type { RiskWrite } from '../tokens/token.risk.ts';
import type { FindingCandidate } from './finding.rules.ts';
import type { Context } from './governance.context.ts';
import type { PolicyValues } from './policy.rules.ts';
import { judgeRisk, riskCutoffs, type RiskCutoffs } from './risk.rules.ts';

/**
 * The risk scores to write for tokens just judged: each token's risk from its facts, its tenant's
 * policy, its provider's scope catalogue and the findings it has now (`desired`, with the
 * exceptions in force), compared with what is stored by a digest of what the components are made
 * from (risk.rules.ts `key`). Only a token whose digest changed is written, with its components'
 * text made then, so a steady sweep neither writes nor formats anything (and reads no stored text).
 */
export function riskChanges(facts: readonly TokenFacts[], desired: ReadonlyMap<string, FindingCandidate[]>, ctx: Context): RiskWrite[] {
  const out: RiskWrite[] = [];
  const cutoffs = new Map<PolicyValues, RiskCutoffs>();
  for (const t of facts) {
    const policy = ctx.policies.forTenant(t.tenantId);
    let cut = cutoffs.get(policy);
    if (!cut) cutoffs.set(policy, (cut = riskCutoffs(policy, ctx.now)));
    const candidates = desired.get(t.id) ?? [];
    const findings = candidates.map((c) => ({ type: c.type, severity: c.severity, excepted: ctx.exceptions.covering(t.tenantId, t.id, c.type) !== undefined }));
    const risk = judgeRisk({ token: t, policy, catalogue: ctx.catalogue(t.providerId), findings, now: ctx.now, cutoffs: cut });
    if (!risk) {
      if (t.riskScore !== null || t.riskDigest !== null) out.push({ tokenId: t.id, score: null, components: null, digest: null });
      continue;
    }
    const digest = hash('sha1', risk.key, 'base64url');
    if (digest !== t.riskDigest || risk.score !== t.riskScore) out.push({ tokenId: t.id, score: risk.score, components: JSON.stringify(risk.components()), digest });
  }
  return out;
}
