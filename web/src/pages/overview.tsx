import { useState } from 'react';
import { page } from './index.tsx';
import { call } from '../api.ts';
import { Link } from '../router.tsx';
import { Bars, ErrorBanner, Loading, PageHeader, Show, SeverityBadge, Time, percent, useApi, useCan, useSession } from '../ui.tsx';
import { ShareTrend } from '../components/overview-trend.tsx';
import { findingEndpoints } from '../../../src/governance/finding.contract.ts';
import { trendEndpoints } from '../../../src/trends/trend.contract.ts';
import { alertEndpoints } from '../../../src/alerts/alert.contract.ts';
import { reportEndpoints, type ComplianceReport } from '../../../src/reports/report.contract.ts';
import { OWASP_NHI_2025 } from '../../../src/governance/finding.mappings.ts';
import { useNames } from '../components/inventory-names.tsx';

const n = (v: number) => v.toLocaleString('en');
/** How many open alerts the overview reads (one page): more shows as "100+", the alerts page lists them all. */
const ALERT_PAGE = 100;

function ms(v: number | null): string {
  if (v === null) return '—';
  if (v < 1000) return `${n(v)} ms`;
  if (v < 120_000) return `${(v / 1000).toLocaleString('en', { maximumFractionDigits: 1 })} s`;
  if (v < 7_200_000) return `${(v / 60_000).toLocaleString('en', { maximumFractionDigits: 1 })} min`;
  return `${(v / 3_600_000).toLocaleString('en', { maximumFractionDigits: 1 })} h`;
}

function ManagedShare() {
  const summary = useApi(() => call(findingEndpoints.summary), []);
  const trends = useApi(() => call(trendEndpoints.trends), []);
  return (
    <div className="cards">
      <section className="card" aria-labelledby="ov-share" style={{ gridColumn: 'span 2' }}>
        <h2 id="ov-share">Managed share</h2>
        <Show loaded={summary}>
          {(s) => (
            <>
              <p className="big-figure" data-testid="managed-share" style={{ margin: '0.2rem 0', fontSize: '3.4rem' }}>
                {percent(s.managed.share)}
              </p>
              <p className="muted" style={{ marginTop: 0 }}>
                <span data-testid="managed-count">{n(s.managed.managed)}</span> of <span data-testid="live-count">{n(s.managed.live)}</span> live tokens pass the practical test (revocable,
                approved, justified). Counted <Time at={s.at} />.
              </p>
            </>
          )}
        </Show>
        <h3>Trend, last 30 days</h3>
        <Show loaded={trends}>
          {(t) => <ShareTrend label="Managed share by day" points={t.points.filter((p) => p.managedShare !== null).map((p) => ({ day: p.day, share: p.managedShare! }))} />}
        </Show>
      </section>
      <section className="card" aria-labelledby="ov-states">
        <h2 id="ov-states">Tokens by state</h2>
        <Show loaded={summary}>
          {(s) => (
            <>
              <Bars
                label="Live tokens, managed and unmanaged"
                rows={[
                  { label: 'Live, managed', value: s.managed.managed, kind: 'ok' },
                  { label: 'Live, unmanaged', value: s.managed.unmanaged, kind: 'bad' },
                ]}
              />
              <p className="small muted">
                Live: active or suspended. Open each state in the inventory:{' '}
                {(['active', 'suspended', 'revoked', 'expired'] as const).map((st, i) => (
                  <span key={st}>
                    {i ? ', ' : ''}
                    <Link to={`/inventory?state=${st}`}>{st}</Link>
                  </span>
                ))}
                .
              </p>
            </>
          )}
        </Show>
      </section>
      <OpenAlerts />
      <section className="card" aria-labelledby="ov-nhi" style={{ gridColumn: 'span 2' }}>
        <h2 id="ov-nhi">Live findings by OWASP NHI Top 10 (2025) item</h2>
        <Show loaded={summary}>
          {(s) =>
            s.findings === 0 ? (
              <p className="muted">No live findings. The governance sweep finds them; run one from the findings page.</p>
            ) : (
              <>
                <Bars
                  label="Live findings by OWASP NHI item"
                  rows={Object.keys(OWASP_NHI_2025)
                    .filter((id) => (s.byOwaspNhi[id] ?? 0) > 0)
                    .map((id) => ({ label: `${id} ${OWASP_NHI_2025[id]}`, value: s.byOwaspNhi[id] ?? 0 }))}
                />
                <p className="small muted">
                  {n(s.findings)} live findings; a finding counts under every item its type maps to.
                </p>
              </>
            )
          }
        </Show>
      </section>
      <ReportSection />
    </div>
  );
}

function OpenAlerts() {
  const can = useCan();
  const alerts = useApi(() => (can('alerts.read') ? call(alertEndpoints.list, { query: { status: 'open', limit: String(ALERT_PAGE) } }) : Promise.resolve(null)), []);
  if (!can('alerts.read')) return null;
  return (
    <section className="card" aria-labelledby="ov-alerts">
      <h2 id="ov-alerts">Open alerts</h2>
      <Show loaded={alerts}>
        {(a) => {
          if (!a) return null;
          const bySeverity = new Map<string, number>();
          for (const x of a.items) bySeverity.set(x.severity, (bySeverity.get(x.severity) ?? 0) + 1);
          return (
            <>
              <p className="big-figure" data-testid="open-alerts">
                {a.nextCursor ? `${n(ALERT_PAGE)}+` : n(a.items.length)}
              </p>
              {a.items.length === 0 ? (
                <p className="muted">Nothing needs attention.</p>
              ) : (
                <ul style={{ listStyle: 'none', padding: 0, display: 'flex', gap: '0.6rem', flexWrap: 'wrap' }}>
                  {['critical', 'high', 'medium', 'low']
                    .filter((sv) => bySeverity.has(sv))
                    .map((sv) => (
                      <li key={sv}>
                        <SeverityBadge severity={sv} /> {n(bySeverity.get(sv)!)}
                      </li>
                    ))}
                </ul>
              )}
              <Link to="/alerts">See the alerts</Link>
            </>
          );
        }}
      </Show>
    </section>
  );
}

/**
 * Kill times and connected providers come from the compliance report, the only endpoint that has
 * them: with a large inventory it takes seconds, so it is computed when asked for, not on every visit.
 */
function ReportSection() {
  const session = useSession();
  const names = useNames();
  const [state, setState] = useState<{ loading: boolean; error?: unknown; report?: ComplianceReport }>({ loading: false });
  const load = () => {
    setState({ loading: true });
    call(reportEndpoints.compliance).then(
      (r) => setState({ loading: false, report: r.report }),
      (error: unknown) => setState({ loading: false, error }),
    );
  };
  const r = state.report;
  const byProvider = new Map<string, { name: string; tokens: number }>();
  for (const c of r?.connections.items ?? []) {
    const cur = byProvider.get(c.providerId) ?? { name: c.providerName ?? names.provider(c.providerId), tokens: 0 };
    cur.tokens += c.liveTokens;
    byProvider.set(c.providerId, cur);
  }
  return (
    <>
      <section className="card" aria-labelledby="ov-report" style={{ gridColumn: 'span 2' }}>
        <h2 id="ov-report">Kill times, last 30 days</h2>
        <p className="muted small">
          From the compliance report{session.tenantId ? ' of your tenant' : ''}: computed on request, because it reads the whole inventory (seconds with a million tokens).
        </p>
        {!r && !state.loading ? (
          <button type="button" className="primary" onClick={load}>
            Compute kill times and providers
          </button>
        ) : null}
        {state.loading ? <Loading what="Computing the compliance report" /> : null}
        <ErrorBanner error={state.error} />
        {r ? (
          <>
            <h3>
              {n(r.killTime.revocations)} revocation{r.killTime.revocations === 1 ? '' : 's'}
            </h3>
            {r.killTime.revocations === 0 ? (
              <p className="muted">No token was revoked in the period.</p>
            ) : (
              <table aria-label="Kill time distribution" className="small">
                <thead>
                  <tr>
                    <th scope="col">From request to</th>
                    <th scope="col" className="num">
                      Measured
                    </th>
                    <th scope="col" className="num">
                      p50
                    </th>
                    <th scope="col" className="num">
                      p99
                    </th>
                    <th scope="col" className="num">
                      max
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {(
                    [
                      ['refused locally (gateway)', r.killTime.locallyEffective],
                      ['verified at the issuer', r.killTime.upstreamVerified],
                    ] as const
                  ).map(([label, st]) => (
                    <tr key={label}>
                      <th scope="row">{label}</th>
                      <td className="num">{n(st.count)}</td>
                      <td className="num">{ms(st.p50Ms)}</td>
                      <td className="num">{ms(st.p99Ms)}</td>
                      <td className="num">{ms(st.maxMs)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            <h3>Where each revocation stands at the issuer</h3>
            <Bars
              label="Upstream revocation outcomes"
              rows={[
                { label: 'verified', value: r.killTime.upstreamOutcomes.verified, kind: 'ok' },
                { label: 'unverifiable', value: r.killTime.upstreamOutcomes.unverifiable, kind: 'warn' },
                { label: 'pending', value: r.killTime.upstreamOutcomes.pending },
                { label: 'failed', value: r.killTime.upstreamOutcomes.failed, kind: 'bad' },
                { label: 'none (no endpoint)', value: r.killTime.upstreamOutcomes.none, kind: 'bad' },
              ]}
            />
          </>
        ) : null}
      </section>
      {r ? (
        <section className="card" aria-labelledby="ov-providers" style={{ gridColumn: 'span 2' }}>
          <h2 id="ov-providers">Live tokens by provider</h2>
          {byProvider.size === 0 ? (
            <p className="muted">No live token: connect a provider and register or consent a token.</p>
          ) : (
            <Bars label="Live tokens by provider" rows={[...byProvider.values()].sort((a, b) => b.tokens - a.tokens).map((p) => ({ label: p.name, value: p.tokens }))} />
          )}
          {r.connections.truncated ? <p className="small muted">The report lists the largest connections only.</p> : null}
        </section>
      ) : null}
    </>
  );
}

function Overview() {
  const session = useSession();
  return (
    <>
      <PageHeader title="Overview">
        <span className="muted">{session.tenantId ? 'Your tenant' : 'Every tenant'}</span>
      </PageHeader>
      <ManagedShare />
    </>
  );
}

page({ path: '/', title: 'Overview', nav: true, permission: 'tokens.read', component: Overview });
