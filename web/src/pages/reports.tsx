import { page } from './index.tsx';
import { call, queryString } from '../api.ts';
import { reportEndpoints } from '../../../src/reports/report.contract.ts';
import { REPORT_TABLES } from '../../../src/reports/report.types.ts';
import { trendEndpoints } from '../../../src/trends/trend.contract.ts';
import { Bars, PageHeader, Show, Sparkline, Time, percent, useApi } from '../ui.tsx';
import { ClearFilters, Empty, Id, TextFilters, num, pick, queryFor, useFilters, TenantFilter } from '../components/gov-common.tsx';

const SEVERITY_BAR: Record<string, string> = { critical: 'bad', high: 'bad', medium: 'warn', low: 'ok' };

function Figure({ label, value, sub }: { label: string; value: string; sub?: string }) {
  return (
    <div className="card">
      <h2>{label}</h2>
      <div className="big-figure">{value}</div>
      {sub ? <div className="small muted">{sub}</div> : null}
    </div>
  );
}

function Downloads({ query }: { query: Record<string, string> }) {
  const href = (extra: Record<string, string>) => `${reportEndpoints.compliance.path}${queryString({ ...query, ...extra })}`;
  return (
    <section aria-labelledby="downloads-h" className="card">
      <h2 id="downloads-h">Download</h2>
      <p className="small">
        <a href={href({ format: 'json' })} download="compliance-report.json">
          Signed JSON
        </a>{' '}
        ·{' '}
        <a href={href({ format: 'html' })} target="_blank" rel="noopener">
          Printable HTML
        </a>
      </p>
      <p className="small">
        CSV tables:{' '}
        {REPORT_TABLES.map((t, i) => (
          <span key={t}>
            {i ? ', ' : ''}
            <a href={href({ format: 'csv', table: t })} download={`compliance-${t}.csv`}>
              {t.replaceAll('_', ' ')}
            </a>
          </span>
        ))}
      </p>
      <p className="small muted">The JSON is signed with the ledger key: check it with <code>custody report verify FILE</code>.</p>
    </section>
  );
}

function Trends({ tenantId }: { tenantId: string | undefined }) {
  const trends = useApi(() => call(trendEndpoints.trends, { query: tenantId ? { tenantId } : {} }), [tenantId]);
  return (
    <section aria-labelledby="trends-h">
      <h2 id="trends-h">Trends</h2>
      <Show loaded={trends}>
        {(t) => {
          if (t.points.length === 0) return <Empty>No daily snapshots yet for {t.from} to {t.to}: a snapshot follows each governance sweep (and a daily timer).</Empty>;
          const types = [...new Set(t.points.flatMap((p) => Object.keys(p.findings)))].sort();
          const total = t.points.map((p) => ({ at: p.day, value: Object.values(p.findings).reduce((a, b) => a + b, 0) }));
          return (
            <div className="cards">
              <div className="card">
                <h2>Managed share</h2>
                <Sparkline label="Managed share by day" points={t.points.filter((p) => p.managedShare !== null).map((p) => ({ at: p.day, value: p.managedShare! }))} format={(v) => percent(v)} />
              </div>
              <div className="card">
                <h2>Live tokens</h2>
                <Sparkline label="Live tokens by day" points={t.points.map((p) => ({ at: p.day, value: p.tokens }))} format={num} />
              </div>
              <div className="card">
                <h2>Live findings</h2>
                <Sparkline label="Live findings by day" points={total} format={num} />
                <p className="small muted">
                  {t.from} to {t.to}; types seen: {types.map((x) => x.replaceAll('_', ' ')).join(', ') || 'none'}
                </p>
              </div>
            </div>
          );
        }}
      </Show>
    </section>
  );
}

function Reports() {
  const filters = useFilters();
  const names = ['tenantId', 'from', 'to'];
  // The page shows every figure but the connections (the costliest part at scale: every live
  // token's provider and scopes): those are in each download, and on the providers page.
  const report = useApi(() => call(reportEndpoints.compliance, { query: queryFor(reportEndpoints.compliance, filters, names, { format: 'json', connections: 'omit' }) }), [filters.tenantId, filters.from, filters.to]);
  return (
    <>
      <PageHeader title="Reports" />
      <p className="muted">
        The compliance report: managed share, findings mapped to OWASP NHI and NIST, accountability gaps, exceptions, review coverage and kill times. Kill times and campaigns count the period; every other figure is the state now. The providers connected to each tenant, with their scopes, are in each download below (and on the providers page).
      </p>
      <div className="filters">
        <TenantFilter value={filters.tenantId} />
        <TextFilters
          values={filters}
          fields={[{ name: 'from', label: 'From (UTC date)', placeholder: 'YYYY-MM-DD' }, { name: 'to', label: 'To (UTC date, exclusive)', placeholder: 'YYYY-MM-DD' }]}
        />
        <ClearFilters names={names} />
      </div>
      <Show loaded={report}>
        {({ report: r }) => (
          <>
            <p className="small muted">
              {r.scope.tenantId ? (
                <>
                  Tenant {r.scope.tenantName ?? ''} <Id id={r.scope.tenantId} />
                </>
              ) : (
                `Every tenant (${num(r.scope.tenants)})`
              )}{' '}
              · period <Time at={r.period.from} /> up to <Time at={r.period.to} /> (end excluded) · generated <Time at={r.generatedAt} /> · last sweep <Time at={r.findings.sweptAt} />
            </p>
            <div className="cards">
              <Figure label="Managed share" value={percent(r.managedShare.share)} sub={`${num(r.managedShare.managed)} of ${num(r.managedShare.live)} live tokens`} />
              <Figure label="Live findings" value={num(r.findings.total)} sub={Object.entries(r.findings.bySeverity).map(([k, v]) => `${k} ${num(v)}`).join(' · ')} />
              <Figure label="Review coverage" value={percent(r.reviews.coverage)} sub={`${num(r.reviews.reviewOverdue)} overdue`} />
              <Figure label="Exceptions in force" value={num(r.exceptions.inForce)} />
              <Figure label="Revocations in period" value={num(r.killTime.revocations)} sub={`local p50 ${r.killTime.locallyEffective.p50Ms === null ? '—' : `${num(r.killTime.locallyEffective.p50Ms)} ms`} · upstream verified p50 ${r.killTime.upstreamVerified.p50Ms === null ? '—' : `${num(r.killTime.upstreamVerified.p50Ms)} ms`}`} />
              <Figure label="Lacking accountability" value={num(r.accountability.lackingOwner + r.accountability.lackingApprover + r.accountability.lackingPurpose)} sub={`owner ${num(r.accountability.lackingOwner)} · approver ${num(r.accountability.lackingApprover)} · purpose ${num(r.accountability.lackingPurpose)}`} />
            </div>
            <div className="cards">
              <section className="card" aria-labelledby="by-type-h">
                <h2 id="by-type-h">Findings by type</h2>
                {r.findings.byType.length ? <Bars label="Findings by type" rows={r.findings.byType.map((x) => ({ label: x.type.replaceAll('_', ' '), value: x.count, kind: SEVERITY_BAR[x.severity] }))} /> : <Empty>No live findings.</Empty>}
              </section>
              <section className="card" aria-labelledby="owasp-h">
                <h2 id="owasp-h">OWASP NHI Top 10 (2025)</h2>
                <Bars label="Findings by OWASP NHI item" rows={r.findings.owaspNhi.map((x) => ({ label: `${x.id} ${x.name}`, value: x.count }))} />
              </section>
              <section className="card" aria-labelledby="csf-h">
                <h2 id="csf-h">NIST CSF 2.0</h2>
                <Bars label="Findings by NIST CSF subcategory" rows={r.findings.nistCsf.map((x) => ({ label: x.id, value: x.count }))} />
              </section>
            </div>
            {r.managedShare.trend.points.length > 1 ? (
              <div className="card">
                <h2>Managed share in the period</h2>
                <Sparkline label="Managed share by day in the period" points={r.managedShare.trend.points.filter((p) => p.share !== null).map((p) => ({ at: p.day, value: p.share! }))} format={(v) => percent(v)} />
              </div>
            ) : r.managedShare.trend.note ? (
              <p className="small muted">{r.managedShare.trend.note}</p>
            ) : null}
            <Downloads query={pick(filters, names)} />
          </>
        )}
      </Show>
      <Trends tenantId={filters.tenantId} />
    </>
  );
}

page({ path: '/reports', title: 'Reports', nav: true, permission: 'reports.read', component: Reports });
