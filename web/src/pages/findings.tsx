import { Fragment, useState } from 'react';
import { page } from './index.tsx';
import { call } from '../api.ts';
import { findingEndpoints, type Finding } from '../../../src/governance/finding.contract.ts';
import { FINDING_SEVERITIES, FINDING_STATUSES, FINDING_TYPES } from '../../../src/governance/finding.types.ts';
import { Badge, PageHeader, SeverityBadge, Show, Time, useApi, useCan } from '../ui.tsx';
import { useNames } from '../components/inventory-names.tsx';
import { ClearFilters, Empty, ExpandButton, FilterSelect, Id, ReasonDialog, TextFilters, UrlPager, queryFor, pick, useFilters, TenantFilter } from '../components/gov-common.tsx';

const STATUS_KIND: Record<string, string> = { open: 'bad', acknowledged: 'warn', excepted: 'info', resolved: 'ok' };
const FILTERS = ['type', 'severity', 'status', 'tenantId', 'tokenId', 'owaspNhi'];

function FindingDetail({ f }: { f: Finding }) {
  return (
    <dl className="card-grid">
      <dt>Reasons</dt>
      <dd>
        <ul style={{ margin: 0, paddingLeft: '1.1rem' }}>
          {f.reasons.map((r, i) => (
            <li key={i}>
              <code>{r.code}</code> {r.message}
            </li>
          ))}
        </ul>
      </dd>
      <dt>OWASP NHI (2025)</dt>
      <dd>{f.mappings.owaspNhi.map((m) => `${m.id} ${m.name}`).join('; ') || '—'}</dd>
      <dt>NIST CSF 2.0</dt>
      <dd>{f.mappings.nistCsf.map((m) => `${m.id} ${m.name}`).join('; ') || '—'}</dd>
      <dt>NIST AI RMF</dt>
      <dd>{f.mappings.nistAiRmf.map((m) => `${m.id} ${m.name}`).join('; ') || '—'}</dd>
      <dt>Workload</dt>
      <dd>
        <Id id={f.workloadId} />
      </dd>
      <dt>First seen</dt>
      <dd>
        <Time at={f.firstSeenAt} />
      </dd>
      <dt>Acknowledged</dt>
      <dd>
        {f.acknowledgement ? (
          <>
            <Time at={f.acknowledgement.at} /> by {f.acknowledgement.by}
            {f.acknowledgement.reason ? ` — ${f.acknowledgement.reason}` : ''}
          </>
        ) : (
          '—'
        )}
      </dd>
      <dt>Exception</dt>
      <dd>
        {f.exception ? (
          <>
            <Id id={f.exception.id} /> until <Time at={f.exception.expiresAt} />
          </>
        ) : (
          '—'
        )}
      </dd>
      <dt>Enforcement</dt>
      <dd>
        {f.enforcement ? (
          <>
            {f.enforcement.stage ?? 'nothing done yet'}
            {f.enforcement.nextActionAt ? (
              <>
                {' '}
                · next step <Time at={f.enforcement.nextActionAt} />
              </>
            ) : null}
            {f.enforcement.noticeId ? (
              <>
                {' '}
                · notice <Id id={f.enforcement.noticeId} />
              </>
            ) : null}
          </>
        ) : (
          'not enforced for this type'
        )}
      </dd>
    </dl>
  );
}

function Findings() {
  const filters = useFilters();
  const can = useCan();
  // Tenants by name, as the inventory shows them (the id is the title).
  const names = useNames();
  const [open, setOpen] = useState<string | null>(null);
  const [acking, setAcking] = useState<Finding | null>(null);
  const list = useApi(() => call(findingEndpoints.list, { query: queryFor(findingEndpoints.list, filters, [...FILTERS, 'cursor'], { limit: '50' }) }), [FILTERS.map((n) => filters[n]).join('|'), filters.cursor]);
  return (
    <>
      <PageHeader title="Findings" />
      <p className="muted">What governance found about each token and workload, with why and how it maps to OWASP NHI and NIST. Without a status filter, every live finding (open, acknowledged, excepted).</p>
      <div className="filters">
        <TenantFilter value={filters.tenantId} />
        <FilterSelect label="Type" name="type" value={filters.type} options={FINDING_TYPES} />
        <FilterSelect label="Severity" name="severity" value={filters.severity} options={FINDING_SEVERITIES} />
        <FilterSelect label="Status" name="status" value={filters.status} options={FINDING_STATUSES} anyLabel="Live (not resolved)" />
        <TextFilters
          values={filters}
          fields={[{ name: 'tokenId', label: 'Token id', placeholder: 'tok_…' }, { name: 'owaspNhi', label: 'OWASP NHI item', placeholder: 'NHI7' }]}
        />
        <ClearFilters names={FILTERS} />
      </div>
      <Show loaded={list}>
        {(data) =>
          data.items.length === 0 ? (
            <Empty>{Object.keys(pick(filters, FILTERS)).length ? 'No finding matches these filters: clear them to see every live finding.' : 'No live findings: every token passes the governance checks (a sweep runs on its timer; findings appear here when one fails).'}</Empty>
          ) : (
            <>
              <table>
                <caption className="visually-hidden">Findings</caption>
                <thead>
                  <tr>
                    <th scope="col">
                      <span className="visually-hidden">Details</span>
                    </th>
                    <th scope="col">Type</th>
                    <th scope="col">Severity</th>
                    <th scope="col">Status</th>
                    <th scope="col">Token</th>
                    <th scope="col">Tenant</th>
                    <th scope="col">Mappings</th>
                    <th scope="col">Last seen</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {data.items.map((f) => (
                    <Fragment key={f.id}>
                      <tr>
                        <td>
                          <ExpandButton open={open === f.id} onToggle={() => setOpen(open === f.id ? null : f.id)} label={`${f.type} ${f.id}`} />
                        </td>
                        <td>
                          {f.type.replaceAll('_', ' ')}
                          <div className="small muted">{f.reasons[0]?.message}</div>
                        </td>
                        <td>
                          <SeverityBadge severity={f.severity} />
                        </td>
                        <td>
                          <Badge kind={STATUS_KIND[f.status]}>{f.status}</Badge>
                        </td>
                        <td>
                          <Id id={f.tokenId} />
                        </td>
                        <td>
                          {f.tenantId ? <span title={f.tenantId}>{names.tenant(f.tenantId)}</span> : <span className="muted">—</span>}
                        </td>
                        <td className="small">{[...f.mappings.owaspNhi.map((m) => m.id), ...f.mappings.nistCsf.map((m) => m.id)].join(', ') || '—'}</td>
                        <td>
                          <Time at={f.lastSeenAt} />
                        </td>
                        <td>
                          {can('findings.acknowledge') && f.status === 'open' ? (
                            <button type="button" onClick={() => setAcking(f)}>
                              Acknowledge
                            </button>
                          ) : null}
                        </td>
                      </tr>
                      {open === f.id ? (
                        <tr>
                          <td colSpan={9}>
                            <FindingDetail f={f} />
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
      {acking ? (
        <ReasonDialog
          title={`Acknowledge ${acking.type.replaceAll('_', ' ')}`}
          description="Acknowledging says it is seen and being worked on; it does not suppress the finding (an exception does)."
          actionLabel="Acknowledge"
          onConfirm={async (reason) => {
            await call(findingEndpoints.acknowledge, { params: { id: acking.id }, body: { reason } });
            list.reload();
          }}
          onClose={() => setAcking(null)}
        />
      ) : null}
    </>
  );
}

page({ path: '/findings', title: 'Findings', nav: true, permission: 'findings.read', component: Findings });
