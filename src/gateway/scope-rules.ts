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

/** A rule with its pattern split and its parameters marked, once per rule list. */
interface CompiledRule {
  method: string;
  parts: { literal: string | null }[];
  /** Ends in `**`: matches any remainder. */
  rest: boolean;
  match: ScopeMatch & { mapped: true };
}

const compiledRules = new WeakMap<readonly ScopeRule[], CompiledRule[]>();

function compile(rules: readonly ScopeRule[]): CompiledRule[] {
  let compiled = compiledRules.get(rules);
  if (compiled === undefined) {
    compiled = rules.map((rule) => {
      const parts = segmentsOf(rule.pathPattern);
      const rest = parts.at(-1) === '**';
      if (rest) parts.pop();
      return {
        method: rule.method.toUpperCase(),
        parts: parts.map((p) => ({ literal: isParam(p) ? null : p })),
        rest,
        match: { mapped: true, scope: rule.scope, template: rule.pathPattern },
      };
    });
    compiledRules.set(rules, compiled);
  }
  return compiled;
}

function compiledMatches(rule: CompiledRule, segments: string[]): boolean {
  const { parts } = rule;
  if (rule.rest ? segments.length < parts.length : segments.length !== parts.length) return false;
  for (let i = 0; i < parts.length; i++) {
    const literal = parts[i]!.literal;
    if (literal !== null && literal !== segments[i]) return false;
  }
  return true;
}

/**
 * @param rules a provider's rules; compiled on first use and remembered for that list object
 * @param segments the decoded path segments relative to the base URL
 */
export function matchScope(rules: readonly ScopeRule[], method: string, segments: string[]): ScopeMatch {
  const upper = method.toUpperCase();
  for (const rule of compile(rules)) {
    if (methodMatches(rule.method, upper) && compiledMatches(rule, segments)) return rule.match;
  }
  return { mapped: false, template: templateOf(segments) };
}
