import * as oauth from 'oauth4webapi';
import type { AlertRepo } from '../alerts/alert.repo.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import { issuerClient, isTransient, retryAfterMs, type IssuerClient } from '../oauth/oauth.client.ts';
import type { ProviderService } from '../providers/provider.service.ts';
import type { Clock } from '../shared/clock.ts';
import type { Secret } from '../shared/secret.ts';
import type { Db, Storage } from '../storage/database.ts';
import type { TokenStateChange } from '../tokens/token.service.ts';
import type { Vault } from '../vault/vault.service.ts';
import { createOutboxRepo } from './outbox.repo.ts';
import type { DeliveryResult, OutboxHandler, OutboxJob } from './outbox.types.ts';

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
  vault: Vault;
  ledger: LedgerService;
  providers: ProviderService;
  alerts: AlertRepo;
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
  const { storage, vault, ledger, alerts, clock } = deps;
  const outbox = createOutboxRepo();
  const listeners: ((o: UpstreamOutcome) => void)[] = [];

  // A bulk revocation revokes thousands of one provider's tokens in one transaction: look its
  // revocation endpoint up once per transaction, not once per token.
  const endpointsByTransaction = new WeakMap<Db, Map<string, string | null>>();
  async function revocationEndpoint(trx: Db, providerId: string): Promise<string | null> {
    let known = endpointsByTransaction.get(trx);
    if (!known) endpointsByTransaction.set(trx, (known = new Map()));
    if (!known.has(providerId)) {
      const p = await trx.selectFrom('providers').select(['revocation_endpoint']).where('id', '=', providerId).executeTakeFirstOrThrow();
      known.set(providerId, p.revocation_endpoint);
    }
    return known.get(providerId)!;
  }

  async function enqueueOnRevoke(trx: Db, change: TokenStateChange): Promise<void> {
    if (change.to !== 'revoked') return;
    const upstream = (await revocationEndpoint(trx, change.providerId)) ? 'pending' : 'none';
    await trx
      .updateTable('tokens')
      .set({ revocation_requested_at: change.requestedAt, revocation_effective_at: change.at, upstream_revocation: upstream })
      .where('id', '=', change.tokenId)
      .execute();
    if (upstream === 'none') return;
    const payload: Payload = { providerId: change.providerId, requestedAt: change.requestedAt, locallyEffectiveAt: change.at };
    await outbox.enqueue(trx, { kind: 'upstream_revocation', subjectId: change.tokenId, tenantId: change.tenantId, payload }, clock.now());
  }

  async function credentials(tokenId: string, tenantId: string, row: { access_token_enc: string; refresh_token_enc: string | null }) {
    const key = await vault.loadDataKey(storage.db, tenantId, tokenId);
    const out: { hint: 'refresh_token' | 'access_token'; value: Secret }[] = [];
    // The refresh token first: at most issuers revoking it ends the whole grant.
    if (row.refresh_token_enc) out.push({ hint: 'refresh_token', value: vault.decrypt(key, 'refresh_token', row.refresh_token_enc) });
    out.push({ hint: 'access_token', value: vault.decrypt(key, 'access_token', row.access_token_enc) });
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

  async function revokeAndConfirm(c: IssuerClient, creds: { hint: string; value: Secret }[]): Promise<'verified' | 'unverifiable'> {
    for (const cred of creds) {
      const response = await call(() => oauth.revocationRequest(c.as, c.client, c.auth, cred.value.reveal(), { additionalParameters: { token_type_hint: cred.hint }, ...c.options() }));
      try {
        await oauth.processRevocationResponse(response);
      } catch (err) {
        throw new RetryLater(`revocation refused: ${(err as Error).message}`);
      }
    }
    if (!c.as.introspection_endpoint) return 'unverifiable';
    for (const cred of creds) {
      const response = await call(() => oauth.introspectionRequest(c.as, c.client, c.auth, cred.value.reveal(), { additionalParameters: { token_type_hint: cred.hint }, ...c.options() }));
      let result: oauth.IntrospectionResponse;
      try {
        result = await oauth.processIntrospectionResponse(c.as, c.client, response);
      } catch (err) {
        if (isTransient(err)) throw new RetryLater(`introspection failed: ${(err as Error).message}`);
        // The issuer revoked but will not let us introspect: the revocation stands, unconfirmed.
        return 'unverifiable';
      }
      if (result.active) throw new RetryLater(`the issuer still reports the ${cred.hint.replace('_', ' ')} active`);
    }
    return 'verified';
  }

  async function deliver(job: OutboxJob): Promise<DeliveryResult> {
    const payload = job.payload as Payload;
    const row = await storage.db.selectFrom('tokens').select(['access_token_enc', 'refresh_token_enc', 'tenant_id']).where('id', '=', job.subjectId).executeTakeFirstOrThrow();
    const providerRow = await deps.providers.findRow(storage.db, payload.providerId);
    const client = issuerClient(providerRow, await deps.providers.clientSecret(payload.providerId), deps.requestTimeoutMs);
    let status: 'verified' | 'unverifiable';
    try {
      status = await revokeAndConfirm(client, await credentials(job.subjectId, row.tenant_id, row));
    } catch (err) {
      if (err instanceof RetryLater) return { kind: 'retry', error: err.message, ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}) };
      throw err;
    }
    return {
      kind: 'done',
      record: async (trx) => {
        const outcome = await recordOutcome(trx, job, status, null);
        if (status === 'verified') {
          const at = outcome.confirmedAt;
          const r = await trx.updateTable('providers').set({ revocation_verified_at: at }).where('id', '=', payload.providerId).where('revocation_verified_at', 'is', null).executeTakeFirst();
          if (Number(r.numUpdatedRows) === 1) {
            await ledger.append(trx, { actor: OUTBOX_ACTOR, action: 'provider.revocation_verified', subjectId: payload.providerId, data: { byToken: job.subjectId } });
          }
        }
      },
    };
  }

  async function recordOutcome(trx: Db, job: OutboxJob, status: UpstreamOutcome['status'], error: string | null): Promise<UpstreamOutcome> {
    const payload = job.payload as Payload;
    const confirmedAt = clock.now().toISOString();
    await trx
      .updateTable('tokens')
      .set({ upstream_revocation: status, upstream_confirmed_at: status === 'failed' ? null : confirmedAt })
      .where('id', '=', job.subjectId)
      .execute();
    const outcome: UpstreamOutcome = { tokenId: job.subjectId, status, requestedAt: payload.requestedAt, locallyEffectiveAt: payload.locallyEffectiveAt, confirmedAt, attempts: job.attempts };
    await ledger.append(trx, {
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
      },
    });
    for (const l of listeners) l(outcome);
    return outcome;
  }

  const handler: OutboxHandler = {
    deliver,
    async giveUp(trx, job, lastError) {
      await recordOutcome(trx, job, 'failed', lastError);
      await alerts.raise(
        trx,
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
    },
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
