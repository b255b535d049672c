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
export type CutReason = 'body_idle' | 'response_idle' | 'deadline';

/** A call the watchdog watches (the gateway's response relay). */
export interface WatchedCall {
  /** performance.now() when the call arrived. */
  readonly startedAt: number;
  /** Whether the caller's body is still arriving. */
  bodyOpen: boolean;
  /** Incremented for each chunk of the caller's body. */
  bodyChunks: number;
  /** performance.now() when the caller stopped reading the response (the provider was paused), else 0. */
  pausedAt: number;
  /** Stops the call: answers an error if nothing was sent yet, else breaks the response off. */
  cut(reason: CutReason): void;
}

interface Progress {
  chunks: number;
  at: number;
}

export interface CallWatchdog {
  track(call: WatchedCall): void;
  untrack(call: WatchedCall): void;
  /** Checks every call now (the timer does this; tests may too). */
  sweep(now?: number): void;
  readonly size: number;
  close(): void;
}

export function createCallWatchdog(opts: { idleTimeoutMs: number; callDeadlineMs: number; onCut?: (reason: CutReason) => void }): CallWatchdog {
  const { idleTimeoutMs, callDeadlineMs } = opts;
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
      if (reason) {
        calls.delete(call);
        opts.onCut?.(reason);
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
      calls.set(call, { chunks: call.bodyChunks, at: call.startedAt });
      if (!timer) {
        timer = setInterval(sweep, everyMs);
        timer.unref();
      }
    },
    untrack(call) {
      calls.delete(call);
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
export type ShareRefusal = 'tenant' | 'workload' | null;

export interface FairShare {
  /** Takes a slot for a call of this tenant and workload to this origin, or says which cap refused it. */
  acquire(origin: string, tenantId: string, workload: string | null): ShareRefusal;
  /** Gives back a slot taken by acquire (exactly once per successful acquire). */
  release(origin: string, tenantId: string, workload: string | null): void;
  /** Calls in flight per origin (metrics, tests). */
  inFlight(origin: string): number;
}

/**
 * Counts calls in flight per origin, per tenant and per workload. Counters that fall to zero are
 * deleted, so the maps hold only what is in flight: bounded by the calls themselves.
 */
export function createFairShare(opts: { maxCallsPerTenant: number; maxCallsPerWorkload: number }): FairShare {
  const byOrigin = new Map<string, { total: number; tenants: Map<string, number>; workloads: Map<string, number> }>();
  const workloadKey = (tenantId: string, workload: string | null) => `${tenantId}\u0000${workload ?? ''}`;

  return {
    acquire(origin, tenantId, workload) {
      let o = byOrigin.get(origin);
      if (!o) byOrigin.set(origin, (o = { total: 0, tenants: new Map(), workloads: new Map() }));
      const t = o.tenants.get(tenantId) ?? 0;
      if (t >= opts.maxCallsPerTenant) return 'tenant';
      const wk = workloadKey(tenantId, workload);
      const w = o.workloads.get(wk) ?? 0;
      if (w >= opts.maxCallsPerWorkload) return 'workload';
      o.tenants.set(tenantId, t + 1);
      o.workloads.set(wk, w + 1);
      o.total++;
      return null;
    },
    release(origin, tenantId, workload) {
      const o = byOrigin.get(origin);
      if (!o) return;
      const t = (o.tenants.get(tenantId) ?? 1) - 1;
      if (t <= 0) o.tenants.delete(tenantId);
      else o.tenants.set(tenantId, t);
      const wk = workloadKey(tenantId, workload);
      const w = (o.workloads.get(wk) ?? 1) - 1;
      if (w <= 0) o.workloads.delete(wk);
      else o.workloads.set(wk, w);
      o.total--;
      if (o.total <= 0) byOrigin.delete(origin);
    },
    inFlight: (origin) => byOrigin.get(origin)?.total ?? 0,
  };
}
