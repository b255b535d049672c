import { Fragment, useEffect, useState } from 'react';
import type { Static } from 'typebox';
import { page } from './index.tsx';
import { Actor } from '../components/actor.tsx';
import { call } from '../api.ts';
import { ledgerEndpoints, type VerifyProgressSchema, type VerifyResultSchema } from '../../../src/ledger/ledger.contract.ts';
import { Link } from '../router.tsx';
import { Badge, ErrorBanner, PageHeader, Show, Time, useApi, useCan } from '../ui.tsx';
import { useNames } from '../components/inventory-names.tsx';
import { ClearFilters, Empty, ExpandButton, FilterSelect, Id, TextFilters, UrlPager, num, pick, queryFor, useFilters, TenantFilter } from '../components/gov-common.tsx';

type VerifyResult = Static<typeof VerifyResultSchema>;
const FILTERS = ['action', 'subjectId', 'tokenId', 'tenantId', 'order'];

type LastVerify = NonNullable<Static<typeof VerifyProgressSchema>['last']>;
const plural = (n: number, one: string, many = `${one}s`) => `${num(n)} ${n === 1 ? one : many}`;

/** Where a problem's entry is: the ledger listed from it, oldest first. */
function SeqLink({ seq }: { seq: number }) {
  return <Link to={`/ledger?order=asc&cursor=${Math.max(0, seq - 1)}`}>seq {num(seq)}</Link>;
}

/**
 * Verify runs in worker threads on the server; while it runs the page polls the progress route
 * (entries walked of the total), also when it was started before this page was opened (by this
 * page on an earlier visit, another user or the CLI), and shows how the last one ended when the
 * full result is not here. Behind a load balancer the poll may reach another instance, which knows
 * of no running verification: the bar is then indeterminate, with the time.
 */
function Verify() {
  const [state, setState] = useState<{ running: boolean; startedAt?: number; result?: VerifyResult; verifiedAt?: string; error?: unknown }>({ running: false });
  // A verification this page did not start (or started before it was left and opened again).
  const [elsewhere, setElsewhere] = useState<{ running: boolean; last: LastVerify | null }>({ running: false, last: null });
  const [now, setNow] = useState(Date.now());
  const [walked, setWalked] = useState<{ checked: number; total: number } | null>(null);
  const watching = state.running || elsewhere.running;
  useEffect(() => {
    let live = true;
    call(ledgerEndpoints.verifyProgress).then(
      (p) => {
        if (!live) return;
        setElsewhere({ running: p.running, last: p.last });
        if (p.running) {
          setNow(Date.now());
          if (p.total > 0) setWalked({ checked: p.checked, total: p.total });
        }
      },
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, []);
  useEffect(() => {
    if (!watching) return;
    let stopped = false;
    const t = setInterval(() => setNow(Date.now()), 250);
    const poll = async () => {
      while (!stopped) {
        await new Promise((r) => setTimeout(r, 500));
        if (stopped) break;
        const p = await call(ledgerEndpoints.verifyProgress).catch(() => null);
        if (stopped) break;
        setWalked(p?.running && p.total > 0 ? { checked: p.checked, total: p.total } : null);
        // One this page did not start has ended: show how.
        if (p && !p.running && !state.running) setElsewhere({ running: false, last: p.last });
      }
    };
    void poll();
    return () => {
      stopped = true;
      clearInterval(t);
    };
  }, [watching, state.running]);
  const run = async () => {
    const startedAt = Date.now();
    setNow(startedAt);
    setWalked(null);
    setElsewhere({ running: false, last: null });
    setState({ running: true, startedAt });
    try {
      const result = await call(ledgerEndpoints.verify);
      setState({ running: false, result, verifiedAt: new Date().toISOString() });
    } catch (error) {
      setState({ running: false, error });
    }
  };
  const r = state.result;
  const last = !r && !watching ? elsewhere.last : null;
  const started = state.startedAt ?? (elsewhere.running ? now : undefined);
  return (
    <section className="card" aria-labelledby="verify-h">
      <h2 id="verify-h">Verify the ledger</h2>
      <p className="small muted">Walks the whole hash chain and checks each signed checkpoint: detects edited, deleted, reordered and (up to the last checkpoint) truncated entries.</p>
      <button type="button" className="primary" onClick={run} disabled={watching}>
        {watching ? 'Verifying…' : 'Verify now'}
      </button>
      {watching ? (
        // Not a live region: it changes twice a second; the status below says when it starts and ends.
        <p data-testid="verify-progress">
          {walked ? (
            <>
              <progress aria-label="Verifying the ledger" max={walked.total} value={walked.checked} /> {num(walked.checked)} of {num(walked.total)} entries ({Math.floor((100 * walked.checked) / walked.total)} %)
            </>
          ) : (
            <progress aria-label="Verifying the ledger" />
          )}
          {state.startedAt ? `, ${((now - (started ?? now)) / 1000).toFixed(1)} s elapsed` : elsewhere.running ? ' (started earlier; still running)' : ''}
        </p>
      ) : null}
      <div role="status" aria-live="polite">
        {watching ? <span className="visually-hidden">Verifying the ledger.</span> : null}
        {r ? (
          <div className={`banner ${r.ok ? 'ok' : 'error'}`} data-testid="verify-result">
            <strong>{r.ok ? 'Ledger intact' : `Ledger NOT intact: ${plural(r.problems.length, 'problem')}`}</strong>
            <div className="small">
              {plural(r.entries, 'entry', 'entries')} up to seq {num(r.lastSeq)} · checkpoints {num(r.checkpoints.verified)} of {num(r.checkpoints.total)} verified
              {r.checkpoints.lastSeq !== null ? ` (last at seq ${num(r.checkpoints.lastSeq)})` : ''} · {plural(r.checkpoints.unanchored, 'entry', 'entries')} after the last checkpoint · {num(r.durationMs)} ms{' '}
              {r.threads ? `on ${plural(r.threads, 'worker thread')}` : 'in the serving thread'} · verified <Time at={state.verifiedAt ?? null} />
            </div>
            <div className="small mono" style={{ wordBreak: 'break-all' }}>
              last hash {r.lastHash}
            </div>
            {r.problems.length ? (
              <ul>
                {r.problems.slice(0, 50).map((p, i) => (
                  <li key={i}>
                    <code>{p.kind}</code> at <SeqLink seq={p.seq} />: {p.message}
                  </li>
                ))}
              </ul>
            ) : null}
            {r.problems.length > 50 ? <p className="small">The first 50 problems are listed; the CLI (`custody ledger verify --json`) prints them all.</p> : null}
          </div>
        ) : null}
        {last ? (
          <div className={`banner ${last.ok ? 'ok' : 'error'}`} data-testid="verify-last">
            <strong>{last.ok === null ? 'The last verification stopped before the end' : last.ok ? 'Ledger intact at the last verification' : `Ledger NOT intact at the last verification: ${plural(last.problems, 'problem')}`}</strong>
            <div className="small">
              Verified <Time at={last.finishedAt} /> on this server: {plural(last.entries, 'entry', 'entries')} in {num(last.durationMs)} ms.{last.error ? ` ${last.error}.` : ''} Verify now for the details.
            </div>
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
  // Tenants by name, as the inventory shows them (the id is the title).
  const names = useNames();
  const [open, setOpen] = useState<number | null>(null);
  const list = useApi(() => call(ledgerEndpoints.list, { query: queryFor(ledgerEndpoints.list, filters, [...FILTERS, 'cursor'], { limit: '50' }) }), [FILTERS.map((n) => filters[n]).join('|'), filters.cursor]);
  return (
    <>
      <PageHeader title="Ledger" />
      <p className="muted">The tamper-evident record of every change: who did what, to which subject, when. Each entry carries the hash of the one before.</p>
      {can('ledger.verify') ? <Verify /> : null}
      <div className="filters">
        <TenantFilter value={filters.tenantId} />
        <TextFilters
          values={filters}
          fields={[
            { name: 'action', label: 'Action', placeholder: 'token.revoked' },
            { name: 'subjectId', label: 'Subject id' },
            { name: 'tokenId', label: 'Token id', placeholder: 'tok_…' },
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
                          <Actor actor={e.actor} />
                        </td>
                        <td>
                          <Id id={e.subjectId} />
                        </td>
                        <td>
                          {e.tenantId ? <span title={e.tenantId}>{names.tenant(e.tenantId)}</span> : <span className="muted">—</span>}
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
