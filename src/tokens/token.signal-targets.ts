import type { NewLedgerEntry } from '../ledger/ledger.types.ts';
import type { StorageDialect } from '../storage/dialect.ts';
import type { TokenState } from './token.lifecycle.ts';
import { upstreamEndpointOf } from './token.repo.ts';
import type { TokenWork } from './token.unit-of-work.ts';

/**
 * The tokens a security event names (Shared Signals, approver offboarding), read for src/signals:
 * this folder owns the tokens table, so the queries live here and signals only calls them. Rows
 * are read inside the caller's unit of work and locked (PostgreSQL) until it commits, so a
 * transition decided from them is not raced by a concurrent resume or reauthorisation.
 *
 * Two ways a token is named:
 * - as the **account** it holds at the issuer: `tokens.subject` at a provider whose `issuer` is the
 *   event subject's `iss`;
 * - as the **approver's**: `approver_subject` with `approver_issuer` (or, for an approver recorded
 *   without an issuer, the provider's issuer), or `approver_email` (case-insensitive) for email subjects.
 * Only live tokens (active, suspended) of the one tenant are ever read.
 */
export type SignalSubjectRef = { format: 'iss_sub'; iss: string; sub: string } | { format: 'email'; email: string } | { format: 'opaque'; id: string };

export interface SignalTargetRow {
  id: string;
  tenant_id: string;
  provider_id: string;
  state: TokenState;
  p_revocation_endpoint: string | null;
  approver_active: number;
  approver_subject: string | null;
  /** The approver's issuer, or the provider's for an approver recorded without one. */
  approver_issuer: string | null;
}

const LIVE: TokenState[] = ['active', 'suspended'];
/** A subject that names more than this many tokens is read in full but no page is larger (bounded memory per SET). */
const MAX_PER_SUBJECT = 50_000;

export function createTokenSignalTargets(dialect: StorageDialect) {
  const base = (work: TokenWork, tenantId: string) =>
    work.trx
      .selectFrom('tokens as t')
      .innerJoin('providers as p', 'p.id', 't.provider_id')
      .select((eb) => ['t.id', 't.tenant_id', 't.provider_id', 't.state', upstreamEndpointOf(eb).as('p_revocation_endpoint'), 't.approver_active', 't.approver_subject', eb.fn.coalesce('t.approver_issuer', 'p.issuer').as('approver_issuer')])
      .where('t.tenant_id', '=', tenantId)
      .where('t.state', 'in', LIVE);

  const run = async (q: ReturnType<typeof base>): Promise<SignalTargetRow[]> => dialect.forUpdate(q.orderBy('t.id').limit(MAX_PER_SUBJECT), ['t']).execute() as Promise<SignalTargetRow[]>;

  return {
    /** Live tokens of the tenant that hold the named account at its issuer. */
    async accountTokens(work: TokenWork, tenantId: string, s: SignalSubjectRef): Promise<SignalTargetRow[]> {
      if (s.format === 'email') return [];
      if (s.format === 'opaque') return run(base(work, tenantId).where('t.subject', '=', s.id));
      return run(base(work, tenantId).where('t.subject', '=', s.sub).where('p.issuer', '=', s.iss));
    },

    /** Live tokens of the tenant that the named account approved. */
    async approvedTokens(work: TokenWork, tenantId: string, s: SignalSubjectRef): Promise<SignalTargetRow[]> {
      if (s.format === 'email') return run(base(work, tenantId).where((eb) => eb(eb.fn('lower', ['t.approver_email']), '=', s.email.toLowerCase())));
      if (s.format === 'opaque') return run(base(work, tenantId).where('t.approver_subject', '=', s.id));
      return run(
        base(work, tenantId)
          .where('t.approver_subject', '=', s.sub)
          .where((eb) => eb.or([eb('t.approver_issuer', '=', s.iss), eb.and([eb('t.approver_issuer', 'is', null), eb('p.issuer', '=', s.iss)])])),
      );
    },

    /**
     * Marks the approver of these tokens inactive (`approver_active = 0`), set-based, one
     * `token.approver_inactive` entry each: governance's `approver_inactive` finding then holds for
     * them (findings re-evaluate changed tokens after the commit) and enforcement gives notice.
     */
    async markApproverInactive(work: TokenWork, rows: readonly SignalTargetRow[], actor: string, data: Record<string, unknown>): Promise<string[]> {
      const changing = rows.filter((r) => r.approver_active !== 0);
      const entries: NewLedgerEntry[] = changing.map((r) => ({ actor, action: 'token.approver_inactive', tenantId: r.tenant_id, subjectId: r.id, data }));
      await work.writeMany(
        changing.map((r) => r.id),
        { approver_active: 0 },
        entries,
      );
      return changing.map((r) => r.id);
    },
  };
}

export type TokenSignalTargets = ReturnType<typeof createTokenSignalTargets>;
