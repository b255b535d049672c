import type { FindingType } from './finding.types.ts';
import type { PolicyValues } from './policy.rules.ts';

/**
 * What enforcement (issue 14) will do about a finding, decided here so that audit mode can write
 * it to the ledger today as a would-be action. Every enforcement gives notice first, except for a
 * scope that should never have been granted.
 */
export interface PlannedAction {
  action: 'notify_then_suspend' | 'suspend';
  /** When the suspension falls due: the finding's first sighting plus the policy's grace. */
  suspendAt: string;
}

const DAY_MS = 86_400_000;
const NOTICE_FIRST: readonly FindingType[] = ['dormant', 'review_overdue', 'reauthorization_due'];
/** The finding types enforcement acts on. */
export const ENFORCED: ReadonlySet<FindingType> = new Set<FindingType>(['forbidden_scope', ...NOTICE_FIRST]);

export function plannedAction(type: FindingType, firstSeenAt: string, policy: PolicyValues): PlannedAction | null {
  if (type === 'forbidden_scope') return { action: 'suspend', suspendAt: firstSeenAt };
  if (NOTICE_FIRST.includes(type)) return { action: 'notify_then_suspend', suspendAt: new Date(new Date(firstSeenAt).getTime() + policy.graceDays * DAY_MS).toISOString() };
  return null;
}

/** A plan as stored on the finding: the ledger gets a would-be entry each time it changes, not each sweep. */
export function planKey(plan: PlannedAction | null): string | null {
  return plan ? `${plan.action}@${plan.suspendAt}` : null;
}
