import { describe, expect, it } from 'vitest';
import { isId, newId } from '../shared/ids.ts';
import { decisionProblems, dueAtProblem, ownersByName, progressOf, reminderNoticeId, remindAtOf, reviewerFor, statsOf } from './review.rules.ts';

const NOW = new Date('2026-11-28T08:00:00.000Z');

describe('access review rules', () => {
  it('assigns an item to the token’s active owner, as the directory spells them, else to the tenant’s administrators', () => {
    const owners = ownersByName([
      { name: 'Alice', active: true },
      { name: 'carol', active: false },
    ]);
    expect(reviewerFor('alice', owners)).toEqual({ kind: 'owner', name: 'Alice' });
    expect(reviewerFor('Carol', owners)).toEqual({ kind: 'tenant_admins', name: 'tenant_admins' });
    expect(reviewerFor('nobody', owners)).toEqual({ kind: 'tenant_admins', name: 'tenant_admins' });
  });

  it('reminds the given days before the deadline, or at once when that is already past', () => {
    expect(remindAtOf('2026-12-12T08:00:00.000Z', 3, NOW.toISOString())).toBe('2026-12-09T08:00:00.000Z');
    expect(remindAtOf('2026-11-30T08:00:00.000Z', 3, NOW.toISOString())).toBe(NOW.toISOString());
  });

  it('wants a deadline at least an hour and at most a year ahead', () => {
    expect(dueAtProblem('2026-11-28T08:30:00.000Z', NOW)).toMatch(/at least an hour ahead/);
    expect(dueAtProblem('2028-01-01T00:00:00.000Z', NOW)).toMatch(/at most a year ahead/);
    expect(dueAtProblem('2026-12-12T08:00:00.000Z', NOW)).toBeNull();
  });

  it('wants each decision’s own fields, refuses another decision’s, and a justification that says something', () => {
    expect(decisionProblems({ decision: 'keep', justification: 'still syncs invoices nightly' })).toEqual([]);
    expect(decisionProblems({ decision: 'keep' }).map((p) => p.path)).toEqual(['body/justification']);
    expect(decisionProblems({ decision: 'keep', justification: '  ok   ' })[0]!.message).toMatch(/at least 10 characters/);
    expect(decisionProblems({ decision: 'keep', justification: 'still syncs invoices', reason: 'x' }).map((p) => p.path)).toEqual(['body/reason']);
    expect(decisionProblems({ decision: 'revoke', reason: 'unused' })).toEqual([]);
    expect(decisionProblems({ decision: 'revoke', reason: '   ' }).map((p) => p.path)).toEqual(['body/reason']);
    expect(decisionProblems({ decision: 'revoke', reason: 'unused', newOwner: 'bob' }).map((p) => p.path)).toEqual(['body/newOwner']);
    expect(decisionProblems({ decision: 'reassign', reason: 'team moved' }).map((p) => p.path)).toEqual(['body/newOwner']);
    expect(decisionProblems({ decision: 'reassign', newOwner: 'bob', reason: 'team moved' })).toEqual([]);
  });

  it('names an item’s reminder notice from the item and the time it was given, in time order with other notices', () => {
    const item = newId('reviewItem', NOW.getTime());
    const later = new Date(NOW.getTime() + 10 * 86_400_000).toISOString();
    const id = reminderNoticeId(item, later);
    expect(isId('notice', id)).toBe(true);
    expect(reminderNoticeId(item, later)).toBe(id);
    expect(id > newId('notice', NOW.getTime() + 9 * 86_400_000)).toBe(true);
    expect(id < newId('notice', NOW.getTime() + 11 * 86_400_000)).toBe(true);
    expect(reminderNoticeId(newId('reviewItem', NOW.getTime()), later)).not.toBe(id);
  });

  it('counts progress and the report’s figures from items by status', () => {
    const counts = { open: 2, kept: 3, revoked: 1, reassigned: 1, escalated: 4 };
    expect(progressOf(counts)).toEqual({ total: 11, decided: 5, open: 2, kept: 3, revoked: 1, reassigned: 1, escalated: 4 });
    expect(progressOf({})).toEqual({ total: 0, decided: 0, open: 0, kept: 0, revoked: 0, reassigned: 0, escalated: 0 });
    expect(statsOf(2, counts)).toEqual({ campaigns: 2, items: 11, decided: 5, kept: 3, revoked: 1, reassigned: 1, escalated: 4, open: 2 });
  });
});
