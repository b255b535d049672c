import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DURATION_BUCKETS, createRequestMetrics } from './request-metrics.ts';

describe('request metrics', () => {
  it('export exactly what prom-client Counter and Histogram export for the same requests', async () => {
    const ours = new Registry();
    const observe = createRequestMetrics(ours).observe;
    const theirs = new Registry();
    const counter = new Counter({ name: 'custody_http_requests_total', help: 'HTTP requests', labelNames: ['method', 'route', 'status'], registers: [theirs] });
    const histogram = new Histogram({ name: 'custody_http_request_duration_seconds', help: 'HTTP request duration', labelNames: ['method', 'route'], buckets: [...DURATION_BUCKETS], registers: [theirs] });
    const requests: [string, string, number, number][] = [
      ['GET', '/gw/:tokenId/*', 200, 0.0004],
      ['GET', '/gw/:tokenId/*', 200, 0.001], // exactly on a bound: counted in that bucket
      ['GET', '/gw/:tokenId/*', 403, 0.0031],
      ['POST', '/gw/:tokenId/*', 502, 7.5], // above every bound: +Inf only
      ['GET', '/v1/tokens', 200, 0.02],
      ['GET', '/gw/:tokenId/*', 200, 2.5],
      ['GET', 'unmatched', 404, 0],
      ['GET', '/v1/tokens', 401, 0.1],
    ];
    for (const [method, route, status, seconds] of requests) {
      observe(method, route, status, seconds);
      counter.inc({ method, route, status: String(status) });
      histogram.observe({ method, route }, seconds);
    }
    const lines = (text: string) => text.split('\n').filter((l) => l !== '').sort();
    const mine = await ours.metrics();
    expect(lines(mine)).toEqual(lines(await theirs.metrics()));
    expect(mine).toContain('custody_http_request_duration_seconds_bucket{le="0.001",method="GET",route="/gw/:tokenId/*"} 2');
    expect(mine).toContain('custody_http_requests_total{method="GET",route="/gw/:tokenId/*",status="200"} 3');
  });
});
