import { Fragment, useState } from 'react';
import { page } from './index.tsx';
import { call } from '../api.ts';
import { alertEndpoints, type Alert } from '../../../src/alerts/alert.contract.ts';
import { ALERT_SEVERITIES, ALERT_STATUSES } from '../../../src/alerts/alert.types.ts';
import { Badge, PageHeader, SeverityBadge, Show, Time, useApi, useCan } from '../ui.tsx';
import { ClearFilters, Empty, ExpandButton, FilterSelect, Id, ReasonDialog, TextFilters, UrlPager, queryFor, num, pick, useFilters, TenantFilter } from '../components/gov-common.tsx';

const STATUS_KIND: Record<string, string> = { open: 'bad', acknowledged: 'warn', resolved: 'ok' };
const FILTERS = ['kind', 'severity', 'status', 'tenantId', 'tokenId'];

function AlertDetail({ id }: { id: string }) {
  const detail = useApi(() => call(alertEndpoints.get, { params: { id } }), [id]);
  return (
    <Show loaded={detail}>
      {(a) => (
        <dl className="card-grid">
          <dt>Message</dt>
          <dd>{a.message}</dd>
          <dt>First seen</dt>
          <dd>
            <Time at={a.firstSeenAt} />
          </dd>
          <dt>Acknowledged</dt>
          <dd>{a.acknowledgement ? <>{a.acknowledgement.by}, <Time at={a.acknowledgement.at} />{a.acknowledgement.reason ? ` — ${a.acknowledgement.reason}` : ''}</> : '—'}</dd>
          <dt>Resolved</dt>
          <dd>{a.resolution ? <>{a.resolution.by}, <Time at={a.resolution.at} />{a.resolution.reason ? ` — ${a.resolution.reason}` : ''}</> : '—'}</dd>
          <dt>Data</dt>
          <dd>
            <pre className="mono small" style={{ margin: 0, whiteSpace: 'pre-wrap' }}>
              {JSON.stringify(a.data, null, 2)}
            </pre>
          </dd>
          <dt>Evidence ({a.evidence.length})</dt>
          <dd>
            {a.evidence.length === 0 ? (
              '—'
            ) : (
              <ol style={{ margin: 0, paddingLeft: '1.1rem' }}>
                {a.evidence.map((e, i) => (
                  <li key={i}>
                    <code className="small">{JSON.stringify(e)}</code>
                  </li>
                ))}
              </ol>
            )}
          </dd>
        </dl>
      )}
    </Show>
  );
}

function Alerts() {
  const filters = useFilters();
  const can = useCan();
  const [open, setOpen] = useState<string | null>(null);
  const [acting, setActing] = useState<{ alert: Alert; action: 'acknowledge' | 'resolve' } | null>(null);
  const list = useApi(() => call(alertEndpoints.list, { query: queryFor(alertEndpoints.list, filters, [...FILTERS, 'cursor'], { limit: '50' }) }), [FILTERS.map((n) => filters[n]).join('|'), filters.cursor]);
  return (
    <>
      <PageHeader title="Alerts" />
      <p className="muted">Things that happened and need a person: use after revocation, revocation at the issuer, failed upstream revocations, unusual use. Without a status filter, every alert not resolved.</p>
      <div className="filters">
        <TenantFilter value={filters.tenantId} />
        <FilterSelect label="Severity" name="severity" value={filters.severity} options={ALERT_SEVERITIES} />
        <FilterSelect label="Status" name="status" value={filters.status} options={ALERT_STATUSES} anyLabel="Not resolved" />
        <TextFilters
          values={filters}
          fields={[{ name: 'kind', label: 'Kind', placeholder: 'use_after_revoke' }, { name: 'tokenId', label: 'Token id', placeholder: 'tok_…' }]}
        />
        <ClearFilters names={FILTERS} />
      </div>
      <Show loaded={list}>
        {(data) =>
          data.items.length === 0 ? (
            <Empty>{Object.keys(pick(filters, FILTERS)).length ? 'No alert matches these filters: clear them to see every alert not resolved.' : 'No alert needs attention. New ones appear here (and go to webhooks subscribed to alert.*).'}</Empty>
          ) : (
            <>
              <table>
                <caption className="visually-hidden">Alerts</caption>
                <thead>
                  <tr>
                    <th scope="col">
                      <span className="visually-hidden">Details</span>
                    </th>
                    <th scope="col">Kind</th>
                    <th scope="col">Severity</th>
                    <th scope="col">Status</th>
                    <th scope="col">Message</th>
                    <th scope="col">Token</th>
                    <th scope="col">Tenant</th>
                    <th scope="col" className="num">
                      Count
                    </th>
                    <th scope="col">Last seen</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {data.items.map((a) => (
                    <Fragment key={a.id}>
                      <tr data-alert={a.id}>
                        <td>
                          <ExpandButton open={open === a.id} onToggle={() => setOpen(open === a.id ? null : a.id)} label={`${a.kind} ${a.id}`} />
                        </td>
                        <td>{a.kind.replaceAll('_', ' ')}</td>
                        <td>
                          <SeverityBadge severity={a.severity} />
                        </td>
                        <td>
                          <Badge kind={STATUS_KIND[a.status]}>{a.status}</Badge>
                        </td>
                        <td>{a.message}</td>
                        <td>
                          <Id id={a.tokenId} />
                        </td>
                        <td>{a.tenantId ? <Id id={a.tenantId} /> : <span className="muted">platform</span>}</td>
                        <td className="num">{num(a.count)}</td>
                        <td>
                          <Time at={a.lastSeenAt} />
                        </td>
                        <td>
                          {can('alerts.manage') && a.status !== 'resolved' ? (
                            <span className="filters" style={{ margin: 0, flexWrap: 'nowrap' }}>
                              {a.status === 'open' ? (
                                <button type="button" onClick={() => setActing({ alert: a, action: 'acknowledge' })} aria-label={`Acknowledge alert ${a.id}`}>
                                  Acknowledge
                                </button>
                              ) : null}
                              <button type="button" onClick={() => setActing({ alert: a, action: 'resolve' })} aria-label={`Resolve alert ${a.id}`}>
                                Resolve
                              </button>
                            </span>
                          ) : null}
                        </td>
                      </tr>
                      {open === a.id ? (
                        <tr>
                          <td colSpan={10}>
                            <AlertDetail id={a.id} />
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
      {acting ? (
        <ReasonDialog
          title={`${acting.action === 'acknowledge' ? 'Acknowledge' : 'Resolve'} alert: ${acting.alert.kind.replaceAll('_', ' ')}`}
          description={acting.action === 'acknowledge' ? 'Seen and being worked on: it stays until resolved, and repeats still bump it.' : 'Dealt with: a later repeat of this kind about the same subject opens a new alert.'}
          actionLabel={acting.action === 'acknowledge' ? 'Acknowledge' : 'Resolve'}
          onConfirm={async (reason) => {
            await call(acting.action === 'acknowledge' ? alertEndpoints.acknowledge : alertEndpoints.resolve, { params: { id: acting.alert.id }, body: { reason } });
            list.reload();
          }}
          onClose={() => setActing(null)}
        />
      ) : null}
    </>
  );
}

page({ path: '/alerts', title: 'Alerts', nav: true, permission: 'alerts.read', component: Alerts });
