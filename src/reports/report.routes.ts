import type { FastifyInstance } from 'fastify';
import { mount } from '../http/mount.ts';
import { reportEndpoints as e } from './report.contract.ts';
import type { ReportService } from './report.service.ts';

// Nothing may load into the HTML report, nor run in it: it is read, printed and filed as evidence.
const HTML_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function reportRoutes(reports: ReportService) {
  return async (app: FastifyInstance) => {
    mount(app, e.killTimes, async ({ principal, query: q }) => reports.killTimes(principal, q));
    mount(app, e.compliance, async ({ principal, query: q, reply }) => {
      const rendered = await reports.render(principal, { tenantId: q.tenantId, from: q.from, to: q.to, format: q.format, table: q.table, connections: q.connections });
      reply
        .status(200)
        .header('content-type', rendered.contentType)
        .header('cache-control', 'no-store')
        .header('x-content-type-options', 'nosniff')
        // The signed JSON goes out exactly as it was serialised (its schema documents it); CSV and HTML are text.
        .serializer((body: string) => body);
      if (q.format === 'html') reply.header('content-security-policy', HTML_POLICY);
      if (q.format === 'csv') reply.header('content-disposition', `attachment; filename="${rendered.filename}"`);
      return reply.send(rendered.body);
    });
  };
}
