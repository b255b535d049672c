import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Custody } from './custody.ts';
import { registerRevocationMetrics } from '../outbox/outbox.metrics.ts';
import { createRequestMetrics } from '../http/request-metrics.ts';

export interface HttpMetrics {
  registry: Registry;
  /** Counts one answered request (Fastify routes through the hook below; the gateway's direct path itself). */
  observeRequest(method: string, route: string, status: number, seconds: number): void;
}

/**
 * Prometheus metrics. Labels carry routes and states, never tenant names, ids or credentials, so
 * the endpoint can be scraped without authentication.
 */
export function createMetrics(custody: Custody): HttpMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = createRequestMetrics(registry);
  new Gauge({
    name: 'custody_tokens',
    help: 'Token records by state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const rows = await custody.tokens.countByState();
      this.reset();
      for (const r of rows) this.set({ state: r.state }, r.count);
    },
  });
  new Gauge({
    name: 'custody_ledger_last_seq',
    help: 'Sequence number of the newest ledger entry',
    registers: [registry],
    async collect() {
      this.set((await custody.ledger.head())?.seq ?? 0);
    },
  });
  const refusedCallbacks = new Counter({
    name: 'custody_consent_callbacks_refused_total',
    help: 'Consent callbacks refused without naming a flow Custody started (no state, an unknown state, a replay): counted, never ledgered',
    labelNames: ['reason'],
    registers: [registry],
  });
  custody.consent.onAnonymousRefusal((reason) => refusedCallbacks.inc({ reason }));
  const transitions = new Counter({ name: 'custody_token_transitions_total', help: 'Committed lifecycle transitions', labelNames: ['transition'], registers: [registry] });
  custody.tokens.onCommittedChange((change) => transitions.inc({ transition: change.transition }));
  registerRevocationMetrics(registry, { onCommittedChange: custody.tokens.onCommittedChange, onOutcome: custody.upstreamRevocation.onOutcome, pending: custody.outbox.pending });

  return {
    registry,
    observeRequest: requests.observe,
  };
}

/** The request hook and GET /metrics. */
export function installMetrics(app: FastifyInstance, metrics: HttpMetrics) {
  const { registry } = metrics;
  app.addHook('onResponse', async (request, reply) => {
    metrics.observeRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
  });

  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.type(registry.contentType);
    return registry.metrics();
  });
}
