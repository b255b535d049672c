import type { ScopeRule } from '../providers/provider.types.ts';

/**
 * Which scope a call needs, from the provider's rules. Pure. Patterns are paths relative to the
 * API base URL, segment by segment: a literal matches itself, `{name}`, `:name` or `*` matches
 * exactly one segment, and a final `**` matches any remainder (including nothing). Methods match
 * exactly or by `*`; HEAD also matches a GET rule. The first matching rule wins, so operators put
 * narrow rules before broad ones.
 */
export type ScopeMatch = { mapped: true; scope: string; template: string } | { mapped: false; template: string };

function segmentsOf(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

function isParam(segment: string): boolean {
  return segment === '*' || /^\{[^/{}]+\}$/.test(segment) || /^:[^/]+$/.test(segment);
}

export function patternMatches(pattern: string, segments: string[]): boolean {
  const parts = segmentsOf(pattern);
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === '**' && i === parts.length - 1) return true;
    const segment = segments[i];
    if (segment === undefined) return false;
    if (isParam(part)) continue;
    if (part !== segment) return false;
  }
  return parts.length === segments.length;
}

function methodMatches(ruleMethod: string, method: string): boolean {
  const m = ruleMethod.toUpperCase();
  return m === '*' || m === method || (method === 'HEAD' && m === 'GET');
}

/**
 * A path template for usage records that carries no identifiers: segments that look like ids
 * (digits, UUIDs, long tokens) become `{id}`. Used for calls that match no rule.
 */
export function templateOf(segments: string[]): string {
  // Any segment with a digit is taken for an identifier, except API versions (v1, v2.1).
  const looksLikeId = (s: string) => /\d/.test(s) && !/^v\d+(?:\.\d+)?$/i.test(s);
  return `/${segments.map((s) => (looksLikeId(s) ? '{id}' : s)).join('/')}`;
}

/** @param segments the decoded path segments relative to the base URL */
export function matchScope(rules: readonly ScopeRule[], method: string, segments: string[]): ScopeMatch {
  const upper = method.toUpperCase();
  for (const rule of rules) {
    if (methodMatches(rule.method, upper) && patternMatches(rule.pathPattern, segments)) {
      return { mapped: true, scope: rule.scope, template: rule.pathPattern };
    }
  }
  return { mapped: false, template: templateOf(segments) };
}
