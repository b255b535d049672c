/**
 * The lifecycle of DESIGN §3 as an explicit state machine. `expired` and `revoked` are terminal:
 * a new consent after them makes a new record linked to its predecessor.
 */
export const TOKEN_STATES = ['active', 'suspended', 'expired', 'revoked'] as const;
export type TokenState = (typeof TOKEN_STATES)[number];

export const TRANSITIONS = ['suspend', 'resume', 'reauthorise', 'expire', 'revoke'] as const;
export type Transition = (typeof TRANSITIONS)[number];

const TABLE: Record<Transition, { from: readonly TokenState[]; to: TokenState }> = {
  suspend: { from: ['active'], to: 'suspended' },
  resume: { from: ['suspended'], to: 'active' },
  reauthorise: { from: ['suspended'], to: 'active' },
  expire: { from: ['active', 'suspended'], to: 'expired' },
  revoke: { from: ['active', 'suspended'], to: 'revoked' },
};

export type TransitionResult = { ok: true; to: TokenState } | { ok: false; reason: string };

export function applyTransition(from: TokenState, transition: Transition): TransitionResult {
  const rule = TABLE[transition];
  if (rule.from.includes(from)) return { ok: true, to: rule.to };
  const terminal = from === 'expired' || from === 'revoked';
  return {
    ok: false,
    reason: terminal
      ? `cannot ${transition} a token that is ${from}: ${from} is final (a new consent makes a new record)`
      : `cannot ${transition} a token that is ${from} (allowed from: ${rule.from.join(', ')})`,
  };
}

/** States from which a transition is allowed, for bulk operations that select by state. */
export function statesAllowing(transition: Transition): readonly TokenState[] {
  return TABLE[transition].from;
}
