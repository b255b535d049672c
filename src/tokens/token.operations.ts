import type { LedgerService } from '../ledger/ledger.service.ts';
import type { Clock } from '../shared/clock.ts';
import { CustodyError } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import type { Secret } from '../shared/secret.ts';
import type { Storage } from '../storage/database.ts';
import type { TokensTable } from '../storage/schema.ts';
import type { Vault } from '../vault/vault.service.ts';
import type { TokenState } from './token.lifecycle.ts';
import type { SuspensionKind } from './token.suspension.ts';
import type { CredentialMatch, TokenRepo, TokenRow } from './token.repo.ts';
import type { RegisterTokenInput, UpstreamRevocationStatus } from './token.types.ts';
import type { TokenStateChange, TokenWork } from './token.unit-of-work.ts';

/** The customer-side approver a consent established (from the verified ID token). */
export interface ConsentApproval {
  subject: string;
  email: string | null;
  issuer: string;
  /** The platform user who started the consent. */
  startedBy: string;
  flowId: string;
}

/** Credentials an issuer handed over (consent, refresh). */
export interface IssuedCredentials {
  access: Secret;
  /** null: the issuer sent none (on refresh: keep the one stored). */
  refresh: Secret | null;
  accessExpiresAt: string | null;
  scopes: string[];
  /** At consent: what the issuer granted beyond what the consent asked for (excess_grant). */
  excessScopes?: string[];
}

/** What the gateway needs of a token to decide a call; no credential material. */
export interface TokenAccessView {
  id: string;
  tenantId: string;
  providerId: string;
  state: TokenState;
  workloads: string[];
  grantedScopes: string[];
  /** What the live access token holds after a narrowing refresh; null: the granted scopes. */
  effectiveScopes: string[] | null;
  /** Granted scopes calls were refused for while narrowed away (written once each). */
  wantedScopes: string[];
  accessExpiresAt: string | null;
  /** When the access token in force was issued (null: unknown): short-lived access refreshes by age. */
  accessIssuedAt: string | null;
  hasRefreshToken: boolean;
  /** Imported without credentials: there is nothing to attach, so the gateway refuses it (token_inventory_only). Absent: false. */
  inventoryOnly?: boolean;
  /** Moves whenever the record changes (state, workloads, credential): caches compare it. */
  updatedAt: string;
}

/** What a refresh needs to know before it calls the issuer. */
export interface TokenRefreshView {
  id: string;
  tenantId: string;
  providerId: string;
  state: TokenState;
  grantedScopes: string[];
  /** What the live access token holds (null: the granted scopes). */
  effectiveScopes: string[] | null;
  /** scope → last use through the gateway (a narrowing refresh keeps what was used recently). */
  scopeLastUsed: Record<string, string>;
  /** Since when the customer's grant has been held (its last approval, else its issue). */
  heldSince: string;
  accessExpiresAt: string | null;
  accessIssuedAt: string | null;
  hasRefreshToken: boolean;
  /** Fingerprint of the stored refresh token: the refresh's compare-and-set. */
  refreshFingerprint: string | null;
  /**
   * Whether Custody obtained the credentials from the issuer itself (a consent it ran), rather
   * than being handed them (registration): only then does what the issuer says of them prove
   * anything about the issuer (see the outbox's verification of a provider's revocation path).
   */
  fromIssuer: boolean;
}

function iso(value: string | undefined): string | null {
  return value === undefined ? null : new Date(value).toISOString();
}

/** How long a replaced credential's fingerprint is kept (see retireReplaced). */
const RETIRED_ACCESS_MAX_MS = 24 * 3_600_000;
const RETIRED_ACCESS_UNKNOWN_MS = 3_600_000;
const RETIRED_REFRESH_MS = 24 * 3_600_000;

/** How many wanted-but-narrowed scopes a record keeps: the column stays small whatever calls ask. */
const MAX_WANTED_SCOPES = 100;

/**
 * The scope columns a consent writes (new record, reauthorisation, renewal): the grant, what the
 * issuer added beyond what was asked, and a live access token that holds the whole grant again
 * (no narrowing, nothing wanted).
 */
function grantColumns(credentials: IssuedCredentials): Pick<TokensTable, 'granted_scopes' | 'excess_scopes' | 'effective_scopes' | 'wanted_scopes'> {
  return {
    granted_scopes: JSON.stringify([...new Set(credentials.scopes)]),
    excess_scopes: credentials.excessScopes?.length ? JSON.stringify(credentials.excessScopes) : null,
    effective_scopes: null,
    wanted_scopes: null,
  };
}

/**
 * The named operations other capabilities use to change and read token records (consent, refresh,
 * the outbox, the gateway). Writes take the unit of work they belong to, so another capability's
 * own writes (a consent flow's outcome, an alert) commit in the same transaction, and the gateway
 * is told once it has.
 */
export function createTokenOperations(deps: {
  storage: Storage;
  vault: Vault;
  ledger: LedgerService;
  clock: Clock;
  repo: TokenRepo;
}) {
  const { storage, vault, ledger, clock, repo } = deps;

  async function credentialColumns(tenantId: string, tokenId: string, work: TokenWork, c: { access: Secret; refresh: Secret | null }, create: boolean) {
    const key = create ? await vault.createDataKey(work.trx, tenantId, tokenId, clock.now()) : await vault.loadDataKey(work.trx, tenantId, tokenId);
    return {
      access_token_enc: vault.encrypt(key, 'access_token', c.access),
      access_fp: vault.fingerprint(c.access),
      ...(c.refresh ? { refresh_token_enc: vault.encrypt(key, 'refresh_token', c.refresh), refresh_fp: vault.fingerprint(c.refresh) } : {}),
    };
  }

  /**
   * Keeps the fingerprints of the credentials `row` holds that `next` replaces, while the issuer
   * may still honour them: a leaked previous access token traces to its record until it expires
   * (its known expiry, at most a day; an hour when unknown), a replaced refresh token for a day
   * (providers' reuse windows). Same transaction as the replacement.
   */
  async function retireReplaced(work: TokenWork, row: TokenRow, next: { access: Secret; refresh: Secret | null }, refreshReplaced: boolean): Promise<void> {
    // An inventory-only record held no credential: there is nothing to keep tracing.
    if (row.inventory_only === 1) return;
    const now = clock.now();
    const cap = now.getTime() + RETIRED_ACCESS_MAX_MS;
    const accessUntil = row.access_expires_at ? Math.min(Date.parse(row.access_expires_at), cap) : now.getTime() + RETIRED_ACCESS_UNKNOWN_MS;
    const retired = [];
    if (accessUntil > now.getTime() && vault.fingerprint(next.access) !== row.access_fp) {
      retired.push({ token_id: row.id, fingerprint: row.access_fp, credential: 'access' as const, retired_at: now.toISOString(), keep_until: new Date(accessUntil).toISOString() });
    }
    if (refreshReplaced && row.refresh_fp && (!next.refresh || vault.fingerprint(next.refresh) !== row.refresh_fp)) {
      retired.push({ token_id: row.id, fingerprint: row.refresh_fp, credential: 'refresh' as const, retired_at: now.toISOString(), keep_until: new Date(now.getTime() + RETIRED_REFRESH_MS).toISOString() });
    }
    await repo.retireCredentials(work.trx, retired);
  }

  /** Inserts a new record (credentials encrypted under a data key of its own) with its `token.registered` entry. */
  async function insert(work: TokenWork, actor: string, input: RegisterTokenInput & { approvalStartedBy?: string; stateReason?: string }): Promise<string> {
    const at = clock.now();
    const now = at.toISOString();
    const id = newId('token', at.getTime());
    const scopes = [...new Set(input.scopes)];
    const row: TokensTable = {
      id,
      tenant_id: input.tenantId,
      provider_id: input.providerId,
      subject: input.subject ?? null,
      owner: input.owner,
      approver_subject: input.approver?.subject ?? null,
      approver_email: input.approver?.email ?? null,
      approver_issuer: input.approver?.issuer ?? null,
      approved_at: iso(input.approver?.approvedAt),
      approver_active: 1,
      approval_started_by: input.approvalStartedBy ?? null,
      purpose: input.purpose ?? null,
      review_due_at: iso(input.reviewDueAt),
      workloads: JSON.stringify([...new Set(input.workloads ?? [])]),
      granted_scopes: JSON.stringify(scopes),
      excess_scopes: input.excessScopes?.length ? JSON.stringify(input.excessScopes) : null,
      state: 'active',
      state_reason: input.stateReason ?? 'registered',
      state_actor: actor,
      state_changed_at: now,
      issued_at: iso(input.issuedAt) ?? now,
      access_expires_at: iso(input.accessExpiresAt),
      refresh_expires_at: iso(input.refreshExpiresAt),
      last_used_at: null,
      last_used_by: null,
      refresh_token_enc: null,
      refresh_fp: null,
      ...(await credentialColumns(input.tenantId, id, work, { access: input.accessToken, refresh: input.refreshToken ?? null }, true)),
      predecessor_id: input.predecessorId ?? null,
      usage_channel: input.usageChannel ?? 'gateway',
      served_tenants: JSON.stringify([...new Set(input.servedTenants ?? [])]),
      // When Custody received it: a lower bound of its lifetime (the grant may be older than the access token).
      access_issued_at: now,
      created_at: now,
      updated_at: now,
    };
    await repo.insert(work.trx, row);
    await ledger.append(work.trx, {
      actor,
      action: 'token.registered',
      tenantId: input.tenantId,
      subjectId: id,
      data: {
        providerId: input.providerId,
        owner: row.owner,
        approver: input.approver ? { subject: input.approver.subject, email: input.approver.email ?? null, issuer: input.approver.issuer ?? null } : null,
        purpose: row.purpose,
        workloads: JSON.parse(row.workloads),
        scopes,
        usageChannel: row.usage_channel,
        ...(input.servedTenants?.length ? { servedTenants: JSON.parse(row.served_tenants!) as string[] } : {}),
        hasRefreshToken: row.refresh_token_enc !== null,
      },
    });
    await work.inserted(id);
    return id;
  }

  function approvedEntry(row: { tenant_id: string; id: string }, approval: ConsentApproval, scopes: string[], reauthorisation: boolean) {
    const approver = { subject: approval.subject, email: approval.email, issuer: approval.issuer };
    return { actor: approval.startedBy, action: 'token.approved', tenantId: row.tenant_id, subjectId: row.id, data: { approver, startedBy: approval.startedBy, scopes, reauthorisation, flowId: approval.flowId } };
  }

  /**
   * A customer's renewed approval, whole: the account that approved holds the grant now (a new
   * administrator, through a reauthorisation link), and the credentials replace the whole grant — a
   * refresh token not sent again is gone.
   */
  async function renewedColumns(work: TokenWork, row: TokenRow, approval: ConsentApproval, credentials: IssuedCredentials): Promise<Partial<TokensTable>> {
    const now = clock.now().toISOString();
    // A renewal replaces both credentials (a refresh token not sent again is gone).
    await retireReplaced(work, row, credentials, true);
    return {
      subject: approval.subject,
      approver_subject: approval.subject,
      approver_email: approval.email,
      approver_issuer: approval.issuer,
      approved_at: now,
      approver_active: 1,
      approval_started_by: approval.startedBy,
      ...grantColumns(credentials),
      issued_at: now,
      access_issued_at: now,
      access_expires_at: credentials.accessExpiresAt,
      refresh_token_enc: null,
      refresh_fp: null,
      // An inventory-only record gets its first credential (and data key) from this consent.
      ...(await credentialColumns(row.tenant_id, row.id, work, credentials, row.inventory_only === 1)),
      inventory_only: 0,
    };
  }

  async function mustRow(work: TokenWork, tokenId: string): Promise<TokenRow> {
    return work.row(tokenId);
  }

  return {
    insert,

    /**
     * A new record from a customer's consent, whole: the record, its approval (approver, who
     * started it, `token.registered` and `token.approved`) in the caller's one transaction.
     */
    async createFromConsent(
      work: TokenWork,
      input: { tenantId: string; providerId: string; owner: string; purpose: string | null; predecessorId: string | null },
      approval: ConsentApproval,
      credentials: IssuedCredentials,
    ): Promise<string> {
      const now = clock.now().toISOString();
      const id = await insert(work, approval.startedBy, {
        tenantId: input.tenantId,
        providerId: input.providerId,
        owner: input.owner,
        subject: approval.subject,
        approver: { subject: approval.subject, ...(approval.email ? { email: approval.email } : {}), issuer: approval.issuer, approvedAt: now },
        ...(input.purpose ? { purpose: input.purpose } : {}),
        scopes: credentials.scopes,
        accessToken: credentials.access,
        ...(credentials.refresh ? { refreshToken: credentials.refresh } : {}),
        issuedAt: now,
        ...(credentials.accessExpiresAt ? { accessExpiresAt: credentials.accessExpiresAt } : {}),
        ...(input.predecessorId ? { predecessorId: input.predecessorId } : {}),
        approvalStartedBy: approval.startedBy,
        stateReason: 'approved by the customer (consent)',
        ...(credentials.excessScopes?.length ? { excessScopes: credentials.excessScopes } : {}),
      });
      await ledger.append(work.trx, approvedEntry({ tenant_id: input.tenantId, id }, approval, credentials.scopes, false));
      return id;
    },

    /** Reauthorisation in place: a suspended record renewed (approval and credentials) and active again. */
    async reauthorise(work: TokenWork, tokenId: string, approval: ConsentApproval, credentials: IssuedCredentials): Promise<TokenStateChange> {
      const row = await mustRow(work, tokenId);
      const change = await work.transition(row, 'reauthorise', approval.startedBy, 'the customer approved again (consent)', {
        set: await renewedColumns(work, row, approval, credentials),
      });
      await ledger.append(work.trx, approvedEntry(row, approval, credentials.scopes, true));
      return change;
    },

    /**
     * Periodic reauthorisation of a token in use: approval and credentials renewed in place, no
     * state change (an active token stays active).
     */
    async renewApproval(work: TokenWork, tokenId: string, approval: ConsentApproval, credentials: IssuedCredentials): Promise<void> {
      const row = await mustRow(work, tokenId);
      const written = await work.write(
        tokenId,
        await renewedColumns(work, row, approval, credentials),
        [approvedEntry(row, approval, credentials.scopes, true)],
        { state: 'active' },
      );
      if (!written) throw new CustodyError('illegal_transition', `Token ${tokenId} changed state while it was being reauthorised; nothing was changed.`);
    },

    /** What a reauthorisation consent checks of the token it renews, read in its unit of work. */
    async reauthorisationTarget(
      work: TokenWork,
      tokenId: string,
    ): Promise<{ id: string; tenantId: string; providerId: string; state: TokenState; stateChangedAt: string; subject: string | null; approverSubject: string | null; approverEmail: string | null; suspensionKind: SuspensionKind | null } | null> {
      const row = await work.lockedRow(tokenId);
      if (!row) return null;
      return {
        id: row.id,
        tenantId: row.tenant_id,
        providerId: row.provider_id,
        state: row.state,
        stateChangedAt: row.state_changed_at,
        subject: row.subject,
        approverSubject: row.approver_subject,
        approverEmail: row.approver_email,
        suspensionKind: row.suspension_kind ?? null,
      };
    },

    /** The tenants whose tokens of this provider an issuer account holds (at most a few): who that account approves for. */
    tenantsOfSubject(work: TokenWork, providerId: string, subject: string): Promise<string[]> {
      return repo.tenantsOfSubject(work.trx, providerId, subject);
    },

    /** What a reauthorisation link is made from; null when there is no such token. */
    async reauthorizable(tokenId: string): Promise<{ tenantId: string; providerId: string; owner: string; purpose: string | null; state: TokenState; grantedScopes: string[] } | null> {
      const r = await repo.findById(storage.db, tokenId);
      return r ? { tenantId: r.tenant_id, providerId: r.provider_id, owner: r.owner, purpose: r.purpose, state: r.state, grantedScopes: JSON.parse(r.granted_scopes) as string[] } : null;
    },

    /**
     * A refresh's new credentials, written only while the token is active and still holds the
     * refresh token the refresh used (`expectRefreshFingerprint`); otherwise illegal_transition.
     */
    async replaceCredentials(
      work: TokenWork,
      tokenId: string,
      expectRefreshFingerprint: string | null,
      credentials: Omit<IssuedCredentials, 'scopes' | 'excessScopes'> & { effectiveScopes: string[] | null },
      entry: { actor: string; data: Record<string, unknown> },
    ): Promise<void> {
      const row = await mustRow(work, tokenId);
      // The grant (granted_scopes) is what the customer approved: a refresh never changes it. What
      // the new access token holds is recorded beside it; null when it is the whole grant.
      const granted = JSON.parse(row.granted_scopes) as string[];
      const effective = credentials.effectiveScopes?.filter((s) => granted.includes(s)) ?? null;
      // A refresh replaces the access token, and the refresh token when the issuer rotates it.
      await retireReplaced(work, row, credentials, credentials.refresh !== null);
      const changes: Partial<TokensTable> = {
        access_expires_at: credentials.accessExpiresAt,
        access_issued_at: clock.now().toISOString(),
        ...(await credentialColumns(row.tenant_id, tokenId, work, credentials, false)),
        effective_scopes: effective === null || granted.every((s) => effective.includes(s)) ? null : JSON.stringify(effective),
      };
      const written = await work.write(tokenId, changes, [{ actor: entry.actor, action: 'token.refreshed', tenantId: row.tenant_id, subjectId: tokenId, data: entry.data }], {
        state: 'active',
        refreshFp: expectRefreshFingerprint,
      });
      if (!written) throw new CustodyError('illegal_transition', `Token ${tokenId} changed while it was being refreshed; read it again.`);
    },

    /**
     * A gateway call needed `scope`, granted but narrowed away from the live access token: kept in a
     * small set (written only when new, and only while the scope is still narrowed away), which the
     * `scope_narrowed` finding reads. False when nothing was written.
     */
    async recordWantedScope(work: TokenWork, tokenId: string, scope: string, by: { actor: string; workload: string | null }): Promise<boolean> {
      const row = await work.row(tokenId);
      if (row.state !== 'active' || !row.effective_scopes) return false;
      const granted = JSON.parse(row.granted_scopes) as string[];
      const effective = JSON.parse(row.effective_scopes) as string[];
      const wanted = row.wanted_scopes ? (JSON.parse(row.wanted_scopes) as string[]) : [];
      if (!granted.includes(scope) || effective.includes(scope) || wanted.includes(scope) || wanted.length >= MAX_WANTED_SCOPES) return false;
      return work.write(
        tokenId,
        { wanted_scopes: JSON.stringify([...wanted, scope]) },
        [{ actor: by.actor, action: 'token.scope_wanted', tenantId: row.tenant_id, subjectId: tokenId, data: { scope, workload: by.workload, effectiveScopes: effective } }],
        { state: 'active' },
      );
    },

    /** The issuer refused a refresh (invalid_grant): revoked by `issuer`. Null when it was already final. */
    async revokeByIssuer(work: TokenWork, tokenId: string, actor: string, reason: string): Promise<TokenStateChange | null> {
      const row = await mustRow(work, tokenId);
      if (row.state === 'revoked' || row.state === 'expired') return null;
      return work.transition(row, 'revoke', actor, reason);
    },

    /** What the issuer's revocation came to (the outbox); the kill time's last step. */
    async recordUpstreamOutcome(work: TokenWork, tokenId: string, status: Exclude<UpstreamRevocationStatus, 'pending' | 'none'>, confirmedAt: string | null): Promise<void> {
      await work.write(tokenId, { upstream_revocation: status, upstream_confirmed_at: confirmedAt }, []);
    },

    /** The newest record of a tenant, provider and subject in one of `states` (read in `work` when given). */
    findForSubject(tenantId: string, providerId: string, subject: string, states: readonly TokenState[], work?: TokenWork) {
      return repo.findForSubject(work?.trx ?? storage.db, tenantId, providerId, subject, states);
    },

    /** The gateway's view of a token; null when there is no such token. */
    async accessView(tokenId: string): Promise<TokenAccessView | null> {
      const r = await repo.findAccessColumns(storage.db, tokenId);
      if (!r) return null;
      return {
        id: r.id,
        tenantId: r.tenant_id,
        providerId: r.provider_id,
        state: r.state,
        workloads: JSON.parse(r.workloads) as string[],
        grantedScopes: JSON.parse(r.granted_scopes) as string[],
        effectiveScopes: r.effective_scopes ? (JSON.parse(r.effective_scopes) as string[]) : null,
        wantedScopes: r.wanted_scopes ? (JSON.parse(r.wanted_scopes) as string[]) : [],
        accessExpiresAt: r.access_expires_at,
        accessIssuedAt: r.access_issued_at ?? null,
        hasRefreshToken: r.refresh_fp !== null,
        inventoryOnly: r.inventory_only === 1,
        updatedAt: r.updated_at,
      };
    },

    async refreshView(tokenId: string): Promise<TokenRefreshView> {
      const r = await repo.findById(storage.db, tokenId);
      if (!r) throw new CustodyError('token_not_found');
      return {
        id: r.id,
        tenantId: r.tenant_id,
        providerId: r.provider_id,
        state: r.state,
        grantedScopes: JSON.parse(r.granted_scopes) as string[],
        effectiveScopes: r.effective_scopes ? (JSON.parse(r.effective_scopes) as string[]) : null,
        scopeLastUsed: Object.fromEntries((await repo.usageFor(storage.db, [r.id])).get(r.id) ?? []),
        heldSince: r.approved_at ?? r.issued_at,
        accessExpiresAt: r.access_expires_at,
        accessIssuedAt: r.access_issued_at ?? null,
        hasRefreshToken: r.refresh_token_enc !== null,
        refreshFingerprint: r.refresh_fp,
        fromIssuer: r.approval_started_by !== null && r.approval_started_by !== undefined,
      };
    },

    /**
     * The stored credentials in clear, for the OAuth client and the outbox only (refresh,
     * upstream revocation). They leave this process only towards the issuer.
     */
    async revealCredentials(tokenId: string): Promise<{ tenantId: string; access: Secret; refresh: Secret | null }> {
      const r = await repo.findCredentialColumns(storage.db, tokenId);
      if (!r) throw new CustodyError('token_not_found');
      if (r.inventory_only === 1) throw new CustodyError('token_inventory_only');
      const key = await vault.loadDataKey(storage.db, r.tenant_id, tokenId);
      return {
        tenantId: r.tenant_id,
        access: vault.decrypt(key, 'access_token', r.access_token_enc),
        refresh: r.refresh_token_enc ? vault.decrypt(key, 'refresh_token', r.refresh_token_enc) : null,
      };
    },

    /** The access token in clear, for the gateway's upstream Authorization header only. */
    async revealAccessToken(tokenId: string): Promise<Secret> {
      const r = await repo.findCredentialColumns(storage.db, tokenId);
      if (!r) throw new CustodyError('token_not_found');
      if (r.inventory_only === 1) throw new CustodyError('token_inventory_only');
      const key = await vault.loadDataKey(storage.db, r.tenant_id, tokenId);
      return vault.decrypt(key, 'access_token', r.access_token_enc);
    },

    /** Records by state (metrics). */
    countByState: () => repo.countByState(storage.db),

    /**
     * The records holding a credential with one of these keyed fingerprints (vault.fingerprint), and
     * which credential matched, read in the caller's unit of work so a revocation acts on what it
     * read: how a leaked string is traced to its record (src/leaks). The rows never leave the
     * server: they carry no credential in clear.
     */
    async findByFingerprints(work: TokenWork, fingerprints: readonly string[]): Promise<{ row: TokenRow; credential: CredentialMatch; fingerprint: string }[]> {
      return repo.findByFingerprints(work.trx, storage.dialect, fingerprints, clock.now());
    },
  };
}

export type TokenOperations = ReturnType<typeof createTokenOperations>;
