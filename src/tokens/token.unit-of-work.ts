import type { LedgerService } from '../ledger/ledger.service.ts';
import type { NewLedgerEntry } from '../ledger/ledger.types.ts';
import type { Clock } from '../shared/clock.ts';
import { CustodyError } from '../shared/errors.ts';
import type { Db, Storage } from '../storage/database.ts';
import type { StorageDialect } from '../storage/dialect.ts';
import type { TokensTable } from '../storage/schema.ts';
import { applyTransition, type TokenState, type Transition } from './token.lifecycle.ts';
import type { TokenRepo, TokenRow } from './token.repo.ts';
import type { SuspensionKind } from './token.suspension.ts';

/** A committed change of state, for listeners outside the transaction (gateway caches, metrics). */
export interface TokenStateChange {
  tokenId: string;
  tenantId: string;
  providerId: string;
  transition: Transition;
  from: TokenState;
  to: TokenState;
  actor: string;
  reason: string;
  /** When the change was asked for (a bulk revocation asks once for many) and when it took effect. */
  requestedAt: string;
  at: string;
  /** For a revocation: whether an upstream revocation is due (the provider has an endpoint) or not possible. */
  upstreamRevocation: 'pending' | 'none' | null;
}

/** Work that must commit with a state change (the upstream-revocation outbox job); runs inside its transaction. */
export type TransitionHook = (trx: Db, change: TokenStateChange) => Promise<void>;
/** Work that must commit with any change of a token (a cross-instance cache notification). */
export type ChangeHook = (trx: Db, tokenId: string) => Promise<void>;

/** Who hears of token changes: in the transaction, and once it has committed. */
export interface TokenChangeListeners {
  transitionHooks: TransitionHook[];
  changeHooks: ChangeHook[];
  committedTransitions: ((change: TokenStateChange) => void)[];
  committedChanges: ((tokenId: string) => void)[];
}

export interface TransitionOptions {
  /** Other columns written with the transition (renewed credentials on reauthorisation). */
  set?: Partial<TokensTable>;
  requestedAt?: string;
  /** For a suspension: who suspended it, which decides who may lift it (default: security). */
  suspensionKind?: SuspensionKind;
}

/**
 * A unit of work on token records: one transaction in which every write goes through `write` or
 * `transition`, each with its ledger entries and in-transaction hooks, and after whose commit the
 * committed listeners (the gateway's cache, metrics) are told of every token it changed. No caller
 * can change a token and forget to tell the gateway: telling is part of writing.
 */
export class TokenWork {
  private readonly transitions: TokenStateChange[] = [];
  private readonly changed = new Set<string>();

  constructor(
    /** The transaction: other capabilities' writes that must commit with this one use it. */
    readonly trx: Db,
    private readonly deps: { repo: TokenRepo; ledger: LedgerService; clock: Clock; dialect: StorageDialect; listeners: TokenChangeListeners },
  ) {}

  /** The row, for the owner's operations; throws token_not_found. */
  async row(id: string): Promise<TokenRow> {
    const row = await this.deps.repo.findById(this.trx, id);
    if (!row) throw new CustodyError('token_not_found');
    return row;
  }

  /**
   * The row, locked until this unit of work commits: for a change computed from the row's current
   * values (a PATCH), which must not be overwritten by a concurrent one computed from the same
   * values. Undefined when there is no such token.
   */
  async lockedRow(id: string): Promise<TokenRow | undefined> {
    const locked = await this.deps.dialect.forUpdate(this.trx.selectFrom('tokens').select('id').where('id', '=', id)).executeTakeFirst();
    return locked ? this.deps.repo.findById(this.trx, id) : undefined;
  }

  /**
   * Writes a change that is not a transition, with its ledger entries. `expect` makes it a
   * compare-and-set (see TokenRepo.update); false when the row no longer matched and nothing was written.
   */
  async write(id: string, changes: Partial<TokensTable>, entries: NewLedgerEntry[], expect: Parameters<TokenRepo['update']>[3] = {}): Promise<boolean> {
    const updated = await this.deps.repo.update(this.trx, id, { ...changes, updated_at: this.deps.clock.now().toISOString() }, expect);
    if (!updated) return false;
    await this.deps.ledger.appendMany(this.trx, entries);
    await this.touched(id);
    return true;
  }

  /** Records a token that was inserted in this unit of work (its hooks run, listeners hear of it). */
  async inserted(id: string): Promise<void> {
    await this.touched(id);
  }

  /** Applies one lifecycle transition to `row`: ledgered, hooks run; throws illegal_transition. */
  async transition(row: TokenRow, transition: Transition, actor: string, reason: string, options: TransitionOptions = {}): Promise<TokenStateChange> {
    const from = row.state;
    const result = applyTransition(from, transition);
    if (!result.ok) throw new CustodyError('illegal_transition', `Token ${row.id}: ${result.reason}.`);
    const now = this.deps.clock.now().toISOString();
    const requestedAt = options.requestedAt ?? now;
    const upstreamRevocation = result.to === 'revoked' ? (row.p_revocation_endpoint ? 'pending' : 'none') : null;
    // A suspension records its kind; leaving `suspended` clears it.
    const suspensionKind = result.to === 'suspended' ? (options.suspensionKind ?? 'security') : null;
    const set: Partial<TokensTable> = { state: result.to, state_reason: reason, state_actor: actor, state_changed_at: now, updated_at: now, suspension_kind: suspensionKind, ...options.set };
    // Kill time starts here: requested → locally effective (this commit) → upstream confirmed (the outbox).
    if (upstreamRevocation) Object.assign(set, { revocation_requested_at: requestedAt, revocation_effective_at: now, upstream_revocation: upstreamRevocation });
    // Someone else changed the state between our read and write: report what is true now.
    if (!(await this.deps.repo.update(this.trx, row.id, set, { state: from }))) {
      throw new CustodyError('illegal_transition', `Token ${row.id} changed state concurrently; read it again and retry.`);
    }
    const change: TokenStateChange = { tokenId: row.id, tenantId: row.tenant_id, providerId: row.provider_id, transition, from, to: result.to, actor, reason, requestedAt, at: now, upstreamRevocation };
    await this.deps.ledger.append(this.trx, {
      actor,
      action: `token.${pastTense(transition)}`,
      tenantId: row.tenant_id,
      subjectId: row.id,
      data: { from, to: result.to, reason, ...(suspensionKind ? { kind: suspensionKind } : {}) },
    });
    for (const hook of this.deps.listeners.transitionHooks) await hook(this.trx, change);
    this.transitions.push(change);
    await this.touched(row.id);
    return change;
  }

  private async touched(id: string): Promise<void> {
    if (this.changed.has(id)) return;
    this.changed.add(id);
    for (const hook of this.deps.listeners.changeHooks) await hook(this.trx, id);
  }

  /** After the commit: tells the committed listeners, transitions first. */
  committed(): void {
    const { committedTransitions, committedChanges } = this.deps.listeners;
    for (const change of this.transitions) for (const listener of committedTransitions) listener(change);
    for (const id of this.changed) for (const listener of committedChanges) listener(id);
  }
}

/** Runs `fn` as one unit of work in a transaction of its own, and tells the listeners once it commits. */
export async function runTokenWork<T>(storage: Storage, deps: ConstructorParameters<typeof TokenWork>[1], fn: (work: TokenWork) => Promise<T>): Promise<T> {
  let work: TokenWork | undefined;
  const result = await storage.db.transaction().execute(async (trx) => {
    work = new TokenWork(trx, deps);
    return fn(work);
  });
  work!.committed();
  return result;
}

export function pastTense(t: Transition): string {
  return { suspend: 'suspended', resume: 'resumed', reauthorise: 'reauthorised', expire: 'expired', revoke: 'revoked' }[t];
}
