import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { TokenStateChange } from '../tokens/token.service.ts';
import type { UpstreamOutcome } from './upstream-revocation.service.ts';

const KILL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600];

/**
 * Kill time in Prometheus: requested → locally effective, and requested → upstream confirmed, by
 * upstream outcome; plus the outbox backlog. Labels carry outcomes only, never ids.
 */
export function registerRevocationMetrics(
  registry: Registry,
  sources: {
    onCommittedChange(listener: (c: TokenStateChange) => void): void;
    onOutcome(listener: (o: UpstreamOutcome) => void): void;
    pending(): Promise<number>;
  },
): { close(): void } {
  const local = new Histogram({ name: 'custody_revocation_local_seconds', help: 'Revocation requested → locally effective (committed)', buckets: KILL_BUCKETS, registers: [registry] });
  const upstream = new Histogram({
    name: 'custody_revocation_upstream_seconds',
    help: 'Revocation requested → upstream confirmed, by outcome (verified, unverifiable, failed)',
    labelNames: ['upstream'],
    buckets: KILL_BUCKETS,
    registers: [registry],
  });
  const outcomes = new Counter({ name: 'custody_revocation_upstream_total', help: 'Upstream revocation outcomes', labelNames: ['upstream'], registers: [registry] });
  // Read on a timer, never per scrape: a scrape needs no key and may come as often as anyone likes.
  const backlog = new Gauge({ name: 'custody_outbox_pending', help: 'Outbox jobs not yet delivered or given up (read every 30 s)', registers: [registry] });
  const read = () => sources.pending().then((n) => backlog.set(n), () => undefined);
  void read();
  const timer = setInterval(read, 30_000);
  timer.unref();
  sources.onCommittedChange((c) => {
    if (c.to === 'revoked') local.observe(Math.max(0, Date.parse(c.at) - Date.parse(c.requestedAt)) / 1000);
  });
  sources.onCommittedChange((c) => {
    if (c.upstreamRevocation === 'pending') backlog.inc();
  });
  sources.onOutcome((o) => {
    backlog.dec();
    outcomes.inc({ upstream: o.status });
    upstream.observe({ upstream: o.status }, Math.max(0, Date.parse(o.confirmedAt) - Date.parse(o.requestedAt)) / 1000);
  });
  return { close: () => clearInterval(timer) };
}
