import { page } from './index.tsx';
import { call } from '../api.ts';
import { Link } from '../router.tsx';
import { TenantFilter, useFilters } from '../components/gov-common.tsx';
import { idPattern } from '../../../src/shared/ids.ts';

const TENANT_ID = new RegExp(idPattern('tenant'));
import { Bars, type Loaded, PageHeader, Show, SeverityBadge, Time, percent, useApi, useCan, useSession } from '../ui.tsx';
import { ShareTrend } from '../components/overview-trend.tsx';
import { findingEndpoints } from '../../../src/governance/finding.contract.ts';
import { trendEndpoints } from '../../../src/trends/trend.contract.ts';
import { alertEndpoints } from '../../../src/alerts/alert.contract.ts';
import { reportEndpoints } from '../../../src/reports/report.contract.ts';
import { tokenEndpoints } from '../../../src/tokens/token.contract.ts';
import type { TokenCounts } from '../../../src/tokens/token.schemas.ts';
import type { Static } from 'typebox';
import { OWASP_NHI_2025 } from '../../../src/governance/finding.mappings.ts';
import { useNames } from '../components/inventory-names.tsx';

const n = (v: number) => v.toLocaleString('en');
/** How many open alerts the overview reads (one page): more shows as "100+", the alerts page lists them all. */
const ALERT_PAGE = 100;

function ms(v: number | null): string {
  if (v === null) return '—';
  if (v < 1000) return `${n(v)}\u00a0ms`;
  if (v < 120_000) return `${(v / 1000).toLocaleString('en', { maximumFractionDigits: 1 })}\u00a0s`;
  if (v < 7_200_000) return `${(v / 60_000).toLocaleString('en', { maximumFractionDigits: 1 })}\u00a0min`;
  return `${(v / 3_600_000).toLocaleString('en', { maximumFractionDigits: 1 })}\u00a0h`;
}

/** One tenant (a platform role's choice, in the URL) or every tenant the role sees. */
type Scope = { tenantId?: string };

function ManagedShare({ tenantId }: { tenantId: string | undefined }) {
  const q: Scope = tenantId ? { tenantId } : {};
  const summary = useApi(() => call(findingEndpoints.summary, { query: q }), [tenantId]);
  const trends = useApi(() => call(trendEndpoints.trends, { query: q }), [tenantId]);
  const counts = useApi(() => call(tokenEndpoints.counts, { query: q }), [tenantId]);
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
        <Show loaded={summary}>
          {(s) => (
            <Bars
              label="Live tokens, managed and unmanaged"
              rows={[
                { label: 'Live, managed', value: s.managed.managed, kind: 'ok' },
                { label: 'Live, unmanaged', value: s.managed.unmanaged, kind: 'bad' },
              ]}
            />
          )}
        </Show>
        <h3>Trend, last 30 days</h3>
        <Show loaded={trends}>
          {(t) => <ShareTrend label="Managed share by day" points={t.points.filter((p) => p.managedShare !== null).map((p) => ({ day: p.day, share: p.managedShare! }))} />}
        </Show>
      </section>
      <TokensByState counts={counts} tenantId={tenantId} />
      <OpenAlerts tenantId={tenantId} />
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
      <TokensByProvider counts={counts} tenantId={tenantId} />
      <KillTimesSection tenantId={tenantId} />
    </div>
  );
}

function OpenAlerts({ tenantId }: { tenantId: string | undefined }) {
  const can = useCan();
  const alerts = useApi(() => (can('alerts.read') ? call(alertEndpoints.list, { query: { status: 'open', limit: String(ALERT_PAGE), ...(tenantId ? { tenantId } : {}) } }) : Promise.resolve(null)), [tenantId]);
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

const STATES = ['active', 'suspended', 'expired', 'revoked'] as const;

/** Every record by state (live and ended), from the counts route (indexes only). */
type Counts = Loaded<Static<typeof TokenCounts>>;

function TokensByState({ counts, tenantId }: { counts: Counts; tenantId: string | undefined }) {
  const session = useSession();
  return (
    <section className="card" aria-labelledby="ov-states">
      <h2 id="ov-states">Tokens by state</h2>
      <Show loaded={counts}>
        {(c) => {
          const by = (st: string) => c.items.filter((r) => r.state === st).reduce((t, r) => t + r.count, 0);
          return (
            <>
              <Bars label="Tokens by state" rows={STATES.map((st) => ({ label: st, value: by(st), ...(st === 'active' ? { kind: 'ok' } : st === 'suspended' ? { kind: 'warn' } : {}) }))} />
              <p className="small muted">
                Live: active or suspended. {session.tenantId ? 'Your tenant’s' : tenantId ? 'This tenant’s' : 'Every tenant’s'} records, counted <Time at={c.at} />. Open each in the inventory:{' '}
                {STATES.map((st, i) => (
                  <span key={st}>
                    {i ? ', ' : ''}
                    <Link to={`/inventory?state=${st}${tenantId ? `&tenantId=${tenantId}` : ''}`}>{st}</Link>
                  </span>
                ))}
                .
              </p>
            </>
          );
        }}
      </Show>
    </section>
  );
}

/** Records of each provider by state: which third parties hold delegated access, and how much of it is live. */
function TokensByProvider({ counts, tenantId }: { counts: Counts; tenantId: string | undefined }) {
  const names = useNames();
  return (
    <section className="card" aria-labelledby="ov-providers" style={{ gridColumn: 'span 2' }}>
      <h2 id="ov-providers">Tokens by provider</h2>
      <Show loaded={counts}>
        {(c) => {
          const rows = new Map<string, Record<string, number>>();
          for (const r of c.items) {
            const row = rows.get(r.providerId) ?? {};
            row[r.state] = r.count;
            rows.set(r.providerId, row);
          }
          if (rows.size === 0) return <p className="muted">No token yet: connect a provider and register or consent a token.</p>;
          const live = (r: Record<string, number>) => (r.active ?? 0) + (r.suspended ?? 0);
          const sorted = [...rows].sort(([, a], [, b]) => live(b) - live(a));
          return (
            <table aria-label="Tokens by provider and state" className="small">
              <thead>
                <tr>
                  <th scope="col">Provider</th>
                  {STATES.map((st) => (
                    <th scope="col" className="num" key={st}>
                      {st}
                    </th>
                  ))}
                  <th scope="col" className="num">
                    live
                  </th>
                </tr>
              </thead>
              <tbody>
                {sorted.map(([providerId, r]) => (
                  <tr key={providerId}>
                    <th scope="row">
                      <Link to={`/inventory?providerId=${providerId}${tenantId ? `&tenantId=${tenantId}` : ''}`}>{names.provider(providerId)}</Link>
                    </th>
                    {STATES.map((st) => (
                      <td className="num" key={st}>
                        {n(r[st] ?? 0)}
                      </td>
                    ))}
                    <td className="num">
                      <strong>{n(live(r))}</strong>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          );
        }}
      </Show>
    </section>
  );
}

/** A bucket as a short label that does not wrap: "< 10 ms", "10–50 ms", "1–5 s", "≥ 1 h". */
function short(v: number): [number, string] {
  if (v < 1000) return [v, 'ms'];
  if (v < 60_000) return [v / 1000, 's'];
  if (v < 3_600_000) return [v / 60_000, 'min'];
  return [v / 3_600_000, 'h'];
}
function bucketLabel(underMs: number | null, prev: number | null): string {
  const nb = '\u00a0';
  // The dash joined to its neighbours, so "50–100 ms" never breaks.
  const dash = '\u2060–\u2060';
  if (underMs === null) return `≥${nb}${short(prev!).join(nb)}`;
  if (prev === null) return `<${nb}${short(underMs).join(nb)}`;
  const [a, ua] = short(prev);
  const [b, ub] = short(underMs);
  return ua === ub ? `${a}${dash}${b}${nb}${ub}` : `${a}${nb}${ua}${dash}${b}${nb}${ub}`;
}

/** Kill times of the last 30 days as a distribution: time until the gateway refused the token, and until the issuer confirmed its revocation. */
function KillTimesSection({ tenantId }: { tenantId: string | undefined }) {
  const session = useSession();
  const can = useCan();
  const kill = useApi(() => (can('reports.read') ? call(reportEndpoints.killTimes, { query: tenantId ? { tenantId } : {} }) : Promise.resolve(null)), [tenantId]);
  if (!can('reports.read')) return null;
  return (
    <section className="card" aria-labelledby="ov-kill" style={{ gridColumn: '1 / -1' }}>
      <h2 id="ov-kill">Kill times, last 30 days</h2>
      <Show loaded={kill}>
        {(k) => {
          if (!k) return null;
          const outcomes = (
            <>
              <h3>Where each revocation stands at the issuer</h3>
              <Bars
                label="Upstream revocation outcomes"
                rows={[
                  { label: 'verified', value: k.upstreamOutcomes.verified, kind: 'ok' },
                  { label: 'unverifiable', value: k.upstreamOutcomes.unverifiable, kind: 'warn' },
                  { label: 'pending', value: k.upstreamOutcomes.pending },
                  { label: 'failed', value: k.upstreamOutcomes.failed, kind: 'bad' },
                  { label: 'none (nothing Custody can revoke there)', value: k.upstreamOutcomes.none, kind: 'bad' },
                ]}
              />
              <p className="small muted">
                none: the provider has no revocation endpoint, or Custody never held the credential (an inventory-only record): the customer must revoke it at the issuer.
              </p>
            </>
          );
          return (
            <>
              <p className="muted small">
                {n(k.revocations)} revocation{k.revocations === 1 ? '' : 's'} asked for {session.tenantId ? 'in your tenant ' : ''}in the last 30 days (since {k.period.from.slice(0, 10)}).
              </p>
              {k.revocations === 0 ? (
                <p className="muted">No token was revoked in the period.</p>
              ) : (
                <div style={{ display: 'grid', gridTemplateColumns: 'minmax(0, 4fr) minmax(0, 3fr) minmax(0, 3fr)', gap: '1.5rem', alignItems: 'start' }}>
                  <div>
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
                            ['refused locally (gateway)', k.locallyEffective],
                            ['verified at the issuer', k.upstreamVerified],
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
                    {outcomes}
                  </div>
                  {(
                    [
                      ['Refused locally', 'Time until the gateway refused the token', k.locallyEffective.buckets],
                      ['Verified at the issuer', 'Time until the issuer confirmed the revocation', k.upstreamVerified.buckets],
                    ] as const
                  ).map(([title, label, buckets]) => (
                    <div key={title}>
                      <h3 style={{ marginTop: 0 }}>{title}</h3>
                      <Bars label={label} rows={buckets.map((b, i) => ({ label: bucketLabel(b.underMs, i ? buckets[i - 1]!.underMs : null), value: b.count }))} />
                    </div>
                  ))}
                </div>
              )}
              {k.revocations === 0 ? outcomes : null}
            </>
          );
        }}
      </Show>
    </section>
  );
}

function Overview() {
  const session = useSession();
  const filters = useFilters();
  const names = useNames();
  // A platform role may look at one tenant (kept in the URL, so the view can be shared); a tenant administrator sees theirs.
  const tenantId = session.tenantId ? undefined : filters.tenantId || undefined;
  const tenantName = tenantId ? names.tenant(tenantId) : null;
  // A mistyped or stale tenant in the URL: one message, not one per card.
  const unknownTenant = tenantId !== undefined && (!TENANT_ID.test(tenantId) || (names.tenants.length > 0 && !names.tenants.some((t) => t.id === tenantId)));
  return (
    <>
      <PageHeader title="Overview">
        <span className="muted">{session.tenantId ? 'Your tenant' : tenantId ? `Tenant ${tenantName}` : 'Every tenant'}</span>
      </PageHeader>
      {session.tenantId ? null : (
        <div className="filters">
          <TenantFilter value={tenantId} />
        </div>
      )}
      {unknownTenant ? (
        <p className="banner error" role="alert">
          There is no tenant <code>{tenantId}</code> that you may see. <Link to="/">Show every tenant</Link>.
        </p>
      ) : (
        <ManagedShare key={tenantId ?? '*'} tenantId={tenantId} />
      )}
    </>
  );
}

page({ path: '/', title: 'Overview', nav: true, permission: 'tokens.read', component: Overview });
