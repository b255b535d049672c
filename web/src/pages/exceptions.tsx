import { useState } from 'react';
import { page } from './index.tsx';
import { call } from '../api.ts';
import { exceptionEndpoints, type FindingException } from '../../../src/governance/exception.contract.ts';
import { FINDING_TYPES } from '../../../src/governance/finding.types.ts';
import { Badge, ConfirmDialog, PageHeader, Show, Time, useApi, useCan, useSession } from '../ui.tsx';
import { ClearFilters, Empty, FilterSelect, FormDialog, Id, TextFilters, localInDays, pick, queryFor, toIso, useFilters, TenantFilter } from '../components/gov-common.tsx';

const STATUS_KIND: Record<string, string> = { active: 'ok', expired: 'muted', withdrawn: 'muted' };
const FILTERS = ['status', 'tenantId', 'tokenId'];

function CreateException({ onClose, onCreated }: { onClose: () => void; onCreated: () => void }) {
  const session = useSession();
  const [form, setForm] = useState({ tenantId: session.tenantId ?? '', tokenId: '', findingType: 'no_purpose', approvedBy: '', reason: '', expiresAt: localInDays(30) });
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  return (
    <FormDialog
      title="Create an exception"
      actionLabel="Create exception"
      onClose={onClose}
      onSubmit={async () => {
        await call(exceptionEndpoints.create, {
          body: {
            tenantId: form.tenantId.trim(),
            ...(form.tokenId.trim() ? { tokenId: form.tokenId.trim() } : {}),
            findingType: form.findingType as FindingException['findingType'],
            approvedBy: form.approvedBy.trim(),
            reason: form.reason.trim(),
            expiresAt: toIso(form.expiresAt),
          },
        });
        onCreated();
      }}
    >
      <p className="small muted">Covered findings show as excepted and enforcement skips them until the exception expires (at most 365 days ahead) or is withdrawn.</p>
      <label>
        Tenant id
        <input value={form.tenantId} onChange={set('tenantId')} required placeholder="ten_…" spellCheck={false} />
      </label>
      <label>
        Token id (leave empty for every token of the tenant)
        <input value={form.tokenId} onChange={set('tokenId')} placeholder="tok_…" spellCheck={false} />
      </label>
      <label>
        Finding type
        <select value={form.findingType} onChange={set('findingType')}>
          {FINDING_TYPES.map((t) => (
            <option key={t} value={t}>
              {t.replaceAll('_', ' ')}
            </option>
          ))}
        </select>
      </label>
      <label>
        Approved by
        <input value={form.approvedBy} onChange={set('approvedBy')} required maxLength={200} />
      </label>
      <label>
        Reason
        <textarea value={form.reason} onChange={set('reason')} required maxLength={1000} rows={2} />
      </label>
      <label>
        Expires at
        <input type="datetime-local" value={form.expiresAt} onChange={set('expiresAt')} required />
      </label>
    </FormDialog>
  );
}

function Exceptions() {
  const filters = useFilters();
  const can = useCan();
  const [creating, setCreating] = useState(false);
  const [ending, setEnding] = useState<FindingException | null>(null);
  const list = useApi(() => call(exceptionEndpoints.list, { query: queryFor(exceptionEndpoints.list, filters, FILTERS) }), [FILTERS.map((n) => filters[n]).join('|')]);
  return (
    <>
      <PageHeader title="Exceptions">
        {can('exceptions.manage') ? (
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            Create exception
          </button>
        ) : null}
      </PageHeader>
      <p className="muted">Finding types accepted for a tenant or a token until a date, newest first. The API returns at most 1,000: filter by tenant, token or status for older ones.</p>
      <div className="filters">
        <TenantFilter value={filters.tenantId} />
        <FilterSelect label="Status" name="status" value={filters.status} options={['active', 'expired', 'withdrawn']} />
        <TextFilters values={filters} fields={[{ name: 'tokenId', label: 'Token id', placeholder: 'tok_…' }]} />
        <ClearFilters names={FILTERS} />
      </div>
      <Show loaded={list}>
        {(data) =>
          data.items.length === 0 ? (
            <Empty>No exceptions{Object.keys(pick(filters, FILTERS)).length ? ' match these filters' : ''}. {can('exceptions.manage') ? 'Create one to accept a finding type for a while, with who approved it and why.' : ''}</Empty>
          ) : (
            <>
              {data.items.length >= 1000 ? <p className="banner">Showing the newest 1,000: narrow the filters to see older ones.</p> : null}
              <table>
                <caption className="visually-hidden">Exceptions</caption>
                <thead>
                  <tr>
                    <th scope="col">Finding type</th>
                    <th scope="col">Tenant</th>
                    <th scope="col">Token</th>
                    <th scope="col">Approved by</th>
                    <th scope="col">Reason</th>
                    <th scope="col">Status</th>
                    <th scope="col">Expires</th>
                    <th scope="col">Created</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {data.items.map((x) => (
                    <tr key={x.id}>
                      <td>{x.findingType.replaceAll('_', ' ')}</td>
                      <td>
                        <Id id={x.tenantId} />
                      </td>
                      <td>{x.tokenId ? <Id id={x.tokenId} /> : <span className="muted">every token</span>}</td>
                      <td>{x.approvedBy}</td>
                      <td>{x.reason}</td>
                      <td>
                        <Badge kind={STATUS_KIND[x.status]}>{x.status}</Badge>
                        {x.withdrawnBy ? <div className="small muted">by {x.withdrawnBy}</div> : null}
                      </td>
                      <td>
                        <Time at={x.expiresAt} />
                      </td>
                      <td>
                        <Time at={x.createdAt} />
                        <div className="small muted">{x.createdBy}</div>
                      </td>
                      <td>
                        {can('exceptions.manage') && x.status === 'active' ? (
                          <button type="button" className="danger" onClick={() => setEnding(x)} aria-label={`End exception ${x.id}`}>
                            End
                          </button>
                        ) : null}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )
        }
      </Show>
      {creating ? <CreateException onClose={() => setCreating(false)} onCreated={list.reload} /> : null}
      {ending ? (
        <ConfirmDialog
          title="End this exception"
          description={`The ${ending.findingType.replaceAll('_', ' ')} findings it covers reopen at once. The record is kept.`}
          confirmWord="end"
          actionLabel="End exception"
          needReason={false}
          onConfirm={async () => {
            await call(exceptionEndpoints.withdraw, { params: { id: ending.id } });
            list.reload();
          }}
          onClose={() => setEnding(null)}
        />
      ) : null}
    </>
  );
}

page({ path: '/exceptions', title: 'Exceptions', nav: true, permission: 'exceptions.read', component: Exceptions });
