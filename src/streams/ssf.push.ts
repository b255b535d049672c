import { request, type Dispatcher } from 'undici';
import { systemPrincipal } from '../auth/roles.ts';
import type { AlertService } from '../alerts/alert.service.ts';
import { targetRefusalOf, type SsrfGuard } from '../gateway/ssrf-guard.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import type { Completion, DeliveryResult, OutboxHandler, OutboxJob } from '../outbox/outbox.types.ts';
import type { ProviderService } from '../providers/provider.service.ts';
import type { Clock } from '../shared/clock.ts';
import type { Storage } from '../storage/database.ts';
import type { TokenService } from '../tokens/token.service.ts';
import type { Vault } from '../vault/vault.service.ts';
import { setClaims, type PushPayload, type TokenSubject } from './ssf.events.ts';
import type { SsfKeys } from './ssf.signer.ts';
import type { StreamRepo, StreamRow } from './stream.repo.ts';

export const SSF_ACTOR = 'system:ssf-transmitter';
/** A paused stream's SETs are looked at again this often (and go out within it of the stream being enabled). */
const PAUSED_RECHECK_MS = 60_000;
/** What is read of a receiver's answer: enough for its RFC 8935 error object, no more. */
const MAX_ANSWER_BYTES = 4096;
/**
 * The most one push may take, whatever requestTimeoutMs says: well below the outbox lease (60 s),
 * so a job is never re-claimed, and its SET POSTed a second time, while its first push still runs.
 */
export const MAX_PUSH_DEADLINE_MS = 20_000;

export interface SsfPushDeps {
  storage: Storage;
  repo: StreamRepo;
  vault: Vault;
  keys: SsfKeys;
  ledger: LedgerService;
  alerts: AlertService;
  tokens: TokenService;
  providers: ProviderService;
  clock: Clock;
  guard: SsrfGuard;
  publicUrl: string;
  /** Outside production, pushes may go to loopback and private hosts (a receiver under test). */
  production: boolean;
  requestTimeoutMs: number;
}

class RetryLater extends Error {
  constructor(message: string, readonly retryAfterMs?: number) {
    super(message);
  }
}

/** Drops what is left of an answer (undici aborts a body destroyed before its end: that error is expected, not news). */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => {});
  body.destroy();
}

/**
 * Reads at most MAX_ANSWER_BYTES of the body, and only until the push's deadline: a receiver that
 * trickles its answer gets what it sent by then. The body is destroyed in every case.
 */
async function readBounded(body: Dispatcher.ResponseData['body'], deadline: AbortSignal): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  const stop = () => discard(body);
  deadline.addEventListener('abort', stop, { once: true });
  try {
    for await (const chunk of body) {
      const b = chunk as Buffer;
      chunks.push(b);
      size += b.length;
      if (size >= MAX_ANSWER_BYTES) break;
    }
  } catch {
    // Cut at the deadline or by the receiver: what came is enough (the status already says the rest).
  } finally {
    deadline.removeEventListener('abort', stop);
    discard(body);
  }
  return Buffer.concat(chunks).subarray(0, MAX_ANSWER_BYTES).toString('utf8');
}

/** The RFC 8935 §2.3 error code and description, when the receiver sent one; printable and short. */
function receiverError(text: string): string {
  try {
    const o = JSON.parse(text) as { err?: unknown; description?: unknown };
    const clean = (v: unknown) => (typeof v === 'string' ? v.replace(/[^\x20-\x7e]/g, '?').slice(0, 200) : '');
    if (typeof o.err === 'string') return `: ${clean(o.err)}${o.description ? ` (${clean(o.description)})` : ''}`;
  } catch {
    // Not the error object RFC 8935 defines: the status says enough.
  }
  return '';
}

function retryAfterMs(value: string | string[] | undefined, now: Date): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now.getTime());
}

/**
 * Delivers SETs per RFC 8935 through the outbox: signed at delivery time (so a key is never copied
 * into a job), POSTed as application/secevent+jwt with undici through the gateway's SSRF guard
 * (addresses pinned at connect, no redirects followed, one deadline per push well inside the outbox
 * lease, at most MAX_ANSWER_BYTES of an answer read), retried with the outbox's
 * backoff, and given up with a ledger entry and an alert (`ssf_push_undelivered`, one open per
 * stream). A paused stream holds its SETs; a disabled or deleted one drops them.
 */
export function createSsfPush(deps: SsfPushDeps) {
  const { storage, repo, clock } = deps;

  async function subjectOf(tokenId: string): Promise<TokenSubject> {
    const t = await deps.tokens.get(systemPrincipal('ssf-transmitter'), tokenId);
    const issuer = (await deps.providers.findRow(storage.db, t.providerId)).issuer;
    return { tokenId, tenantId: t.tenantId, issuer, subject: t.subject ?? null };
  }

  async function push(stream: StreamRow, job: PushPayload): Promise<void> {
    const signer = await deps.keys.ensure();
    const token = job.tokenId ? await subjectOf(job.tokenId) : null;
    const set = await signer.sign(setClaims({ issuer: deps.publicUrl, audience: stream.audience, streamId: stream.id, iat: Math.floor(clock.now().getTime() / 1000), job, token }));
    const headers: Record<string, string> = { 'content-type': 'application/secevent+jwt', accept: 'application/json' };
    if (stream.authorization_enc) {
      const key = await deps.vault.loadDataKey(storage.db, stream.tenant_id, stream.id);
      headers.authorization = deps.vault.decrypt(key, 'authorization_header', stream.authorization_enc).reveal();
    }
    const url = new URL(stream.endpoint_url);
    const allowPrivate = !deps.production;
    const literal = deps.guard.checkLiteralHost(url.hostname, allowPrivate);
    if (!literal.ok) throw new RetryLater(`the receiver's host ${url.hostname} is a ${literal.range} address, which Custody does not push to`);
    // One deadline for the whole exchange (connect, headers, the answer read): per-phase timeouts
    // alone let a receiver that trickles bytes hold a push, and its outbox lease, indefinitely.
    const deadlineMs = Math.min(deps.requestTimeoutMs, MAX_PUSH_DEADLINE_MS);
    const deadline = AbortSignal.timeout(deadlineMs);
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        method: 'POST',
        headers,
        body: set,
        dispatcher: deps.guard.dispatcherFor(allowPrivate),
        headersTimeout: deadlineMs,
        bodyTimeout: deadlineMs,
        signal: deadline,
      });
    } catch (err) {
      const refused = targetRefusalOf(err);
      if (refused) throw new RetryLater(`the receiver's host ${refused.host} resolves to a ${refused.range} address, which Custody does not push to`);
      const e = err as Error & { code?: string };
      if (deadline.aborted || e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_CONNECT_TIMEOUT') throw new RetryLater(`receiver unreachable: no answer within ${deadlineMs} ms`);
      throw new RetryLater(`receiver unreachable: ${e.code ?? e.name}${e.message ? ` (${e.message.slice(0, 200)})` : ''}`);
    }
    // RFC 8935 §2.2 answers 202; any 2xx is taken as accepted, and its body is not read: the status is all a push needs.
    // A redirect is not followed (the SET goes where the stream says, nowhere else).
    if (response.statusCode >= 200 && response.statusCode < 300) {
      discard(response.body);
      return;
    }
    // A refusal: its RFC 8935 error object, if it comes within the deadline.
    const answer = await readBounded(response.body, deadline);
    throw new RetryLater(`receiver answered ${response.statusCode}${receiverError(answer)}`, retryAfterMs(response.headers['retry-after'], clock.now()));
  }

  /** Finishes the job and moves the stream's counters in one transaction; false for a redelivery that found it finished. */
  async function finish(complete: Completion, streamId: string, outcome: { delivered: boolean; error: string | null }, after?: (trx: Parameters<Completion>[0]) => Promise<void>): Promise<void> {
    await storage.db.transaction().execute(async (trx) => {
      if (!(await complete(trx))) return;
      await repo.countFinished(trx, streamId, { ...outcome, at: clock.now().toISOString() });
      if (after) await after(trx);
    });
  }

  async function deliver(job: OutboxJob): Promise<DeliveryResult> {
    const payload = job.payload as unknown as PushPayload;
    const stream = await repo.find(storage.db, payload.streamId);
    if (!stream || stream.status === 'disabled') {
      // SSF 1.0 §8.1.2: a disabled stream neither sends nor holds events.
      return { kind: 'done', record: (complete) => finish(complete, payload.streamId, { delivered: false, error: null }) };
    }
    if (stream.status === 'paused') return { kind: 'retry', error: 'the stream is paused: the SET is held until it is enabled', retryAfterMs: PAUSED_RECHECK_MS };
    try {
      await push(stream, payload);
    } catch (err) {
      if (!(err instanceof RetryLater)) throw err;
      await repo.recordError(storage.db, stream.id, err.message).catch(() => {});
      return { kind: 'retry', error: err.message, ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}) };
    }
    return { kind: 'done', record: (complete) => finish(complete, stream.id, { delivered: true, error: null }) };
  }

  const handler: OutboxHandler = {
    deliver,
    async giveUp(complete, job, lastError) {
      const payload = job.payload as unknown as PushPayload;
      const stream = await repo.find(storage.db, payload.streamId);
      const held = stream?.status === 'paused';
      await finish(complete, payload.streamId, { delivered: false, error: lastError.slice(0, 500) }, async (trx) => {
        await deps.ledger.append(trx, {
          actor: SSF_ACTOR,
          action: 'ssf.push_given_up',
          tenantId: job.tenantId,
          subjectId: payload.streamId,
          data: { jti: payload.jti, event: payload.event, tokenId: payload.tokenId ?? null, attempts: job.attempts, held, lastError: lastError.slice(0, 500) },
        });
        // A SET held past the window of a paused stream was the receiver's choice; one its receiver never took is not.
        if (stream && !held) {
          await deps.alerts.raise(
            trx,
            {
              kind: 'ssf_push_undelivered',
              severity: 'high',
              tenantId: job.tenantId,
              subjectId: payload.streamId,
              message: `A Shared Signals event (${payload.event}${payload.tokenId ? ` for ${payload.tokenId}` : ''}) could not be pushed to stream ${payload.streamId} after ${job.attempts} attempts (${lastError.slice(0, 200)}). Check the receiver at ${new URL(stream.endpoint_url).origin}; GET /v1/ssf/streams?stream_id=${payload.streamId} shows its counters.`,
              data: { streamId: payload.streamId, jti: payload.jti, event: payload.event, attempts: job.attempts },
            },
            clock.now(),
          );
        }
      });
    },
  };

  return { handler };
}
