import * as oauth from 'oauth4webapi';
import type { AlertService } from '../alerts/alert.service.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import { issuerClient, isTransient, retryAfterMs, type IssuerClient } from '../oauth/oauth.client.ts';
import type { ProviderService } from '../providers/provider.service.ts';
import type { Clock } from '../shared/clock.ts';
import type { Secret } from '../shared/secret.ts';
import type { Db, Storage } from '../storage/database.ts';
import type { TokenService, TokenStateChange, TokenWork } from '../tokens/token.service.ts';
import { createOutboxRepo, LANE, OUTBOX_CHANNEL } from './outbox.repo.ts';
import type { Completion, DeliveryResult, OutboxHandler, OutboxJob } from './outbox.types.ts';

export const OUTBOX_ACTOR = 'system:outbox';

/** What happened upstream, for metrics and listeners (no ids of tenants, no credentials). */
export interface UpstreamOutcome {
  tokenId: string;
  status: 'verified' | 'unverifiable' | 'failed';
  requestedAt: string;
  locallyEffectiveAt: string;
  confirmedAt: string;
  attempts: number;
}

export interface UpstreamRevocationDeps {
  storage: Storage;
  tokens: TokenService;
  ledger: LedgerService;
  providers: ProviderService;
  alerts: AlertService;
  clock: Clock;
  requestTimeoutMs: number;
}

type Payload = { providerId: string; requestedAt: string; locallyEffectiveAt: string };

class RetryLater extends Error {
  constructor(message: string, readonly retryAfterMs?: number) {
    super(message);
  }
}

/**
 * Upstream revocation (RFC 7009) confirmed by introspection (RFC 7662), delivered through the
 * outbox. `enqueueOnRevoke` runs inside the transaction that revokes the token, so the job exists
 * exactly when the revocation committed.
 */
export function createUpstreamRevocation(deps: UpstreamRevocationDeps) {
  const { storage, tokens, ledger, alerts, clock } = deps;
  const outbox = createOutboxRepo();
  const listeners: ((o: UpstreamOutcome) => void)[] = [];

  /**
   * Inside the revoking transaction: the jobs exist exactly when the revocations committed. A
   * single revocation goes in the urgent lane, a bulk one's in the paced lane; every instance's
   * worker is told on commit (PostgreSQL NOTIFY; this instance's is woken by the token owner's
   * committed listener).
   */
  async function enqueueOnRevoke(trx: Db, changes: TokenStateChange[]): Promise<void> {
    const due = changes.filter((c) => c.upstreamRevocation === 'pending');
    if (due.length === 0) return;
    const job = (c: TokenStateChange) => ({
      kind: 'upstream_revocation' as const,
      subjectId: c.tokenId,
      tenantId: c.tenantId,
      payload: { providerId: c.providerId, requestedAt: c.requestedAt, locallyEffectiveAt: c.at } satisfies Payload,
    });
    const urgent = due.filter((c) => !c.bulk);
    const bulk = due.filter((c) => c.bulk);
    if (urgent.length > 0) await outbox.enqueueMany(trx, storage.dialect, urgent.map(job), clock.now(), LANE.urgent);
    if (bulk.length > 0) await outbox.enqueueMany(trx, storage.dialect, bulk.map(job), clock.now(), LANE.bulk);
    await storage.dialect.notify(trx, OUTBOX_CHANNEL, urgent.length > 0 ? 'urgent' : 'bulk');
  }

  /** The refresh token first: at most issuers revoking it ends the whole grant. */
  async function credentials(tokenId: string) {
    const { access, refresh } = await tokens.revealCredentials(tokenId);
    const out: { hint: 'refresh_token' | 'access_token'; value: Secret }[] = [];
    if (refresh) out.push({ hint: 'refresh_token', value: refresh });
    out.push({ hint: 'access_token', value: access });
    return out;
  }

  async function call(send: () => Promise<Response>): Promise<Response> {
    let response: Response;
    try {
      response = await send();
    } catch (err) {
      throw new RetryLater(`issuer unreachable: ${(err as Error).name === 'TimeoutError' ? 'timed out' : (err as Error).message}`);
    }
    if (response.status === 429 || response.status >= 500) {
      throw new RetryLater(`issuer answered ${response.status}`, retryAfterMs(response.headers.get('retry-after'), clock.now()) ?? undefined);
    }
    return response;
  }

  /** Introspects one credential (RFC 7662): whether the issuer reports it active. */
  async function introspect(c: IssuerClient, cred: { hint: string; value: Secret }): Promise<oauth.IntrospectionResponse> {
    const response = await call(() => oauth.introspectionRequest(c.as, c.client, c.auth, cred.value.reveal(), { additionalParameters: { token_type_hint: cred.hint }, ...c.options() }));
    return oauth.processIntrospectionResponse(c.as, c.client, response);
  }

  /**
   * Revokes each credential (RFC 7009), then introspects each (RFC 7662). The credentials of a
   * step go to the issuer at once, not one after the other: a revocation waits two round trips,
   * not four, which is most of its time when the issuer is busy (a bulk drain of its own). Revoking
   * both at once is safe: a token the issuer already invalidated (an access token revoked with its
   * refresh token) is still answered 200 (RFC 7009 §2.2).
   *
   * `activeFirst`: a credential Custody was handed (registered, imported), not obtained from the
   * issuer. An issuer answers "inactive" for a string it never issued, so "inactive" after the
   * revocation proves nothing about a mistyped or wrong credential (the real one would live on):
   * such a token's revocation is verified only if the issuer reported one of its credentials
   * active just before it. That introspection never holds the revocation up: any failure of it
   * counts as "not seen active". (A retried job whose earlier attempt already revoked finds the
   * credential inactive and so answers unverifiable: the cautious side.)
   */
  async function revokeAndConfirm(c: IssuerClient, creds: { hint: string; value: Secret }[], activeFirst: boolean): Promise<{ status: 'verified' | 'unverifiable'; reason?: string }> {
    const seenActive =
      activeFirst && c.as.introspection_endpoint
        ? (await Promise.all(creds.map((cred) => introspect(c, cred).then((r) => r.active === true, () => false)))).some(Boolean)
        : !activeFirst;
    await allOrFirstError(
      creds.map(async (cred) => {
        const response = await call(() => oauth.revocationRequest(c.as, c.client, c.auth, cred.value.reveal(), { additionalParameters: { token_type_hint: cred.hint }, ...c.options() }));
        try {
          await oauth.processRevocationResponse(response);
        } catch (err) {
          throw new RetryLater(`revocation refused: ${(err as Error).message}`);
        }
      }),
    );
    if (!c.as.introspection_endpoint) return { status: 'unverifiable', reason: 'the issuer offers no introspection' };
    const answers = await allOrFirstError(
      creds.map(async (cred): Promise<'inactive' | 'unverifiable'> => {
        let result: oauth.IntrospectionResponse;
        try {
          result = await introspect(c, cred);
        } catch (err) {
          if (err instanceof RetryLater) throw err;
          if (isTransient(err)) throw new RetryLater(`introspection failed: ${(err as Error).message}`);
          // The issuer revoked but will not let us introspect: the revocation stands, unconfirmed.
          return 'unverifiable';
        }
        if (result.active) throw new RetryLater(`the issuer still reports the ${cred.hint.replace('_', ' ')} active`);
        return 'inactive';
      }),
    );
    if (!answers.every((a) => a === 'inactive')) return { status: 'unverifiable', reason: 'the issuer refused to introspect the credential' };
    if (!seenActive) {
      return {
        status: 'unverifiable',
        reason: 'the credential was registered, not obtained from the issuer, and the issuer did not report it active before its revocation (expired, already revoked, or not a credential it issued)',
      };
    }
    return { status: 'verified' };
  }

  async function deliver(job: OutboxJob): Promise<DeliveryResult> {
    const payload = job.payload as Payload;
    const { fromIssuer } = await tokens.refreshView(job.subjectId);
    const providerRow = await deps.providers.findRow(storage.db, payload.providerId);
    const client = issuerClient(providerRow, await deps.providers.clientSecret(payload.providerId), deps.requestTimeoutMs);
    let status: 'verified' | 'unverifiable';
    let reason: string | undefined;
    try {
      ({ status, reason } = await revokeAndConfirm(client, await credentials(job.subjectId), !fromIssuer));
    } catch (err) {
      if (err instanceof RetryLater) return { kind: 'retry', error: err.message, ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}) };
      throw err;
    }
    return {
      kind: 'done',
      record: (complete) =>
        finish(complete, async (work) => {
          const outcome = await recordOutcome(work, job, status, null, reason);
          // The provider's revocation path (shown for every tenant's tokens) is verified only by a
          // token Custody obtained from the issuer itself: a registered token's string is its
          // registrant's word, and an issuer reports a string it never issued as inactive too.
          if (status === 'verified' && fromIssuer) await deps.providers.markRevocationVerified(work.trx, payload.providerId, outcome.confirmedAt, job.subjectId);
          return outcome;
        }),
    };
  }

  /**
   * Finishes the job and records its outcome in one unit of work on the token; listeners hear of
   * the outcome once it has committed, and only from the one delivery that finished the job.
   */
  async function finish(complete: Completion, record: (work: TokenWork) => Promise<UpstreamOutcome>): Promise<void> {
    const outcome = await tokens.unitOfWork(async (work) => ((await complete(work.trx)) ? record(work) : null), { grouped: true });
    if (outcome) for (const l of listeners) l(outcome);
  }

  async function recordOutcome(work: TokenWork, job: OutboxJob, status: UpstreamOutcome['status'], error: string | null, reason?: string): Promise<UpstreamOutcome> {
    const payload = job.payload as Payload;
    const confirmedAt = clock.now().toISOString();
    await tokens.recordUpstreamOutcome(work, job.subjectId, status, status === 'failed' ? null : confirmedAt);
    const outcome: UpstreamOutcome = { tokenId: job.subjectId, status, requestedAt: payload.requestedAt, locallyEffectiveAt: payload.locallyEffectiveAt, confirmedAt, attempts: job.attempts };
    await ledger.append(work.trx, {
      actor: OUTBOX_ACTOR,
      action: 'token.upstream_revocation',
      tenantId: job.tenantId,
      subjectId: job.subjectId,
      data: {
        upstream: status,
        requestedAt: payload.requestedAt,
        locallyEffectiveAt: payload.locallyEffectiveAt,
        upstreamConfirmedAt: status === 'failed' ? null : confirmedAt,
        killTimeMs: Date.parse(confirmedAt) - Date.parse(payload.requestedAt),
        attempts: job.attempts,
        ...(error ? { error } : {}),
        ...(reason ? { reason } : {}),
      },
    });
    return outcome;
  }

  const handler: OutboxHandler = {
    deliver,
    giveUp: (complete, job, lastError) =>
      finish(complete, async (work) => {
        const outcome = await recordOutcome(work, job, 'failed', lastError);
        await alerts.raise(
          work.trx,
          {
            kind: 'upstream_revocation_failed',
            severity: 'critical',
            tenantId: job.tenantId,
            subjectId: job.subjectId,
            message: `Upstream revocation of ${job.subjectId} was given up after ${job.attempts} attempts (${lastError}). The token stays revoked in Custody; revoke it at the issuer by hand.`,
            data: { attempts: job.attempts, lastError },
          },
          clock.now(),
        );
        return outcome;
      }),
  };

  return {
    enqueueOnRevoke,
    handler,
    /** Called with each recorded upstream outcome (for metrics). */
    onOutcome(listener: (o: UpstreamOutcome) => void) {
      listeners.push(listener);
    },
  };
}

export type UpstreamRevocation = ReturnType<typeof createUpstreamRevocation>;

/**
 * Waits for every promise (none is left running unobserved) and answers their values, or throws
 * the first failure in the given order (the refresh token's before the access token's).
 */
async function allOrFirstError<T>(promises: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  for (const s of settled) if (s.status === 'rejected') throw s.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}
