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
 * The path template usage records for a call no rule maps: no identifiers and a bounded number of
 * forms, whatever callers send (each distinct template is a stored call shape, and a path can carry
 * names or emails): every segment becomes `*` but an API version (v1, v2.1), and past eight
 * segments the rest is `/**`. Migration 009 collapses older templates the same way.
 */
export function templateOf(segments: string[]): string {
  const kept = segments.slice(0, 8).map((s) => (/^v\d{1,2}(?:\.\d{1,2})?$/i.test(s) ? s.toLowerCase() : '*'));
  return `/${kept.join('/')}${segments.length > 8 ? '/**' : ''}`;
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
