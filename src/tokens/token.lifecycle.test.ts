import { describe, expect, it } from 'vitest';
import { applyTransition, TOKEN_STATES, TRANSITIONS, type TokenState, type Transition } from './token.lifecycle.ts';

const LEGAL: Record<string, TokenState> = {
  'active:suspend': 'suspended',
  'active:expire': 'expired',
  'active:revoke': 'revoked',
  'suspended:resume': 'active',
  'suspended:reauthorise': 'active',
  'suspended:expire': 'expired',
  'suspended:revoke': 'revoked',
};

describe('token lifecycle', () => {
  for (const from of TOKEN_STATES) {
    for (const t of TRANSITIONS) {
      const expected = LEGAL[`${from}:${t}`];
      if (expected) {
        it(`allows ${t} from ${from}, leading to ${expected}`, () => {
          expect(applyTransition(from, t as Transition)).toEqual({ ok: true, to: expected });
        });
      } else {
        it(`refuses ${t} from ${from}`, () => {
          const r = applyTransition(from, t as Transition);
          expect(r.ok).toBe(false);
        });
      }
    }
  }

  it('explains that terminal states are final', () => {
    const r = applyTransition('revoked', 'resume');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/final/);
  });
});
