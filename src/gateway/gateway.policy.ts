import type { ErrorCode } from '../shared/errors.ts';
import type { GatewayToken } from './gateway.types.ts';
import { matchScope } from './scope-rules.ts';
import { joinTarget } from './target-path.ts';

/**
 * The gateway's decision for one call, as a pure function of the token record and the request.
 * Checks run in an order that leaks nothing: a token of another tenant (or none at all) answers
 * `token_not_found` before anything about the token is looked at.
 */
export interface CallRequest {
  tenantId: string | null;
  workload: string | null;
  method: string;
  rawPath: string;
  rawQuery: string;
  /** An explicitly chosen API base (one of the provider's declared bases); default: the first. */
  requestedBase?: string | undefined;
}

export type Decision =
  | { ok: true; target: { origin: string; hostname: string }; requestPath: string; host: string; scope: string | null; unmapped: boolean; template: string }
  | { ok: false; code: ErrorCode; message?: string; host: string | null; scope: string | null; unmapped: boolean; template: string };

const STATE_DENIALS: Partial<Record<string, ErrorCode>> = {
  revoked: 'token_revoked',
  suspended: 'token_suspended',
  expired: 'token_expired',
};

function denied(code: ErrorCode, extra: Partial<Extract<Decision, { ok: false }>> = {}): Decision {
  return { ok: false, code, host: null, scope: null, unmapped: false, template: '-', ...extra };
}

export function decideCall(token: GatewayToken | null, call: CallRequest): Decision {
  if (!token || call.tenantId === null || token.tenantId !== call.tenantId) return denied('token_not_found');
  if (call.workload === null || !token.workloads.includes(call.workload)) {
    return denied('workload_not_allowed', { message: `The workload "${call.workload ?? ''}" is not listed on this token.` });
  }
  const stateDenial = STATE_DENIALS[token.state];
  if (stateDenial) return denied(stateDenial);
  if (token.state !== 'active') return denied('token_suspended');
  // Imported without credentials (src/imports): there is nothing to attach to the call.
  if (token.inventoryOnly === true) return denied('token_inventory_only');

  const bases = token.provider.apiBaseUrls;
  const base = call.requestedBase === undefined ? bases[0] : bases.find((b) => b === call.requestedBase);
  if (base === undefined) return denied('target_not_allowed', { message: 'The requested API base is not one the provider declares.' });
  const joined = joinTarget(base, call.rawPath, call.rawQuery, { allowPathParameters: token.provider.allowPathParameters });
  if (!joined.ok) return denied('target_not_allowed', { message: `The target is refused: ${joined.reason}.` });
  const host = joined.host;
  const target = { origin: joined.origin, hostname: joined.hostname };

  const match = matchScope(token.provider.scopeRules, call.method, joined.segments);
  if (match.mapped) {
    if (!token.grantedScopes.includes(match.scope)) {
      return denied('scope_not_granted', {
        message: `This call needs the scope "${match.scope}", which the token was not granted.`,
        host,
        scope: match.scope,
        template: match.template,
      });
    }
    // Granted, but is it in the live access token? (A narrowing refresh may have left it out.)
    if (token.effectiveScopes !== null && !token.effectiveScopes.includes(match.scope)) {
      return denied('scope_narrowed', {
        message: `This call needs the scope "${match.scope}": the token was granted it, but a refresh narrowed the live access token to the scopes used recently (${token.effectiveScopes.join(', ') || 'none'}). Have the customer reauthorise the token (POST /v1/tokens/${token.id}/reauthorization) to widen it again.`,
        host,
        scope: match.scope,
        template: match.template,
      });
    }
    return { ok: true, target, requestPath: joined.requestPath, host, scope: match.scope, unmapped: false, template: match.template };
  }
  if (token.provider.unmappedCalls !== 'allow') return denied('unmapped_call_refused', { host, unmapped: true, template: match.template });
  return { ok: true, target, requestPath: joined.requestPath, host, scope: null, unmapped: true, template: match.template };
}
