import { describe, expect, it } from 'vitest';
import { LIVE_STATES, practicalTest, TERMINAL_STATES, type PracticalTestInput } from './token.practical-test.ts';
import { TOKEN_STATES } from './token.lifecycle.ts';

const NOW = new Date('2026-11-28T12:00:00Z');
const policy = { dormantAfterDays: 90, reviewIntervalDays: 180 };
const managedToken: PracticalTestInput = {
  state: 'active',
  upstreamRevocation: 'rfc7009',
  revocationVerified: true,
  approverSubject: 'alice',
  approverActive: true,
  purpose: 'sync invoices',
  reviewDueAt: '2027-01-01T00:00:00.000Z',
  lastUsedAt: '2026-11-27T00:00:00.000Z',
  issuedAt: '2026-01-01T00:00:00.000Z',
  approvedAt: '2026-10-01T00:00:00.000Z',
  usageChannel: 'gateway',
};

const codes = (t: Partial<PracticalTestInput>) => practicalTest({ ...managedToken, ...t }, NOW, policy).reasons.map((r) => r.code);

describe('the practical test', () => {
  it('calls a verified, approved, justified and recently used token managed', () => {
    expect(practicalTest(managedToken, NOW, policy)).toEqual({ managed: true, reasons: [] });
  });

  it('fails a token with no upstream revocation path', () => expect(codes({ upstreamRevocation: 'none' })).toEqual(['no_revocation_path']));
  it('fails a token whose revocation path is unverified', () => expect(codes({ revocationVerified: false })).toEqual(['revocation_unverified']));
  it('fails a token with no approver', () => expect(codes({ approverSubject: null })).toEqual(['no_approver']));
  it('fails a token whose approver left the customer', () => expect(codes({ approverActive: false })).toEqual(['approver_inactive']));
  it('fails a token with no purpose', () => expect(codes({ purpose: null })).toEqual(['no_purpose']));
  it('fails a token whose review is overdue', () => expect(codes({ reviewDueAt: '2026-11-01T00:00:00.000Z' })).toEqual(['review_overdue']));
  it('fails a token unused for longer than the dormancy policy', () => expect(codes({ lastUsedAt: '2026-08-01T00:00:00.000Z' })).toEqual(['dormant']));
  it('counts a never-used token as dormant once it is older than the policy', () =>
    expect(codes({ lastUsedAt: null, issuedAt: '2026-06-01T00:00:00.000Z' })).toEqual(['dormant']));
  it('does not call a never-used token dormant while it is young', () => expect(codes({ lastUsedAt: null, issuedAt: '2026-11-20T00:00:00.000Z' })).toEqual([]));
  it('lists every failing condition at once', () =>
    expect(codes({ upstreamRevocation: 'none', approverSubject: null, purpose: null })).toEqual(['no_revocation_path', 'no_approver', 'no_purpose']));
  it('calls revoked and expired tokens neither managed nor unmanaged: they hold no privilege', () => {
    expect(practicalTest({ ...managedToken, state: 'revoked', purpose: null }, NOW, policy)).toEqual({ managed: null, reasons: [] });
    expect(practicalTest({ ...managedToken, state: 'expired', approverSubject: null }, NOW, policy)).toEqual({ managed: null, reasons: [] });
    expect(practicalTest({ ...managedToken, state: 'revoked' }, NOW, policy).managed).toBeNull();
  });
  it('falls due for review the policy interval after approval when the token has no review date', () => {
    expect(codes({ reviewDueAt: null, approvedAt: '2026-07-01T00:00:00.000Z' })).toEqual([]);
    expect(codes({ reviewDueAt: null, approvedAt: '2026-05-01T00:00:00.000Z' })).toEqual(['review_overdue']);
    expect(codes({ reviewDueAt: null, approvedAt: null, issuedAt: '2026-05-01T00:00:00.000Z', lastUsedAt: '2026-11-27T00:00:00.000Z' })).toEqual(['review_overdue']);
  });
  it('never calls a token used outside the gateway dormant: its use is not observed', () =>
    expect(codes({ usageChannel: 'direct', lastUsedAt: null, issuedAt: '2026-06-01T00:00:00.000Z', approvedAt: '2026-10-01T00:00:00.000Z' })).toEqual([]));
  it('splits the lifecycle states into live and terminal ones, each state once', () => expect([...LIVE_STATES, ...TERMINAL_STATES].sort()).toEqual([...TOKEN_STATES].sort()));
  it('still tests suspended tokens', () => expect(practicalTest({ ...managedToken, state: 'suspended', purpose: null }, NOW, policy).managed).toBe(false));
});
