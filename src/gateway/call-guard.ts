/**
 * What keeps one tenant's calls from holding the gateway for everyone else (DESIGN §7: one tenant
 * can never slow another):
 *
 * - a **fair share** of each provider origin's upstream connections: a tenant may have at most
 *   `maxCallsPerTenant` calls in flight to one origin, and one workload of it `maxCallsPerWorkload`,
 *   below the pool's size, so a tenant at its cap gets `429 concurrency_limited` while the others'
 *   calls still find a free connection;
 * - a **watchdog** over the calls in flight: a caller's body that stops arriving, or a response the
 *   caller stops reading (the provider paused for it), is cut after `idleTimeoutMs`, and no call
 *   lasts past `callDeadlineMs`. undici's own timeouts cover only the provider's side: its headers
 *   timeout starts once the request body has been sent, so a caller that sends headers and then
 *   stalls its body would otherwise hold a connection for ever.
 *
 * The watchdog is one timer for all calls, sweeping a few times per idle period: a call costs a
 * set insertion and a counter per body chunk on the hot path, never a timer of its own.
 */

/** Why the watchdog cut a call. */
export type CutReason = 'body_idle' | 'body_too_slow' | 'response_idle' | 'response_too_slow' | 'deadline' | 'shutdown';

/** A call the watchdog watches (the gateway's response relay). */
export interface WatchedCall {
  /** performance.now() when the call arrived. */
  readonly startedAt: number;
  /** Whether the caller's body is still arriving. */
  bodyOpen: boolean;
  /** Incremented for each chunk of the caller's body. */
  bodyChunks: number;
  /** Bytes of the caller's body so far. */
  bodyBytes: number;
  /** performance.now() when the caller stopped reading the response (the provider was paused), else 0. */
  pausedAt: number;
  /** performance.now() when the response began (0 before), and the bytes of it handed to the caller. */
  responseStartedAt: number;
  responseBytes: number;
  /** Stops the call: answers an error if nothing was sent yet, else breaks the response off. */
  cut(reason: CutReason): void;
}

interface Progress {
  chunks: number;
  at: number;
  /** The current rate window: when it began, and the body and response bytes at that moment. */
  windowAt: number;
  windowBody: number;
  windowResponse: number;
}

export interface CallWatchdog {
  track(call: WatchedCall): void;
  untrack(call: WatchedCall): void;
  /** Cuts every call in flight (a shutdown's grace period is over). */
  cutAll(reason: CutReason): void;
  /** Checks every call now (the timer does this; tests may too). */
  sweep(now?: number): void;
  readonly size: number;
  close(): void;
}

export function createCallWatchdog(opts: { idleTimeoutMs: number; callDeadlineMs: number; minBytesPerSecond?: number; onCut?: (call: WatchedCall, reason: CutReason) => void }): CallWatchdog {
  const { idleTimeoutMs, callDeadlineMs } = opts;
  const minRate = opts.minBytesPerSecond ?? 0;
  const calls = new Map<WatchedCall, Progress>();
  // A few sweeps per idle period: a stalled call is cut between 1× and 1.25× the timeout.
  const everyMs = Math.max(20, Math.min(1_000, Math.floor(Math.min(idleTimeoutMs, callDeadlineMs) / 4)));
  let timer: NodeJS.Timeout | null = null;

  function sweep(now = performance.now()) {
    for (const [call, progress] of calls) {
      let reason: CutReason | null = null;
      if (now - call.startedAt >= callDeadlineMs) reason = 'deadline';
      else if (call.pausedAt > 0 && now - call.pausedAt >= idleTimeoutMs) reason = 'response_idle';
      else if (call.bodyOpen) {
        if (call.bodyChunks !== progress.chunks) {
          progress.chunks = call.bodyChunks;
          progress.at = now;
        } else if (now - progress.at >= idleTimeoutMs) reason = 'body_idle';
      }
      // A trickle that moves just often enough never idles: over each window of one idle period, a
      // body still arriving, and a response the caller holds the provider back for, must move at
      // the minimum rate (per window, so an early burst buys no time later).
      if (!reason && minRate > 0 && now - progress.windowAt >= idleTimeoutMs) {
        const owed = (minRate * (now - progress.windowAt)) / 1000;
        if (call.bodyOpen && call.bodyBytes - progress.windowBody < owed) reason = 'body_too_slow';
        else if (call.pausedAt > 0 && call.responseStartedAt > 0 && call.responseBytes - progress.windowResponse < owed) reason = 'response_too_slow';
        progress.windowAt = now;
        progress.windowBody = call.bodyBytes;
        progress.windowResponse = call.responseBytes;
      }
      if (reason) {
        calls.delete(call);
        opts.onCut?.(call, reason);
        call.cut(reason);
      }
    }
    if (calls.size === 0 && timer) {
      clearInterval(timer);
      timer = null;
    }
  }

  return {
    track(call) {
      calls.set(call, { chunks: call.bodyChunks, at: call.startedAt, windowAt: call.startedAt, windowBody: call.bodyBytes, windowResponse: call.responseBytes });
      if (!timer) {
        timer = setInterval(sweep, everyMs);
        timer.unref();
      }
    },
    untrack(call) {
      calls.delete(call);
    },
    cutAll(reason) {
      for (const call of [...calls.keys()]) {
        calls.delete(call);
        opts.onCut?.(call, reason);
        call.cut(reason);
      }
    },
    sweep,
    get size() {
      return calls.size;
    },
    close() {
      if (timer) clearInterval(timer);
      timer = null;
      calls.clear();
    },
  };
}

/** Which share a call was refused for, or null when it got a slot. */
export type ShareRefusal = 'tenant' | 'workload' | 'origin' | null;

/** Who a call is, for its share: the provider it calls (every host of it), its tenant and workload, and the host's origin. */
export interface ShareKey {
  providerId: string;
  tenantId: string;
  workload: string | null;
  origin: string;
}

export interface FairShare {
  /** Takes a slot for a call, or says which cap refused it. */
  acquire(key: ShareKey): ShareRefusal;
  /** Gives back a slot taken by acquire (exactly once per successful acquire). */
  release(key: ShareKey): void;
  /** Calls in flight to an origin (metrics, tests). */
  inFlight(origin: string): number;
}

/**
 * Counts calls in flight per provider (per tenant, per workload) and per origin. The tenant's and
 * workload's shares count every host of a provider together, so declaring two names for one
 * server does not double them. The origin's count is capped at its pool size: a call that would
 * only wait inside the pool for a connection is refused at once (`origin`), so a caller is never
 * held past its deadline behind other tenants' calls. Counters that fall to zero are deleted: the
 * maps hold only what is in flight.
 */
export function createFairShare(opts: { maxCallsPerTenant: number; maxCallsPerWorkload: number; connectionsPerOrigin: number }): FairShare {
  // Counted by the key's own strings in nested maps, not by a key built per call: every gateway
  // call takes and gives back a share, and building (and hashing) three new strings twice a call
  // was a measurable part of the gateway's cost (docs/benchmarks.md, gateway).
  interface TenantShare {
    n: number;
    workloads: Map<string, number>;
  }
  const byProvider = new Map<string, Map<string, TenantShare>>();
  const byOrigin = new Map<string, number>();
  const tenantShare = (k: ShareKey) => byProvider.get(k.providerId)?.get(k.tenantId);

  return {
    acquire(k) {
      const tenant = tenantShare(k);
      const workload = k.workload ?? '';
      if (tenant) {
        if (tenant.n >= opts.maxCallsPerTenant) return 'tenant';
        if ((tenant.workloads.get(workload) ?? 0) >= opts.maxCallsPerWorkload) return 'workload';
      }
      const atOrigin = byOrigin.get(k.origin) ?? 0;
      if (atOrigin >= opts.connectionsPerOrigin) return 'origin';
      byOrigin.set(k.origin, atOrigin + 1);
      if (tenant) {
        tenant.n++;
        tenant.workloads.set(workload, (tenant.workloads.get(workload) ?? 0) + 1);
        return null;
      }
      let tenants = byProvider.get(k.providerId);
      if (!tenants) byProvider.set(k.providerId, (tenants = new Map()));
      tenants.set(k.tenantId, { n: 1, workloads: new Map([[workload, 1]]) });
      return null;
    },
    release(k) {
      const atOrigin = (byOrigin.get(k.origin) ?? 0) - 1;
      if (atOrigin <= 0) byOrigin.delete(k.origin);
      else byOrigin.set(k.origin, atOrigin);
      const tenants = byProvider.get(k.providerId);
      const tenant = tenants?.get(k.tenantId);
      if (!tenants || !tenant) return;
      const workload = k.workload ?? '';
      const w = (tenant.workloads.get(workload) ?? 0) - 1;
      if (w <= 0) tenant.workloads.delete(workload);
      else tenant.workloads.set(workload, w);
      // Counters that fall to zero are deleted: the maps hold only what is in flight.
      if (--tenant.n <= 0) {
        tenants.delete(k.tenantId);
        if (tenants.size === 0) byProvider.delete(k.providerId);
      }
    },
    inFlight: (origin) => byOrigin.get(origin) ?? 0,
  };
}
