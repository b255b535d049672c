import type { Registry } from 'prom-client';

/** Upper bounds (seconds) of custody_http_request_duration_seconds. */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;

interface Durations {
  labels: { method: string; route: string };
  /** Observations per bucket, not cumulative; the last slot is above every bound (+Inf). */
  perBucket: Float64Array;
  sum: number;
  count: number;
}

interface Requests {
  labels: { method: string; route: string; status: string };
  count: number;
}

interface RouteMethod {
  durations: Durations;
  byStatus: Map<number, Requests>;
}

/**
 * `custody_http_requests_total` (counter) and `custody_http_request_duration_seconds` (histogram),
 * counted in plain numbers and exported in prom-client's format when scraped. prom-client's own
 * Counter and Histogram hash the label set on every call, which would be paid on every gateway
 * call (docs/benchmarks.md has what it cost); here a request is two map lookups and three additions.
 */
export function createRequestMetrics(registry: Registry) {
  const routes = new Map<string, Map<string, RouteMethod>>();

  function slot(method: string, route: string): RouteMethod {
    let methods = routes.get(route);
    if (methods === undefined) routes.set(route, (methods = new Map()));
    let entry = methods.get(method);
    if (entry === undefined) {
      entry = { durations: { labels: { method, route }, perBucket: new Float64Array(DURATION_BUCKETS.length + 1), sum: 0, count: 0 }, byStatus: new Map() };
      methods.set(method, entry);
    }
    return entry;
  }

  function* all(): Generator<RouteMethod> {
    for (const methods of routes.values()) yield* methods.values();
  }

  const requests = {
    name: 'custody_http_requests_total',
    help: 'HTTP requests',
    type: 'counter',
    aggregator: 'sum',
    get: async () => {
      const values = [];
      for (const entry of all()) for (const r of entry.byStatus.values()) values.push({ value: r.count, labels: { ...r.labels } });
      return { name: requests.name, help: requests.help, type: requests.type, values, aggregator: requests.aggregator };
    },
  };

  const duration = {
    name: 'custody_http_request_duration_seconds',
    help: 'HTTP request duration',
    type: 'histogram',
    aggregator: 'sum',
    get: async () => {
      const values = [];
      for (const { durations: d } of all()) {
        let cumulative = 0;
        for (let i = 0; i < DURATION_BUCKETS.length; i++) {
          cumulative += d.perBucket[i]!;
          values.push({ value: cumulative, labels: { le: DURATION_BUCKETS[i], ...d.labels }, metricName: `${duration.name}_bucket` });
        }
        values.push({ value: d.count, labels: { le: '+Inf', ...d.labels }, metricName: `${duration.name}_bucket` });
        values.push({ value: d.sum, labels: { ...d.labels }, metricName: `${duration.name}_sum` });
        values.push({ value: d.count, labels: { ...d.labels }, metricName: `${duration.name}_count` });
      }
      return { name: duration.name, help: duration.help, type: duration.type, values, aggregator: duration.aggregator };
    },
  };

  // The registry reads any object with a name and get(); these two are exported like prom-client's own.
  registry.registerMetric(requests as never);
  registry.registerMetric(duration as never);

  return {
    observe(method: string, route: string, status: number, seconds: number): void {
      const entry = slot(method, route);
      let r = entry.byStatus.get(status);
      if (r === undefined) entry.byStatus.set(status, (r = { labels: { method, route, status: String(status) }, count: 0 }));
      r.count++;
      const d = entry.durations;
      let i = 0;
      while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
      d.perBucket[i]!++;
      d.sum += seconds;
      d.count++;
    },
  };
}
