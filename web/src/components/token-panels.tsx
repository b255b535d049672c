import { useState } from 'react';
import { call } from '../api.ts';
import { Link } from '../router.tsx';
import { Badge, Bars, ErrorBanner, SeverityBadge, Show, Sparkline, Time, useApi, useCan, type Loaded } from '../ui.tsx';
import type { Static } from 'typebox';
import type { TokenSchema } from '../../../src/tokens/token.schemas.ts';
import { usageEndpoints } from '../../../src/usage/usage.contract.ts';
import { ledgerEndpoints } from '../../../src/ledger/ledger.contract.ts';
import { findingEndpoints } from '../../../src/governance/finding.contract.ts';
import { alertEndpoints } from '../../../src/alerts/alert.contract.ts';
import { noticeEndpoints } from '../../../src/governance/notice.contract.ts';
import { Actor } from './actor.tsx';

export type TokenView = Static<typeof TokenSchema>;
const n = (v: number) => v.toLocaleString('en');

/** Milliseconds between two instants, readable (a kill time). */
export function elapsed(from: string, to: string | null | undefined): string | null {
  if (!to) return null;
  const ms = new Date(to).getTime() - new Date(from).getTime();
  if (ms < 1000) return `${n(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toLocaleString('en', { maximumFractionDigits: 1 })} s`;
  if (ms < 7_200_000) return `${(ms / 60_000).toLocaleString('en', { maximumFractionDigits: 1 })} min`;
  return `${(ms / 3_600_000).toLocaleString('en', { maximumFractionDigits: 1 })} h`;
}

/** Granted (the customer's grant), effective (the live access token) and used (seen at the gateway), per scope. */
export function ScopesChart({ token }: { token: TokenView }) {
  const used = new Map(token.scopeUsage.map((u) => [u.scope, u.lastUsedAt]));
  // An inventory-only record holds no access token: nothing is effective through Custody.
  const effective = token.inventoryOnly ? [] : token.effectiveScopes;
  const all = [...new Set([...token.grantedScopes, ...effective, ...token.scopeUsage.map((u) => u.scope)])];
  const usedCount = all.filter((s) => used.get(s)).length;
  const mark = (on: boolean, kind: string, label: string) => (on ? <Badge kind={kind}>{label}</Badge> : <span className="muted">—</span>);
  return (
    <>
      <Bars
        label="Scopes granted, effective and used"
        rows={[
          { label: 'Granted by the customer', value: token.grantedScopes.length },
          { label: token.inventoryOnly ? 'Effective (no access token held)' : 'Effective (live access token)', value: effective.length, kind: 'warn' },
          { label: 'Used through the gateway', value: usedCount, kind: 'ok' },
        ]}
      />
      {all.length === 0 ? (
        <p className="muted">No scopes recorded.</p>
      ) : (
        <table aria-label="Scopes" className="small">
          <thead>
            <tr>
              <th scope="col">Scope</th>
              <th scope="col">Granted</th>
              <th scope="col">Effective</th>
              <th scope="col">Last used</th>
            </tr>
          </thead>
          <tbody>
            {all.map((s) => (
              <tr key={s}>
                <th scope="row">
                  <code>{s}</code>
                  {token.excessScopes.includes(s) ? (
                    <>
                      {' '}
                      <Badge kind="bad">beyond consent</Badge>
                    </>
                  ) : null}
                </th>
                <td>{mark(token.grantedScopes.includes(s), 'info', 'granted')}</td>
                <td>{mark(effective.includes(s), 'warn', 'effective')}</td>
                <td>{used.get(s) ? <Time at={used.get(s)} /> : <span className="muted">{token.usageChannel === 'direct' ? 'not observed' : 'never'}</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

export function UsagePanel({ tokenId }: { tokenId: string }) {
  const can = useCan();
  const usage = useApi(() => (can('usage.read') ? call(usageEndpoints.token, { params: { id: tokenId } }) : Promise.resolve(null)), [tokenId]);
  if (!can('usage.read')) return null;
  return (
    <Show loaded={usage}>
      {(u) =>
        !u ? null : (
          <>
            <p className="small muted">
              {n(u.totals.calls)} gateway calls from {u.window.from} to {u.window.to}: {n(u.totals.forwarded)} forwarded, {n(u.totals.denied)} denied, {n(u.totals.failed)} failed.
            </p>
            {u.totals.calls === 0 ? (
              <p className="muted">No call through the gateway in the window.</p>
            ) : (
              <>
                <Sparkline label="Gateway calls per day" points={u.byDay.map((d) => ({ at: d.day, value: d.calls }))} format={(v) => `${n(v)} calls`} />
                <Bars label="Calls by workload" rows={u.byWorkload.slice(0, 8).map((w) => ({ label: w.workload ?? '(no workload named)', value: w.calls }))} />
              </>
            )}
          </>
        )
      }
    </Show>
  );
}

type LedgerPage = Awaited<ReturnType<typeof call<typeof ledgerEndpoints.list>>>;

/** This token's ledger entries, newest first, paged with the ledger's cursor. */
export function LedgerTimeline({ tokenId, ledger }: { tokenId: string; ledger: Loaded<LedgerPage> }) {
  const [older, setOlder] = useState<LedgerPage['items']>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const next = cursor === undefined ? ledger.data?.nextCursor : cursor;
  const more = async () => {
    if (!next) return;
    setBusy(true);
    try {
      const p = await call(ledgerEndpoints.list, { query: { tokenId, order: 'desc', limit: '20', cursor: next } });
      setOlder((o) => [...o, ...p.items]);
      setCursor(p.nextCursor);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Show loaded={ledger}>
      {(p) => {
        const items = [...p.items, ...older.filter((o) => !p.items.some((i) => i.seq === o.seq))];
        if (items.length === 0) return <p className="muted">No ledger entry names this token.</p>;
        return (
          <>
            <ol className="timeline" aria-label="Ledger entries for this token" style={{ listStyle: 'none', padding: 0, margin: 0 }}>
              {items.map((e) => (
                <li key={e.seq} data-testid="ledger-entry" style={{ borderLeft: '3px solid var(--border)', padding: '0.25rem 0 0.45rem 0.75rem' }}>
                  <code>{e.action}</code> <Time at={e.at} /> <span className="muted small">
                    by <Actor actor={e.actor} /> · #{e.seq}
                  </span>
                  {typeof e.data.reason === 'string' ? <div className="small">Reason: {e.data.reason}</div> : null}
                </li>
              ))}
            </ol>
            <ErrorBanner error={error} />
            {next ? (
              <button type="button" onClick={more} disabled={busy}>
                {busy ? 'Loading…' : 'Older entries'}
              </button>
            ) : null}
          </>
        );
      }}
    </Show>
  );
}

/** Findings, alerts and notices about the token (one page of each: the newest). */
export function TokenGovernance({ tokenId }: { tokenId: string }) {
  const can = useCan();
  const findings = useApi(() => (can('findings.read') ? call(findingEndpoints.list, { query: { tokenId, limit: '50' } }) : Promise.resolve(null)), [tokenId]);
  const alerts = useApi(() => (can('alerts.read') ? call(alertEndpoints.list, { query: { tokenId, limit: '50' } }) : Promise.resolve(null)), [tokenId]);
  const notices = useApi(() => (can('notices.read') ? call(noticeEndpoints.list, { query: { tokenId, limit: '20' } }) : Promise.resolve(null)), [tokenId]);
  return (
    <div className="cards" style={{ gridTemplateColumns: 'repeat(3, 1fr)' }}>
      <section className="card" aria-labelledby="tk-findings">
        <h2 id="tk-findings">Findings</h2>
        <Show loaded={findings}>
          {(f) =>
            !f ? null : f.items.length === 0 ? (
              <p className="muted">No live finding.</p>
            ) : (
              <ul style={{ paddingLeft: '1rem', margin: 0 }}>
                {f.items.map((x) => (
                  <li key={x.id}>
                    <SeverityBadge severity={x.severity} /> <code>{x.type}</code> <span className="muted small">{x.status}</span>
                    <div className="small">{x.reasons[0]?.message}</div>
                    <div className="small muted">{x.mappings.owaspNhi.map((m) => m.id).join(', ')}</div>
                  </li>
                ))}
              </ul>
            )
          }
        </Show>
      </section>
      <section className="card" aria-labelledby="tk-alerts">
        <h2 id="tk-alerts">Alerts</h2>
        <Show loaded={alerts}>
          {(a) =>
            !a ? null : a.items.length === 0 ? (
              <p className="muted">No open alert.</p>
            ) : (
              <ul style={{ paddingLeft: '1rem', margin: 0 }}>
                {a.items.map((x) => (
                  <li key={x.id}>
                    <SeverityBadge severity={x.severity} /> <Link to={`/alerts?id=${x.id}`}>{x.kind}</Link> <Time at={x.lastSeenAt} />
                    <div className="small">{x.message}</div>
                  </li>
                ))}
              </ul>
            )
          }
        </Show>
      </section>
      <section className="card" aria-labelledby="tk-notices">
        <h2 id="tk-notices">Notices</h2>
        <Show loaded={notices}>
          {(x) =>
            !x ? null : x.items.length === 0 ? (
              <p className="muted">No notice given.</p>
            ) : (
              <ul style={{ paddingLeft: '1rem', margin: 0 }}>
                {x.items.map((m) => (
                  <li key={m.id}>
                    <code>{m.findingType}</code>: {m.action} <Time at={m.deadline} /> <span className="muted small">({m.delivery})</span>
                    <div className="small">To {m.recipients.map((r) => r.name).join(', ') || 'nobody'}{m.link ? '; with a reauthorisation link' : ''}</div>
                  </li>
                ))}
              </ul>
            )
          }
        </Show>
      </section>
    </div>
  );
}

export function RiskPanel({ token }: { token: TokenView }) {
  if (!token.risk) return <p className="muted">{token.state === 'revoked' || token.state === 'expired' ? 'No risk score: the token holds no privilege.' : 'Not evaluated yet: the next sweep scores it.'}</p>;
  return (
    <>
      <p>
        Score <strong style={{ fontSize: '1.4rem' }}>{token.risk.score}</strong> <span className="muted">of 100</span>
      </p>
      <table aria-label="Risk components" className="small">
        <thead>
          <tr>
            <th scope="col">Component</th>
            <th scope="col" className="num">
              Points
            </th>
            <th scope="col">Why</th>
          </tr>
        </thead>
        <tbody>
          {token.risk.components.map((c) => (
            <tr key={c.name}>
              <th scope="row">{c.name.replace(/_/g, ' ')}</th>
              <td className="num">
                {c.points} / {c.max}
              </td>
              <td>{c.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

