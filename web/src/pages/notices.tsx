import { Fragment, useState } from 'react';
import { page } from './index.tsx';
import { call } from '../api.ts';
import { noticeEndpoints, type Notice } from '../../../src/governance/notice.contract.ts';
import { FINDING_TYPES } from '../../../src/governance/finding.types.ts';
import { Badge, PageHeader, Show, Time, useApi } from '../ui.tsx';
import { ClearFilters, Empty, ExpandButton, FilterSelect, Id, TextFilters, UrlPager, queryFor, pick, useFilters, TenantFilter } from '../components/gov-common.tsx';

const DELIVERY_KIND: Record<string, string> = { pending: 'info', delivered: 'ok', gave_up: 'bad' };
const FILTERS = ['findingType', 'tenantId', 'tokenId'];

function NoticeDetail({ n }: { n: Notice }) {
  return (
    <dl className="card-grid">
      <dt>Message</dt>
      <dd style={{ whiteSpace: 'pre-wrap' }}>{n.message}</dd>
      <dt>Recipients</dt>
      <dd>
        <ul style={{ margin: 0, paddingLeft: '1.1rem' }}>
          {n.recipients.map((r, i) => (
            <li key={i}>
              {r.kind.replaceAll('_', ' ')}: {r.name}
              {r.address ? ` <${r.address}>` : ''}
            </li>
          ))}
        </ul>
      </dd>
      <dt>Finding</dt>
      <dd>
        <Id id={n.findingId} />
      </dd>
      <dt>Reauthorisation link</dt>
      <dd>
        {n.link ? (
          <>
            {n.link.url ? <span className="small muted">single-use link issued (sent to the recipients; not shown here)</span> : <span className="muted">issued (hidden from your role)</span>} · expires <Time at={n.link.expiresAt} />
          </>
        ) : (
          'none (the provider runs no consent)'
        )}
      </dd>
      <dt>Policy version</dt>
      <dd>
        global {n.policyVersion.global}, tenant {n.policyVersion.tenant}
      </dd>
      <dt>Delivered</dt>
      <dd>
        <Time at={n.deliveredAt} />
      </dd>
    </dl>
  );
}

function Notices() {
  const filters = useFilters();
  const [open, setOpen] = useState<string | null>(null);
  const list = useApi(() => call(noticeEndpoints.list, { query: queryFor(noticeEndpoints.list, filters, [...FILTERS, 'cursor'], { limit: '50' }) }), [FILTERS.map((n) => filters[n]).join('|'), filters.cursor]);
  return (
    <>
      <PageHeader title="Notices" />
      <p className="muted">Notices given before enforcement suspends a token (or, for access reviews, before an undecided item escalates), newest first.</p>
      <div className="filters">
        <TenantFilter value={filters.tenantId} />
        <FilterSelect label="Finding type" name="findingType" value={filters.findingType} options={FINDING_TYPES} />
        <TextFilters values={filters} fields={[{ name: 'tokenId', label: 'Token id', placeholder: 'tok_…' }]} />
        <ClearFilters names={FILTERS} />
      </div>
      <Show loaded={list}>
        {(data) =>
          data.items.length === 0 ? (
            <Empty>{Object.keys(pick(filters, FILTERS)).length ? 'No notice matches these filters.' : 'No notices yet. In enforce mode, a finding that enforcement acts on gives a notice before any suspension (see Policies).'}</Empty>
          ) : (
            <>
              <table>
                <caption className="visually-hidden">Notices</caption>
                <thead>
                  <tr>
                    <th scope="col">
                      <span className="visually-hidden">Details</span>
                    </th>
                    <th scope="col">Finding type</th>
                    <th scope="col">Action at deadline</th>
                    <th scope="col">Deadline</th>
                    <th scope="col">Token</th>
                    <th scope="col">Tenant</th>
                    <th scope="col">Delivery</th>
                    <th scope="col">Given</th>
                  </tr>
                </thead>
                <tbody>
                  {data.items.map((n) => (
                    <Fragment key={n.id}>
                      <tr>
                        <td>
                          <ExpandButton open={open === n.id} onToggle={() => setOpen(open === n.id ? null : n.id)} label={`notice ${n.id}`} />
                        </td>
                        <td>{n.findingType.replaceAll('_', ' ')}</td>
                        <td>
                          <Badge kind={n.action === 'suspend' ? 'warn' : 'info'}>{n.action}</Badge>
                        </td>
                        <td>
                          <Time at={n.deadline} />
                        </td>
                        <td>
                          <Id id={n.tokenId} />
                        </td>
                        <td>
                          <Id id={n.tenantId} />
                        </td>
                        <td>
                          <Badge kind={DELIVERY_KIND[n.delivery]}>{n.delivery.replaceAll('_', ' ')}</Badge>
                        </td>
                        <td>
                          <Time at={n.createdAt} />
                        </td>
                      </tr>
                      {open === n.id ? (
                        <tr>
                          <td colSpan={8}>
                            <NoticeDetail n={n} />
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

page({ path: '/notices', title: 'Notices', nav: true, permission: 'notices.read', component: Notices });
