import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Custody } from './custody.ts';
import { TOKEN_STATES } from '../tokens/token.lifecycle.ts';
import { registerRevocationMetrics } from '../outbox/outbox.metrics.ts';
import { createRequestMetrics } from '../http/request-metrics.ts';

export interface HttpMetrics {
  registry: Registry;
  /** Counts one answered request (Fastify routes through the hook below; the gateway's direct path itself). */
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  /** Stops the timer that keeps the gauges current. */
  close(): void;
}

/** How often the gauges that need a query (tokens by state, the ledger's head, the outbox backlog) are read. */
const GAUGE_REFRESH_MS = 30_000;

/**
 * Prometheus metrics. Labels carry routes and states, never tenant names, ids or credentials, so
 * the endpoint can be scraped without authentication.
 */
export function createMetrics(custody: Custody): HttpMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = createRequestMetrics(registry);
  // Gauges that need a query are read on a timer and kept current between reads by this
  // instance's own changes; a scrape (unauthenticated, as often as anyone likes) reads memory only.
  const tokensByState = new Gauge({ name: 'custody_tokens', help: 'Token records by state (read every 30 s, kept current by this instance between reads)', labelNames: ['state'], registers: [registry] });
  const ledgerHead = new Gauge({ name: 'custody_ledger_last_seq', help: 'Sequence number of the newest ledger entry (read every 30 s)', registers: [registry] });
  const openFindings = new Gauge({ name: 'custody_findings_open', help: 'Live (not resolved) governance findings by type, as of the last sweep', labelNames: ['type'], registers: [registry] });
  const managedShare = new Gauge({
    name: 'custody_managed_share',
    help: 'Share of live tokens passing the practical test, from the findings as of the last sweep (read every 30 s; NaN until this instance has swept)',
    registers: [registry],
  });
  // Unknown until this instance's first sweep (not 0, which would read as "nothing is managed").
  managedShare.set(Number.NaN);
  const refresh = async () => {
    const [rows, head] = await Promise.all([custody.tokens.countByState(), custody.ledger.head()]);
    // Counted at the end of each sweep: a count over millions of findings every 30 s would hold the serving thread.
    const findings = custody.findings.openCounts();
    // Every state is a series, 0 included: a series that vanishes reads as "no data", not "none".
    tokensByState.reset();
    for (const state of TOKEN_STATES) tokensByState.set({ state }, 0);
    for (const r of rows) tokensByState.set({ state: r.state }, r.count);
    ledgerHead.set(head?.seq ?? 0);
    if (findings) {
      openFindings.reset();
      for (const f of findings) openFindings.set({ type: f.type }, f.n);
      const live = rows.filter((r) => r.state === 'active' || r.state === 'suspended').reduce((s, r) => s + r.count, 0);
      const unmanaged = findings.find((f) => f.type === 'unmanaged')?.n ?? 0;
      managedShare.set(live === 0 ? 1 : Math.max(0, live - unmanaged) / live);
    }
  };
  const refreshQuietly = () => refresh().catch((err: Error) => custody.logger.warn({ err: err.message }, 'reading metrics gauges failed'));
  void refreshQuietly();
  const timer = setInterval(refreshQuietly, GAUGE_REFRESH_MS);
  timer.unref();
  // Between reads, this instance's own commits: each new record, each change of state.
  custody.tokens.onCommittedInsert(() => tokensByState.inc({ state: 'active' }));
  custody.tokens.onCommittedChange((c) => {
    tokensByState.dec({ state: c.from });
    tokensByState.inc({ state: c.to });
  });
  const refusedCallbacks = new Counter({
    name: 'custody_consent_callbacks_refused_total',
    help: 'Consent callbacks refused without naming a flow Custody started (no state, an unknown state, a replay): counted, never ledgered',
    labelNames: ['reason'],
    registers: [registry],
  });
  custody.consent.onAnonymousRefusal((reason) => refusedCallbacks.inc({ reason }));
  // Leak reports refused before or after their signature: counted here, never stored (they are anonymous until verified).
  const refusedLeakReports = new Counter({ name: 'custody_leak_reports_refused_total', help: 'Leak reports refused (no signature, unknown key id, bad signature, malformed body): counted, never stored', labelNames: ['reason'], registers: [registry] });
  custody.leaks.onRefusal((reason) => refusedLeakReports.inc({ reason }));
  const leakItems = new Counter({ name: 'custody_leak_items_total', help: 'Strings looked up by leak reports and checks, by how they were labelled', labelNames: ['via', 'label'], registers: [registry] });
  custody.leaks.onLabels((via, label, n) => leakItems.inc({ via, label }, n));
  // A signed report sent again (same reporter, same bytes, within 30 days): answered with its labels, nothing written.
  const replayedLeakReports = new Counter({ name: 'custody_leak_reports_replayed_total', help: 'Signed leak reports received again (same reporter and body within 30 days): answered as before, nothing written', registers: [registry] });
  custody.leaks.onReplay(() => replayedLeakReports.inc());
  // Shared Signals pushes by outcome: anonymous refusals are counted here and rolled up in the ledger per minute.
  const ssfPushes = new Counter({ name: 'custody_ssf_sets_total', help: 'Security Event Tokens pushed to /v1/signals/ssf, by outcome (accepted or the RFC 8935 refusal code)', labelNames: ['outcome'], registers: [registry] });
  custody.signals.onOutcome((outcome) => ssfPushes.inc({ outcome }));
  const transitions = new Counter({ name: 'custody_token_transitions_total', help: 'Committed lifecycle transitions', labelNames: ['transition'], registers: [registry] });
  custody.tokens.onCommittedChange((change) => transitions.inc({ transition: change.transition }));
  // The gateway's watchdog keeps its own counts (it serves the hot path); read at scrape time, from memory.
  new Counter({
    name: 'custody_gateway_calls_cut_total',
    help: 'Gateway calls cut by the watchdog: a stalled or too slow body or reading, the deadline, a shutdown',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of custody.gateway.cutCounts()) this.inc({ reason }, n);
    },
  });
  // Detection keeps its own counts (it runs beside the gateway's hot path); read at scrape time, from memory.
  new Counter({
    name: 'custody_detection_events_total',
    help: 'Committed gateway usage events handed to detection, by what became of them: judged against baselines, or dropped because its queue was full (use after revocation is alerted either way)',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      const s = custody.detection.stats();
      this.reset();
      this.inc({ result: 'received' }, s.receivedEvents);
      this.inc({ result: 'judged' }, s.judgedEvents);
      this.inc({ result: 'dropped' }, s.droppedEvents);
    },
  });
  new Gauge({
    name: 'custody_detection_queued_events',
    help: 'Usage events waiting to be judged by detection',
    registers: [registry],
    collect() {
      this.set(custody.detection.stats().queuedEvents);
    },
  });
  // Open alerts are counted through the index of open alerts only, at most once every few seconds
  // however often /metrics is scraped (alert.service openCounts).
  new Gauge({
    name: 'custody_alerts_open',
    help: 'Alerts not resolved (open or acknowledged), by kind and severity (counted at most every 5 s)',
    labelNames: ['kind', 'severity'],
    registers: [registry],
    async collect() {
      const counts = await custody.alerts.openCounts().catch((err: Error) => {
        custody.logger.warn({ err: err.message }, 'counting open alerts failed');
        return null;
      });
      if (!counts) return;
      this.reset();
      for (const c of counts) this.set({ kind: c.kind, severity: c.severity }, c.n);
    },
  });
  const revocation = registerRevocationMetrics(registry, { onCommittedChange: custody.tokens.onCommittedChange, onOutcome: custody.upstreamRevocation.onOutcome, pending: custody.outbox.pending });

  return {
    registry,
    observeRequest: requests.observe,
    close: () => {
      clearInterval(timer);
      revocation.close();
    },
  };
}

/** The request hook and GET /metrics. */
export function installMetrics(app: FastifyInstance, metrics: HttpMetrics) {
  const { registry } = metrics;
  app.addHook('onResponse', async (request, reply) => {
    metrics.observeRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
  });

  app.addHook('onClose', async () => metrics.close());
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.type(registry.contentType);
    return registry.metrics();
  });
}
