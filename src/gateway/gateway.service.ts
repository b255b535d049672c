import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Principal } from '../auth/roles.ts';
import type { DatabaseConfig } from '../config/config.ts';
import type { LedgerService } from '../ledger/ledger.service.ts';
import { nowMs, type Clock } from '../shared/clock.ts';
import { CustodyError, isCustodyError, type ErrorCode } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { Storage } from '../storage/database.ts';
import type { Listener } from '../storage/dialect.ts';
import type { ProviderService } from '../providers/provider.service.ts';
import type { TokenService } from '../tokens/token.service.ts';
import type { AccessTokenSource } from './access-token-source.ts';
import { upstreamRequestHeaders, downstreamResponseHeaders } from './forward-headers.ts';
import { decideCall, type Decision } from './gateway.policy.ts';
import { DEFAULT_GATEWAY_LIMITS, type GatewayLimits, type GatewayToken, type UsageEvent, type UsageOutcome } from './gateway.types.ts';
import { refusalMessage } from './address-policy.ts';
import { createCallWatchdog, createFairShare, type CutReason, type WatchedCall } from './call-guard.ts';
import { createSsrfGuard, isTargetRefused, targetRefusalOf, type Resolver } from './ssrf-guard.ts';
import { createTokenCache, loadGatewayToken } from './token-cache.ts';
import { createUsageRecorder } from './usage-recorder.ts';
import { createWorkerUsageWriter, type PackedEvents } from './usage-writer.ts';

/** The NOTIFY channel on which committed token state changes are announced to every instance. */
export const TOKEN_CHANGES_CHANNEL = 'custody_token_changes';
/** On that channel, a provider's change is announced as `provider:{id}`; anything else is a token id. */
const PROVIDER_CHANGE_PREFIX = 'provider:';
/** On that channel: many tokens changed at once (a bulk revocation); forget every cached token. */
const EVERY_TOKEN = '*';
/** A unit of work that changed more tokens than this announces `*` instead of each id. */
const NOTIFY_EACH_MAX = 100;

/** How often, once started, usage events past their retention are deleted (first pass one minute in). */
const PRUNE_EVERY_MS = 10 * 60_000;
const FIRST_PRUNE_AFTER_MS = 60_000;
const DAY_MS = 24 * 60 * 60_000;
/**
 * Batches for the writer thread: at most this many events, handed over at least this often. Each
 * batch costs a commit and a wake-up of that thread whatever its size, so larger, rarer batches
 * cost less per call; usage then shows up to this late, and shutdown still writes all of it.
 */
const WORKER_BATCH_SIZE = 4_000;
const WORKER_FLUSH_MS = 400;

export interface GatewayDeps {
  storage: Storage;
  /** Where the LISTEN connection goes (PostgreSQL); SQLite has no other instances to hear. */
  database: DatabaseConfig;
  tokens: TokenService;
  providers: ProviderService;
  ledger: LedgerService;
  accessTokens: AccessTokenSource;
  clock: Clock;
  logger: Logger;
  limits?: Partial<GatewayLimits>;
  /** DNS resolution for upstream hosts (tests inject names that resolve to loopback). */
  resolve?: Resolver;
  /** Observes every cache invalidation (the benchmark measures revocation delay with it). */
  onInvalidated?: (tokenId: string) => void;
  /** Hears each batch of usage once committed (detection, off the path of calls): see UsageRecorderOptions.onWritten. */
  onUsageWritten?: (packed: PackedEvents) => void;
  /**
   * Hears at once each call refused because its token is revoked, suspended or expired (detection's
   * "revoked integration still active", due within a second: not after the usage batch is written,
   * which a loaded machine can delay for seconds). Must only note the event and return.
   */
  onStateRefusal?: (event: UsageEvent) => void;
}

/** The refusals of a call naming a token that is no longer live. */
const STATE_REFUSALS: ReadonlySet<string> = new Set<ErrorCode>(['token_revoked', 'token_suspended', 'token_expired']);

export interface GatewayCall {
  principal: Principal;
  tokenId: string;
  method: string;
  rawPath: string;
  rawQuery: string;
  headers: IncomingHttpHeaders;
  /** The request body stream, or null when the request has none. */
  body: Readable | null;
  /**
   * The connection the request came on. A pipelined request's response waits in a queue with no
   * socket of its own, and if the connection closes meanwhile Node never emits that response's
   * `close`: the connection's own close then ends the call (its share given back).
   */
  connection?: { destroyed: boolean; once(event: 'close', listener: () => void): unknown; removeListener(event: 'close', listener: () => void): unknown } | null;
  sourceAddress: string | null;
  /** performance.now() when the request arrived. */
  startedAt: number;
  /**
   * For a call that `forward` resolved (the provider's answer went to the caller): run once the
   * response has closed, after the call is recorded. A call that `forward` refused (it threw) is
   * the caller's to account for.
   */
  onClose?: () => void;
}

/** What a decision learned of the call's target, as usage records it. */
type Where = Pick<Decision, 'host' | 'scope' | 'unmapped' | 'template'>;

class BodyTooLargeError extends Error {
  readonly code = 'CUSTODY_BODY_TOO_LARGE';
}

/** The watchdog stopped the call (call-guard.ts). */
class CallCutError extends Error {
  readonly code = 'CUSTODY_CALL_CUT';
  constructor(readonly reason: CutReason) {
    super(`the gateway cut the call (${reason})`);
  }
}

/** The error code a cut call is answered and recorded with. */
function cutCode(reason: CutReason): ErrorCode {
  if (reason === 'deadline') return 'upstream_timeout';
  if (reason === 'shutdown') return 'shutting_down';
  return 'request_timeout';
}

/** Passes the caller's body on, refusing more than `limit` bytes and counting chunks for the watchdog. */
function limitBody(limit: number, relay: ResponseRelay): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      relay.bodyChunks++;
      relay.bodyBytes = seen;
      if (seen > limit) cb(new BodyTooLargeError('request body over the gateway limit'));
      else cb(null, chunk);
    },
  });
}

function hasBody(headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function errorCodeOf(err: unknown, bodyTooLarge: boolean): ErrorCode {
  if (bodyTooLarge) return 'body_too_large';
  if (err instanceof CallCutError) return cutCode(err.reason);
  if (isCustodyError(err)) return err.code;
  if (isTargetRefused(err)) return 'target_not_allowed';
  const code = (err as { code?: string }).code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return 'upstream_timeout';
  return 'upstream_unavailable';
}

/**
 * Relays one upstream response into the caller's response as undici delivers it (undici's
 * dispatch-handler interface): no intermediate stream, and the provider is paused while the
 * caller reads slowly. `answered` settles once: resolved when the status line and headers have
 * been written to the caller, rejected when the upstream fails before that (the caller then gets
 * a coded error instead).
 */
class ResponseRelay implements Dispatcher.DispatchHandler, WatchedCall {
  started = false;
  failed = false;
  statusCode = 0;
  /** Set when the watchdog cut the call. */
  cutReason: CutReason | null = null;
  bodyOpen = false;
  bodyChunks = 0;
  bodyBytes = 0;
  pausedAt = 0;
  responseStartedAt = 0;
  responseBytes = 0;
  readonly answered: Promise<void>;
  private controller: Dispatcher.DispatchController | null = null;
  /** The caller's response; null once the call is over (see release). */
  private res: ServerResponse | null;
  private abortWanted: Error | null = null;
  private settle!: (err?: Error) => void;

  /**
   * The caller's response for the watchdog alone, kept until it closes: a response the provider
   * has finished (released below) can still sit in a socket its caller does not read, holding the
   * call's share, and a cut must be able to end it.
   */
  private out: ServerResponse | null;

  constructor(
    res: ServerResponse,
    readonly startedAt: number,
    readonly who: { tokenId: string; workload: string | null; template: string },
  ) {
    this.res = res;
    this.out = res;
    this.answered = new Promise<void>((resolve, reject) => {
      this.settle = (err) => (err ? reject(err) : resolve());
    });
    // Settled before anyone awaits it when undici refuses the request synchronously.
    this.answered.catch(() => {});
  }

  /** The caller left: stop the upstream call now, or as soon as undici starts it. */
  abort(reason: Error = new Error('the caller closed the connection')): void {
    this.abortWanted = reason;
    this.controller?.abort(reason);
  }

  /**
   * The watchdog's verdict: a call not yet answered is answered with a coded error (`answered`
   * rejects), one whose response has begun is broken off; either way the provider's side stops.
   */
  cut(reason: CutReason): void {
    if (this.cutReason) return;
    this.cutReason = reason;
    const err = new CallCutError(reason);
    // Abort first (release lets go of the controller); undici may report the abort at once
    // through onResponseError, which then does what follows, so that is done only if it did not.
    this.abort(err);
    const res = this.release() ?? this.out;
    this.failed = true;
    if (this.started) res?.destroy();
    else this.settle(err);
    // A response still queued behind an earlier pipelined one has no socket: destroying it emits
    // no close, so the call is ended here (its share given back).
    if (res && !res.socket) this.ended?.();
  }

  /** Ends the call once (its share given back, its use recorded): set by `forward`. */
  ended: (() => void) | null = null;

  /**
   * The call is over: let go of the controller and the caller's response. undici keeps a finished
   * request, and with it this relay, in its connection's queue until a few hundred have finished
   * on that connection, so whatever the relay still references survives minor GCs and is promoted
   * to the old generation with every call: the controller holds the provider's raw response
   * headers (views of the socket's read buffer), the response holds the request, its headers and
   * its socket's per-call state. What that cost under load: docs/benchmarks.md (gateway).
   */
  private release(): ServerResponse | null {
    const res = this.res;
    this.controller = null;
    this.res = null;
    return res;
  }

  /** The caller's response has closed: nothing left for a cut to end. */
  closed(): void {
    this.out = null;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abortWanted) controller.abort(this.abortWanted);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[]>): void {
    // 1xx interim answers (100 Continue, 103 Early Hints) stay between Custody and the provider.
    const res = this.res;
    if (statusCode < 200 || this.started || !res) return;
    // The caller is already gone (its close event may not have run yet): stop, and let
    // onResponseError settle `answered`.
    if (res.destroyed) return this.abort();
    this.started = true;
    this.responseStartedAt = performance.now();
    this.statusCode = statusCode;
    res.writeHead(statusCode, downstreamResponseHeaders(headers));
    this.settle();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const res = this.res;
    this.responseBytes += chunk.length;
    if (!res || res.write(chunk)) return;
    // The caller reads slower than the provider sends: hold the provider until it has caught up
    // (the watchdog cuts a caller that stops reading altogether).
    controller.pause();
    this.pausedAt = performance.now();
    res.once('drain', () => {
      this.pausedAt = 0;
      controller.resume();
    });
  }

  onResponseEnd(): void {
    this.release()?.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    const res = this.release();
    this.failed = true;
    if (this.started) res?.destroy();
    else this.settle(err);
  }
}

/**
 * The gateway: decides each call from a cached view of the token (see token-cache.ts), attaches
 * the access token, forwards over pinned, pooled connections (ssrf-guard.ts) and records usage
 * in batches (usage-recorder.ts). Invariants are listed in ./README.md.
 */
export function createGatewayService(deps: GatewayDeps) {
  const { storage, tokens, accessTokens, clock, logger } = deps;
  const limits: GatewayLimits = { ...DEFAULT_GATEWAY_LIMITS, ...deps.limits };
  const guard = createSsrfGuard({ connectionsPerOrigin: limits.connectionsPerOrigin, ...(deps.resolve ? { resolve: deps.resolve } : {}) });
  const share = createFairShare(limits);
  /** Calls cut by the watchdog, by reason (for /metrics). */
  const cutCounts = new Map<CutReason, number>();
  const watchdog = createCallWatchdog({
    idleTimeoutMs: limits.idleTimeoutMs,
    callDeadlineMs: limits.callDeadlineMs,
    minBytesPerSecond: limits.minBytesPerSecond,
    onCut: (call, reason) => {
      cutCounts.set(reason, (cutCounts.get(reason) ?? 0) + 1);
      logger.info({ reason, ...(call as ResponseRelay).who }, 'gateway call cut');
    },
  });
  // Usage is written by a worker thread with its own connection, off the thread serving calls,
  // unless the database is an in-memory SQLite one, which no other connection can open.
  const inMemory = deps.database.kind === 'sqlite' && deps.database.file === ':memory:';
  const recorder = createUsageRecorder({
    storage,
    ledger: deps.ledger,
    logger,
    highWater: limits.usageHighWater,
    admissionWaitMs: limits.admissionWaitMs,
    ...(deps.onUsageWritten ? { onWritten: deps.onUsageWritten } : {}),
    ...(inMemory ? {} : { writer: createWorkerUsageWriter(deps.database), batchSize: WORKER_BATCH_SIZE, flushIntervalMs: WORKER_FLUSH_MS }),
  });
  const cache = createTokenCache({
    load: (id) => loadGatewayToken({ token: tokens.accessView, provider: deps.providers.accessView }, id),
    recheckMs: limits.recheckMs,
    onChanged: (id) => {
      accessTokens.forget(id);
      deps.onInvalidated?.(id);
    },
  });
  let listener: Listener | null = null;
  let pruneTimer: NodeJS.Timeout | null = null;
  let pruning: Promise<number> | null = null;

  /**
   * Retention: deletes usage events older than `usageRetentionDays` (in the writer thread, in
   * short batches) and ledgers how many went. Last use, per-scope last use and the first-use-per-day
   * ledger entries are kept. Resolves to the number deleted; 0 when retention is off.
   */
  async function pruneUsage(): Promise<number> {
    if (limits.usageRetentionDays === 0) return 0;
    if (pruning) return pruning;
    const before = new Date(clock.now().getTime() - limits.usageRetentionDays * DAY_MS).toISOString();
    pruning = (async () => {
      const deleted = await recorder.prune(before);
      if (deleted > 0) {
        await storage.db.transaction().execute((trx) =>
          deps.ledger.append(trx, { actor: 'system:retention', action: 'usage.pruned', tenantId: null, subjectId: null, data: { before, deleted, retentionDays: limits.usageRetentionDays } }),
        );
        logger.info({ before, deleted }, 'deleted gateway usage events past their retention');
      }
      return deleted;
    })().finally(() => {
      pruning = null;
    });
    return pruning;
  }

  function schedulePrune(delayMs: number) {
    if (limits.usageRetentionDays === 0) return;
    pruneTimer = setTimeout(() => {
      pruneUsage()
        .catch((err: Error) => logger.warn({ err: err.message }, 'deleting old gateway usage events failed; will try again'))
        .finally(() => {
          if (pruneTimer) schedulePrune(PRUNE_EVERY_MS);
        });
    }, delayMs);
    pruneTimer.unref();
  }

  // Every change of a token (a transition, its workloads, its credentials), through the token
  // owner's unit of work, which makes telling part of writing:
  // - this instance: the listener runs synchronously after the commit and before the changing call
  //   returns, so the next call here reads the committed state;
  // - other instances: the notification is part of the transaction and is delivered only if it commits.
  tokens.onCommittedChanged((tokenId) => cache.invalidate(tokenId));
  tokens.onChange(async (trx, tokenIds) => {
    // A bulk change is announced once: every instance forgets its whole cache and reloads on demand.
    if (tokenIds.length > NOTIFY_EACH_MAX) return storage.dialect.notify(trx, TOKEN_CHANGES_CHANNEL, EVERY_TOKEN);
    for (const id of tokenIds) await storage.dialect.notify(trx, TOKEN_CHANGES_CHANNEL, id);
  });
  // A provider's change (its API, scope rules, network access) reaches every token of it the same way.
  deps.providers.onCommittedChange((providerId) => cache.invalidateProvider(providerId));
  deps.providers.onChange((trx, providerId) => storage.dialect.notify(trx, TOKEN_CHANGES_CHANNEL, `${PROVIDER_CHANGE_PREFIX}${providerId}`));

  function cutMessage(reason: CutReason): string {
    if (reason === 'deadline') return `The call did not finish within the gateway's deadline of ${limits.callDeadlineMs} ms.`;
    if (reason === 'shutdown') return 'This server is shutting down and stopped waiting for the call; retry, and another instance will answer.';
    if (reason === 'body_too_slow') return `The request body arrived slower than ${limits.minBytesPerSecond} bytes a second; the gateway stopped waiting for it.`;
    return `No part of the request body arrived for ${limits.idleTimeoutMs} ms; the gateway stopped waiting for it.`;
  }

  /** The usage event of a call; `where` is what the decision learned of the target (or nothing). */
  function usage(call: GatewayCall, token: GatewayToken | null, where: Where, outcome: UsageOutcome, status: number, errorCode: string | null): UsageEvent {
    return {
      atMs: nowMs(clock),
      tokenId: call.tokenId,
      tenantId: token?.tenantId ?? call.principal.tenantId,
      workload: call.principal.workload,
      apiKeyId: call.principal.keyId,
      actor: call.principal.actor,
      method: call.method,
      host: where.host,
      pathTemplate: where.template,
      scope: where.scope,
      unmapped: where.unmapped,
      outcome,
      errorCode,
      status,
      sourceAddress: call.sourceAddress,
      latencyMs: performance.now() - call.startedAt,
    };
  }

  /**
   * A call was refused for a scope the token was granted but a narrowing refresh left out: the
   * token records that the scope was wanted (its `scope_narrowed` finding offers reauthorisation).
   * Written once per token and scope — never on the path of allowed calls, not again while the view
   * shows it, and once at a time here — in the background: the refusal does not wait for it.
   */
  const wantedWrites = new Set<string>();
  function noteWantedScope(call: GatewayCall, token: GatewayToken, scope: string): void {
    if (token.wantedScopes.includes(scope)) return;
    const key = `${token.id}\u0000${scope}`;
    if (wantedWrites.has(key)) return;
    wantedWrites.add(key);
    tokens
      .unitOfWork((work) => tokens.recordWantedScope(work, token.id, scope, { actor: call.principal.actor, workload: call.principal.workload }))
      .catch((err: Error) => logger.warn({ tokenId: token.id, scope, err: err.message }, 'recording a scope wanted while narrowed failed; the next refused call tries again'))
      .finally(() => wantedWrites.delete(key));
  }

  /**
   * Records a refused call, logs it (reason, token, workload, method and the path's template:
   * never the path or query themselves, which can carry customer data, and never a credential),
   * and gives the error to throw.
   */
  function refuse(call: GatewayCall, token: GatewayToken | null, where: Where, code: ErrorCode, message?: string): CustodyError {
    const err = new CustodyError(code, message);
    if (code === 'scope_narrowed' && token && where.scope) noteWantedScope(call, token, where.scope);
    logger.info({ code, status: err.status, tokenId: call.tokenId, workload: call.principal.workload, method: call.method, pathTemplate: where.template }, 'gateway call refused');
    // A refusal for a token of another tenant is recorded against the caller's tenant only.
    const failed = code.startsWith('upstream_') || code === 'request_timeout';
    const event = usage(call, code === 'token_not_found' ? null : token, where, failed ? 'failed' : 'denied', err.status, code);
    recorder.record(event);
    if (STATE_REFUSALS.has(code)) deps.onStateRefusal?.(event);
    return err;
  }

  return {
    /**
     * Decides and forwards one call, writing the provider's answer straight into `res`.
     * Throws a CustodyError for every refusal and for an upstream that fails before answering
     * (after recording it); nothing has been written to `res` then, so the caller answers with the
     * coded error. Once it resolves the response is the provider's: it streams on, and the call is
     * recorded when `res` closes (delivered in full, or broken off by either side).
     */
    async forward(call: GatewayCall, res: ServerResponse): Promise<void> {
      const waiting = recorder.admit();
      if (waiting) await waiting;
      const cached = cache.peek(call.tokenId);
      const token = cached !== undefined ? cached : await cache.get(call.tokenId);
      const facts = {
        tenantId: call.principal.tenantId,
        workload: call.principal.workload,
        method: call.method,
        rawPath: call.rawPath,
        rawQuery: call.rawQuery,
        requestedBase: typeof call.headers['x-custody-api-base'] === 'string' ? call.headers['x-custody-api-base'] : undefined,
      };
      const decision = decideCall(token, facts);
      if (!decision.ok) throw refuse(call, token, decision, decision.code, decision.message);
      const t = token!;

      const literal = guard.checkLiteralHost(decision.target.hostname, t.provider.allowPrivateNetwork);
      if (!literal.ok) throw refuse(call, t, decision, 'target_not_allowed', refusalMessage(decision.target.hostname, literal.range, literal.kind, t.providerId));

      const declaredLength = Number(call.headers['content-length'] ?? 0);
      if (declaredLength > limits.bodyLimitBytes) throw refuse(call, t, decision, 'body_too_large', `The gateway forwards bodies up to ${limits.bodyLimitBytes} bytes.`);

      let secret = accessTokens.peek(t);
      const awaitedSecret = secret === undefined;
      if (secret === undefined) {
        try {
          secret = await accessTokens.accessTokenFor(t);
        } catch (err) {
          if (isCustodyError(err)) throw refuse(call, t, decision, err.code, err.message);
          throw err;
        }
      }
      // Something was awaited (the token's view, the credential): the token may have changed
      // meanwhile (a revocation committed, and a view read before it never enters the cache). If
      // the cache no longer holds the view this call was decided on, decide again on what it
      // holds now, before anything is sent.
      if ((cached === undefined || awaitedSecret) && cache.peek(call.tokenId) !== t) {
        const now = await cache.get(call.tokenId);
        const again = decideCall(now, facts);
        if (!again.ok) throw refuse(call, now, again, again.code, again.message);
      }
      const headers = upstreamRequestHeaders(call.headers);
      headers.authorization = `Bearer ${secret.reveal()}`;

      // The caller left while this call was being decided: nothing to forward, and no close event
      // is coming to give a share back, so none is taken.
      if (res.destroyed || res.closed || call.connection?.destroyed) throw refuse(call, t, decision, 'upstream_unavailable', 'The caller closed the connection before the call was forwarded.');
      // The tenant's and the workload's share of this provider's connections (call-guard.ts).
      const origin = decision.target.origin;
      const shareKey = { providerId: t.providerId, tenantId: t.tenantId, workload: call.principal.workload, origin };
      const overShare = share.acquire(shareKey);
      if (overShare === 'origin') {
        throw refuse(call, t, decision, 'gateway_overloaded', `All ${limits.connectionsPerOrigin} of the gateway's connections to ${decision.host} are in use; retry shortly.`);
      }
      if (overShare) {
        const cap = overShare === 'tenant' ? limits.maxCallsPerTenant : limits.maxCallsPerWorkload;
        const who = overShare === 'tenant' ? 'This tenant' : 'This workload';
        throw refuse(call, t, decision, 'concurrency_limited', `${who} already has ${cap} calls in flight to this provider, its share of the gateway's connections; retry when one has finished.`);
      }

      // Who the call is, for the log line of a cut (never the path or a credential).
      const relay = new ResponseRelay(res, call.startedAt, { tokenId: call.tokenId, workload: call.principal.workload, template: decision.template });
      let bodyTooLarge = false;
      let body: Readable | undefined;
      if (call.body && hasBody(call.headers)) {
        const limiter = limitBody(limits.bodyLimitBytes, relay);
        limiter.on('error', (err) => {
          if (err instanceof BodyTooLargeError) bodyTooLarge = true;
        });
        limiter.once('finish', () => (relay.bodyOpen = false));
        relay.bodyOpen = true;
        body = call.body.pipe(limiter);
        call.body.on('error', (err) => limiter.destroy(err));
      }

      const answered = relay.answered;
      // Whichever comes first, once: the response's close, or (for a response still queued behind
      // an earlier pipelined one, which has no socket yet) its connection's close.
      let over = false;
      const queuedOn = res.socket ? null : (call.connection ?? null);
      const end = () => {
        if (over) return;
        over = true;
        // undici may keep the relay a while after the call (see release): it must not keep this closure.
        relay.ended = null;
        queuedOn?.removeListener('close', end);
        share.release(shareKey);
        watchdog.untrack(relay);
        relay.closed();
        const delivered = res.writableFinished && !relay.failed;
        // A caller gone before the end aborts the upstream call (queued, waiting or streaming).
        if (!delivered) relay.abort();
        if (!relay.started) return; // refused below, and recorded there
        const errorCode = delivered ? null : relay.cutReason ? cutCode(relay.cutReason) : 'upstream_unavailable';
        recorder.record(usage(call, t, decision, delivered ? 'forwarded' : 'failed', relay.statusCode, errorCode));
        call.onClose?.();
      };
      res.once('close', end);
      queuedOn?.once('close', end);
      relay.ended = end;
      watchdog.track(relay);
      guard.dispatcherFor(t.provider.allowPrivateNetwork).dispatch(
        {
          origin: decision.target.origin,
          path: decision.requestPath,
          method: call.method as Dispatcher.HttpMethod,
          headers,
          body: body ?? null,
          headersTimeout: limits.upstreamTimeoutMs,
          bodyTimeout: limits.upstreamTimeoutMs,
        },
        relay,
      );
      try {
        await answered;
      } catch (err) {
        const code = errorCodeOf(err, bodyTooLarge);
        if (code === 'upstream_unavailable' && !res.destroyed) logger.warn({ tokenId: call.tokenId, host: decision.host, err: (err as Error).message }, 'gateway upstream call failed');
        const refused = code === 'target_not_allowed' ? targetRefusalOf(err) : null;
        throw refuse(call, t, decision, code, refused ? refusalMessage(refused.host, refused.range, refused.kind, t.providerId) : err instanceof CallCutError ? cutMessage(err.reason) : undefined);
      }
    },

    /** Starts hearing other instances' changes (PostgreSQL LISTEN), and the retention of usage events. */
    async start(): Promise<void> {
      if (listener) return;
      if (!pruneTimer) schedulePrune(FIRST_PRUNE_AFTER_MS);
      listener = await storage.dialect.listen(deps.database, TOKEN_CHANGES_CHANNEL, {
        onMessage: (id) => {
          if (id === EVERY_TOKEN) cache.invalidateAll();
          else if (id.startsWith(PROVIDER_CHANGE_PREFIX)) cache.invalidateProvider(id.slice(PROVIDER_CHANGE_PREFIX.length));
          else cache.invalidate(id);
        },
        // Anything announced while the connection was down is lost: forget everything.
        onConnected: () => cache.invalidateAll(),
        onError: (err) => logger.warn({ err: err.message }, 'gateway change listener lost its connection; reconnecting'),
      });
    },

    /** Graceful shutdown: stop listening, close upstream pools, write every queued usage event. */
    async close(): Promise<void> {
      if (pruneTimer) clearTimeout(pruneTimer);
      pruneTimer = null;
      watchdog.close();
      await pruning?.catch(() => 0);
      const l = listener;
      listener = null;
      if (l) await l.close();
      await guard.close().catch(() => {});
      await recorder.close();
    },

    pruneUsage,
    /** Writes queued usage events now (tests; shutdown uses close). */
    flushUsage: () => recorder.flush(),
    /** Forgets a token everywhere in this instance (e.g. after its credential was replaced). */
    invalidate: (tokenId: string) => cache.invalidate(tokenId),
    get cachedTokens() {
      return cache.size;
    },
    /** Calls in flight to a provider origin (tests, metrics). */
    inFlight: (origin: string) => share.inFlight(origin),
    /** Calls the watchdog cut so far, by reason (metrics). */
    cutCounts: () => cutCounts as ReadonlyMap<CutReason, number>,
    /** Shutdown, once its grace period is over: every call still in flight is cut (answered 503, or broken off). */
    cutAll: () => watchdog.cutAll('shutdown'),
  };
}

export type GatewayService = ReturnType<typeof createGatewayService>;
