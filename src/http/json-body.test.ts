import { describe, expect, it } from 'vitest';
import { duplicateKeyOf } from './json-body.ts';

describe('duplicate JSON keys', () => {
  it('finds a key named twice in one object, wherever it is, and says where', () => {
    expect(duplicateKeyOf('{"reason": "incident 42", "reason": ""}')).toEqual({ key: 'reason', path: 'body' });
    expect(duplicateKeyOf('{"a": {"b": 1, "c": [1, {"d": 1}, {"x": 1, "x": 2}]}}')).toEqual({ key: 'x', path: 'body/a/c/2' });
    expect(duplicateKeyOf('[{"k": 1}, {"k": 1, "k": 1}]')).toEqual({ key: 'k', path: 'body/1' });
    // An escape spells the same key.
    expect(duplicateKeyOf('{"a": 1, "\\u0061": 2}')).toEqual({ key: 'a', path: 'body' });
  });

  it('accepts equal keys in different objects, and quotes, brackets and commas inside strings', () => {
    expect(duplicateKeyOf('{"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}]}')).toBeNull();
    expect(duplicateKeyOf('{"a\\"b": "{\\"a\\": 1, \\"a\\": 2}", "c": "[,],{", "d\\\\": 1, "d": 2}')).toBeNull();
    expect(duplicateKeyOf('{}')).toBeNull();
    expect(duplicateKeyOf('[]')).toBeNull();
    expect(duplicateKeyOf('"just a string"')).toBeNull();
    expect(duplicateKeyOf('{"a": [], "b": {}, "c": [[], [{}]], "d": null}')).toBeNull();
  });

  it('walks deep nesting without recursion', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(duplicateKeyOf(deep)).toBeNull();
    const deepObjects = '{"a":'.repeat(10_000) + '{"z": 1, "z": 2}' + '}'.repeat(10_000);
    expect(duplicateKeyOf(deepObjects)?.key).toBe('z');
  });
});
