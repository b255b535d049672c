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
  /** Part of a bulk operation: its upstream work goes in the paced lane, behind single revocations. */
  bulk?: boolean;
}

/**
 * Work that must commit with state changes (the upstream-revocation outbox jobs); runs inside their
 * transaction, once per transition or once for a whole bulk step, so it can write set-based.
 */
export type TransitionHook = (trx: Db, changes: TokenStateChange[]) => Promise<void>;
/**
 * Work that must commit with any change of tokens (a cross-instance cache notification): runs once
 * per unit of work, just before it commits, with every token it changed.
 */
export type ChangeHook = (trx: Db, tokenIds: string[]) => Promise<void>;

/** Who hears of token changes: in the transaction, and once it has committed. */
export interface TokenChangeListeners {
  transitionHooks: TransitionHook[];
  changeHooks: ChangeHook[];
  committedTransitions: ((change: TokenStateChange) => void)[];
  committedChanges: ((tokenId: string) => void)[];
  /** Records inserted (every one starts `active`), told after the commit (metrics count them). */
  committedInserts: ((tokenId: string) => void)[];
}

export interface TransitionOptions {
  /** Other columns written with the transition (renewed credentials on reauthorisation). */
  set?: Partial<TokensTable>;
  requestedAt?: string;
  /** For a suspension: who suspended it, which decides who may lift it (default: security). */
  suspensionKind?: SuspensionKind;
  /** Part of a bulk operation (see TokenStateChange.bulk). */
  bulk?: boolean;
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
  private readonly insertedIds: string[] = [];

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
    this.touched(id);
    return true;
  }

  /**
   * Writes the same change to many tokens in one statement (their ids one parameter), with their
   * ledger entries in one append: a set-based `write` for changes that are not transitions.
   */
  async writeMany(ids: string[], changes: Partial<TokensTable>, entries: NewLedgerEntry[]): Promise<void> {
    if (ids.length === 0) return;
    await this.trx
      .updateTable('tokens')
      .set({ ...changes, updated_at: this.deps.clock.now().toISOString() })
      .where(this.deps.dialect.anyOf('id', ids))
      .execute();
    await this.deps.ledger.appendMany(this.trx, entries);
    for (const id of ids) this.touched(id);
  }

  /** Records a token that was inserted in this unit of work (its hooks run, listeners hear of it). */
  async inserted(id: string): Promise<void> {
    this.insertedIds.push(id);
    this.touched(id);
  }

  /** Applies one lifecycle transition to `row`: ledgered, hooks run; throws illegal_transition. */
  async transition(row: TokenRow, transition: Transition, actor: string, reason: string, options: TransitionOptions = {}): Promise<TokenStateChange> {
    const from = row.state;
    const result = applyTransition(from, transition);
    if (!result.ok) throw new CustodyError('illegal_transition', `Token ${row.id}: ${result.reason}.`);
    const now = this.deps.clock.now().toISOString();
    const requestedAt = options.requestedAt ?? now;
    const upstreamRevocation = result.to === 'revoked' ? (row.p_revocation_endpoint ? 'pending' : 'none') : null;
    const suspensionKind = result.to === 'suspended' ? (options.suspensionKind ?? 'security') : null;
    const set: Partial<TokensTable> = { state: result.to, state_reason: reason, state_actor: actor, state_changed_at: now, updated_at: now, ...suspensionKindColumn(from, result.to, suspensionKind), ...options.set };
    // Kill time starts here: requested → locally effective (this commit) → upstream confirmed (the outbox).
    if (upstreamRevocation) Object.assign(set, { revocation_requested_at: requestedAt, revocation_effective_at: now, upstream_revocation: upstreamRevocation });
    // Someone else changed the state between our read and write: report what is true now.
    if (!(await this.deps.repo.update(this.trx, row.id, set, { state: from }))) {
      throw new CustodyError('illegal_transition', `Token ${row.id} changed state concurrently; read it again and retry.`);
    }
    const change: TokenStateChange = { tokenId: row.id, tenantId: row.tenant_id, providerId: row.provider_id, transition, from, to: result.to, actor, reason, requestedAt, at: now, upstreamRevocation, ...(options.bulk ? { bulk: true } : {}) };
    await this.deps.ledger.append(this.trx, {
      actor,
      action: `token.${pastTense(transition)}`,
      tenantId: row.tenant_id,
      subjectId: row.id,
      data: { from, to: result.to, reason, ...(suspensionKind ? { kind: suspensionKind } : {}) },
    });
    for (const hook of this.deps.listeners.transitionHooks) await hook(this.trx, [change]);
    this.transitions.push(change);
    this.touched(row.id);
    return change;
  }

  /**
   * Applies one transition to many tokens, set-based: a few UPDATE statements (each a
   * compare-and-set on the state the row was read in), one ledger append of all their entries, and
   * the hooks once with every change. A row whose transition is not allowed, or that changed state
   * since it was read, is skipped (a bulk operation acts on what is still eligible). Answers the
   * changes made.
   */
  async transitionMany(
    rows: readonly { id: string; tenant_id: string; provider_id: string; state: TokenState; p_revocation_endpoint: string | null }[],
    transition: Transition,
    actor: string,
    reason: string,
    options: Omit<TransitionOptions, 'set'> = {},
  ): Promise<TokenStateChange[]> {
    const now = this.deps.clock.now().toISOString();
    const requestedAt = options.requestedAt ?? now;
    // Rows that get the same columns: by the state they leave and (for a revocation) whether upstream work is due.
    const groups = new Map<string, { from: TokenState; to: TokenState; upstream: 'pending' | 'none' | null; rows: (typeof rows)[number][] }>();
    for (const row of rows) {
      const result = applyTransition(row.state, transition);
      if (!result.ok) continue;
      const upstream = result.to === 'revoked' ? (row.p_revocation_endpoint ? 'pending' : 'none') : null;
      const key = `${row.state}|${upstream}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { from: row.state, to: result.to, upstream, rows: [] }));
      g.rows.push(row);
    }
    const changes: TokenStateChange[] = [];
    for (const g of groups.values()) {
      const suspensionKind = g.to === 'suspended' ? (options.suspensionKind ?? 'security') : null;
      const set: Partial<TokensTable> = { state: g.to, state_reason: reason, state_actor: actor, state_changed_at: now, updated_at: now, ...suspensionKindColumn(g.from, g.to, suspensionKind) };
      if (g.upstream) Object.assign(set, { revocation_requested_at: requestedAt, revocation_effective_at: now, upstream_revocation: g.upstream });
      const changed = new Set(await this.deps.repo.updateMany(this.trx, this.deps.dialect, g.rows.map((r) => r.id), set, g.from));
      for (const row of g.rows) {
        if (!changed.has(row.id)) continue;
        changes.push({ tokenId: row.id, tenantId: row.tenant_id, providerId: row.provider_id, transition, from: g.from, to: g.to, actor, reason, requestedAt, at: now, upstreamRevocation: g.upstream, ...(options.bulk ? { bulk: true } : {}) });
      }
    }
    if (changes.length === 0) return changes;
    const action = `token.${pastTense(transition)}`;
    await this.deps.ledger.appendMany(
      this.trx,
      changes.map((c) => ({ actor, action, tenantId: c.tenantId, subjectId: c.tokenId, data: { from: c.from, to: c.to, reason, ...(c.to === 'suspended' ? { kind: options.suspensionKind ?? 'security' } : {}) } })),
    );
    for (const hook of this.deps.listeners.transitionHooks) await hook(this.trx, changes);
    for (const c of changes) {
      this.transitions.push(c);
      this.changed.add(c.tokenId);
    }
    return changes;
  }

  private touched(id: string): void {
    this.changed.add(id);
  }

  /** Just before the commit: the change hooks, once, with every token changed. */
  async beforeCommit(): Promise<void> {
    if (this.changed.size === 0) return;
    const ids = [...this.changed];
    for (const hook of this.deps.listeners.changeHooks) await hook(this.trx, ids);
  }

  /** After the commit: tells the committed listeners, transitions first. */
  committed(): void {
    const { committedTransitions, committedChanges, committedInserts } = this.deps.listeners;
    for (const id of this.insertedIds) for (const listener of committedInserts) listener(id);
    for (const change of this.transitions) for (const listener of committedTransitions) listener(change);
    for (const id of this.changed) for (const listener of committedChanges) listener(id);
  }
}

/**
 * Runs `fn` as one unit of work in a transaction of its own, and tells the listeners once it
 * commits. `grouped`: a short change of one token (Storage.grouped), which on SQLite may commit
 * together with the ones queued behind it.
 */
export async function runTokenWork<T>(storage: Storage, deps: ConstructorParameters<typeof TokenWork>[1], fn: (work: TokenWork) => Promise<T>, options: { grouped?: boolean } = {}): Promise<T> {
  let work: TokenWork | undefined;
  const body = async (trx: Db) => {
    work = new TokenWork(trx, deps);
    const result = await fn(work);
    await work.beforeCommit();
    return result;
  };
  const result = await (options.grouped ? storage.grouped(body) : storage.db.transaction().execute(body));
  work!.committed();
  return result;
}

/**
 * The `suspension_kind` a transition writes: a suspension records its kind; resuming (or a
 * reauthorisation) clears it; a suspended token that ends (revoked, expired) keeps the kind it
 * ended under — the hold a customer's new consent for the same account inherits
 * (consent.service.ts), so revoking a security-suspended token and connecting again does not lift
 * the hold. The record shows a kind only while suspended (token.record.ts).
 */
function suspensionKindColumn(from: TokenState, to: TokenState, kind: TokensTable['suspension_kind']): Pick<Partial<TokensTable>, 'suspension_kind'> {
  if (to === 'suspended') return { suspension_kind: kind };
  if (from === 'suspended' && (to === 'revoked' || to === 'expired')) return {};
  return { suspension_kind: null };
}

export function pastTense(t: Transition): string {
  return { suspend: 'suspended', resume: 'resumed', reauthorise: 'reauthorised', expire: 'expired', revoke: 'revoked' }[t];
}
