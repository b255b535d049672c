import { describe, expect, it } from 'vitest';
import type { ScopeRule } from '../providers/provider.types.ts';
import { matchScope, patternMatches, templateOf } from './scope-rules.ts';

const RULES: ScopeRule[] = [
  { method: 'GET', pathPattern: '/invoices/export', scope: 'invoices.export' },
  { method: 'GET', pathPattern: '/invoices/**', scope: 'invoices.read' },
  { method: 'POST', pathPattern: '/invoices', scope: 'invoices.write' },
  { method: '*', pathPattern: '/customers/{id}', scope: 'customers.read' },
  { method: 'DELETE', pathPattern: '/customers/:id/notes/*', scope: 'customers.write' },
];

describe('scope rules', () => {
  it('matches literal, parameter and trailing ** segments', () => {
    expect(patternMatches('/a/{id}', ['a', '1'])).toBe(true);
    expect(patternMatches('/a/{id}', ['a'])).toBe(false);
    expect(patternMatches('/a/{id}', ['a', '1', '2'])).toBe(false);
    expect(patternMatches('/a/**', ['a'])).toBe(true);
    expect(patternMatches('/a/**', ['a', 'b', 'c'])).toBe(true);
    expect(patternMatches('/a/**', ['b'])).toBe(false);
  });

  it('takes the first matching rule, so narrow rules placed first win', () => {
    expect(matchScope(RULES, 'GET', ['invoices', 'export'])).toMatchObject({ mapped: true, scope: 'invoices.export' });
    expect(matchScope(RULES, 'GET', ['invoices', '7'])).toMatchObject({ mapped: true, scope: 'invoices.read', template: '/invoices/**' });
  });

  it('matches methods exactly or by *, and HEAD as GET', () => {
    expect(matchScope(RULES, 'post', ['invoices'])).toMatchObject({ scope: 'invoices.write' });
    expect(matchScope(RULES, 'PUT', ['invoices']).mapped).toBe(false);
    expect(matchScope(RULES, 'PATCH', ['customers', '9'])).toMatchObject({ scope: 'customers.read' });
    expect(matchScope(RULES, 'HEAD', ['invoices', '1'])).toMatchObject({ scope: 'invoices.read' });
    expect(matchScope(RULES, 'DELETE', ['customers', '9', 'notes', '3'])).toMatchObject({ scope: 'customers.write' });
  });

  it('reports unmapped calls with a bounded template free of identifiers (and of names and emails)', () => {
    expect(matchScope(RULES, 'GET', ['reports', '2024', 'usr_8f3a9c2d1e'])).toEqual({ mapped: false, template: '/*/*/*' });
    expect(templateOf(['v2', 'items', '550e8400-e29b-41d4-a716-446655440000'])).toBe('/v2/*/*');
    expect(templateOf(['users', 'alice@acme.example'])).toBe('/*/*');
    expect(templateOf(['V1.2', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'])).toBe('/v1.2/*/*/*/*/*/*/*/**');
    expect(templateOf([])).toBe('/');
    // As many forms as there are version segments and depths, whatever the paths: a bounded set of shapes.
    const forms = new Set(Array.from({ length: 5000 }, (_, i) => templateOf(`${i}/name-${i}/x${i}`.split('/').slice(0, (i % 4) + 1))));
    expect(forms.size).toBeLessThanOrEqual(4);
  });
});

describe('the unmapped template and migration 009', () => {
  it('collapse a path the same way, so old and new shapes of one call merge', async () => {
    const { boundedTemplate } = await import('../storage/migrations/009-call-shape-keys.ts');
    for (const path of ['/users/alice', '/v2/items/550e8400/notes', '/V1/a/b/c/d/e/f/g/h/i', '/', '/v10.2/x']) {
      expect(templateOf(path.split('/').filter(Boolean)), path).toBe(boundedTemplate(path));
    }
  });
});
