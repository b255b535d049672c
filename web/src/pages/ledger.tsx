import { Fragment, useEffect, useState } from 'react';
import type { Static } from 'typebox';
import { page } from './index.tsx';
import { call } from '../api.ts';
import { ledgerEndpoints, type VerifyResultSchema } from '../../../src/ledger/ledger.contract.ts';
import { Badge, ErrorBanner, PageHeader, Show, Time, useApi, useCan } from '../ui.tsx';
import { ClearFilters, Empty, ExpandButton, FilterSelect, Id, TextFilters, UrlPager, num, pick, queryFor, useFilters, useIsPlatform } from '../components/gov-common.tsx';

type VerifyResult = Static<typeof VerifyResultSchema>;
const FILTERS = ['action', 'subjectId', 'tokenId', 'tenantId', 'order'];

/**
 * Verify runs in worker threads on the server; while the call is in flight the page polls the
 * progress route (entries walked of the total). Behind a load balancer the poll may reach another
 * instance, which knows of no running verification: the bar is then indeterminate, with the time.
 */
function Verify() {
  const [state, setState] = useState<{ running: boolean; startedAt?: number; result?: VerifyResult; error?: unknown }>({ running: false });
  const [now, setNow] = useState(Date.now());
  const [walked, setWalked] = useState<{ checked: number; total: number } | null>(null);
  useEffect(() => {
    if (!state.running) return;
    let stopped = false;
    const t = setInterval(() => setNow(Date.now()), 250);
    const poll = async () => {
      while (!stopped) {
        await new Promise((r) => setTimeout(r, 300));
        if (stopped) break;
        const p = await call(ledgerEndpoints.verifyProgress).catch(() => null);
        if (!stopped) setWalked(p?.running && p.total > 0 ? { checked: p.checked, total: p.total } : null);
      }
    };
    void poll();
    return () => {
      stopped = true;
      clearInterval(t);
    };
  }, [state.running]);
  const run = async () => {
    const startedAt = Date.now();
    setNow(startedAt);
    setWalked(null);
    setState({ running: true, startedAt });
    try {
      setState({ running: false, result: await call(ledgerEndpoints.verify) });
    } catch (error) {
      setState({ running: false, error });
    }
  };
  const r = state.result;
  return (
    <section className="card" aria-labelledby="verify-h">
      <h2 id="verify-h">Verify the ledger</h2>
      <p className="small muted">Walks the whole hash chain and checks each signed checkpoint: detects edited, deleted, reordered and (up to the last checkpoint) truncated entries.</p>
      <button type="button" className="primary" onClick={run} disabled={state.running}>
        {state.running ? 'Verifying…' : 'Verify now'}
      </button>
      <div role="status" aria-live="polite">
        {state.running ? (
          <p data-testid="verify-progress">
            {walked ? (
              <>
                <progress aria-label="Verifying the ledger" max={walked.total} value={walked.checked} /> {num(walked.checked)} of {num(walked.total)} entries ({Math.floor((100 * walked.checked) / walked.total)} %),{' '}
              </>
            ) : (
              <>
                <progress aria-label="Verifying the ledger" />{' '}
              </>
            )}
            {((now - (state.startedAt ?? now)) / 1000).toFixed(1)} s elapsed
          </p>
        ) : null}
        {r ? (
          <div className={`banner ${r.ok ? 'ok' : 'error'}`} data-testid="verify-result">
            <strong>{r.ok ? 'Ledger intact' : `Ledger NOT intact: ${num(r.problems.length)} problems`}</strong>
            <div className="small">
              {num(r.entries)} entries up to seq {num(r.lastSeq)} · checkpoints {num(r.checkpoints.verified)} of {num(r.checkpoints.total)} verified
              {r.checkpoints.lastSeq !== null ? ` (last at seq ${num(r.checkpoints.lastSeq)})` : ''} · {num(r.checkpoints.unanchored)} entries after the last checkpoint · {num(r.durationMs)} ms {r.threads ? `on ${r.threads} worker thread${r.threads === 1 ? '' : 's'}` : 'in the serving thread'}
            </div>
            <div className="small mono" style={{ wordBreak: 'break-all' }}>
              last hash {r.lastHash}
            </div>
            {r.problems.length ? (
              <ul>
                {r.problems.slice(0, 50).map((p, i) => (
                  <li key={i}>
                    <code>{p.kind}</code> at seq {p.seq}: {p.message}
                  </li>
                ))}
              </ul>
            ) : null}
          </div>
        ) : null}
      </div>
      <ErrorBanner error={state.error} />
    </section>
  );
}

function Ledger() {
  const filters = useFilters();
  const can = useCan();
  const platform = useIsPlatform();
  const [open, setOpen] = useState<number | null>(null);
  const list = useApi(() => call(ledgerEndpoints.list, { query: queryFor(ledgerEndpoints.list, filters, [...FILTERS, 'cursor'], { limit: '50' }) }), [FILTERS.map((n) => filters[n]).join('|'), filters.cursor]);
  return (
    <>
      <PageHeader title="Ledger" />
      <p className="muted">The tamper-evident record of every change: who did what, to which subject, when. Each entry carries the hash of the one before.</p>
      {can('ledger.verify') ? <Verify /> : null}
      <div className="filters">
        <TextFilters
          values={filters}
          fields={[
            { name: 'action', label: 'Action', placeholder: 'token.revoked' },
            { name: 'subjectId', label: 'Subject id' },
            { name: 'tokenId', label: 'Token id', placeholder: 'tok_…' },
            ...(platform ? [{ name: 'tenantId', label: 'Tenant id', placeholder: 'ten_…' }] : []),
          ]}
        />
        <FilterSelect label="Order" name="order" value={filters.order === 'desc' ? undefined : filters.order} options={['asc']} anyLabel="Newest first" optionLabels={{ asc: 'Oldest first' }} />
        <ClearFilters names={FILTERS} />
      </div>
      <Show loaded={list}>
        {(data) =>
          data.items.length === 0 ? (
            <Empty>{Object.keys(pick(filters, FILTERS)).length ? 'No entry matches these filters.' : 'The ledger is empty.'}</Empty>
          ) : (
            <>
              <table>
                <caption className="visually-hidden">Ledger entries</caption>
                <thead>
                  <tr>
                    <th scope="col">
                      <span className="visually-hidden">Details</span>
                    </th>
                    <th scope="col" className="num">
                      Seq
                    </th>
                    <th scope="col">At</th>
                    <th scope="col">Action</th>
                    <th scope="col">Actor</th>
                    <th scope="col">Subject</th>
                    <th scope="col">Tenant</th>
                  </tr>
                </thead>
                <tbody>
                  {data.items.map((e) => (
                    <Fragment key={e.seq}>
                      <tr>
                        <td>
                          <ExpandButton open={open === e.seq} onToggle={() => setOpen(open === e.seq ? null : e.seq)} label={`entry ${e.seq}`} />
                        </td>
                        <td className="num">{num(e.seq)}</td>
                        <td>
                          <Time at={e.at} />
                        </td>
                        <td>
                          <Badge>{e.action}</Badge>
                        </td>
                        <td className="small" style={{ wordBreak: 'break-all' }}>
                          {e.actor}
                        </td>
                        <td>
                          <Id id={e.subjectId} />
                        </td>
                        <td>
                          <Id id={e.tenantId} />
                        </td>
                      </tr>
                      {open === e.seq ? (
                        <tr>
                          <td colSpan={7}>
                            <dl className="card-grid">
                              <dt>Data</dt>
                              <dd>
                                <pre className="mono small" style={{ margin: 0, whiteSpace: 'pre-wrap' }}>
                                  {JSON.stringify(e.data, null, 2)}
                                </pre>
                              </dd>
                              <dt>Hash</dt>
                              <dd className="mono small" style={{ wordBreak: 'break-all' }}>
                                {e.hash}
                              </dd>
                              <dt>Previous hash</dt>
                              <dd className="mono small" style={{ wordBreak: 'break-all' }}>
                                {e.prevHash}
                              </dd>
                            </dl>
                          </td>
                        </tr>
                      ) : null}
                    </Fragment>
                  ))}
                </tbody>
              </table>
              <UrlPager nextCursor={data.nextCursor} cursor={filters.cursor} />
            </>
          )
        }
      </Show>
    </>
  );
}

page({ path: '/ledger', title: 'Ledger', nav: true, permission: 'ledger.read', component: Ledger });
