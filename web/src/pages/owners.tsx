import { useState } from 'react';
import { page } from './index.tsx';
import { call } from '../api.ts';
import { directoryEndpoints, type Owner } from '../../../src/governance/directory.contract.ts';
import { Badge, ConfirmDialog, PageHeader, Show, Time, useApi, useCan } from '../ui.tsx';
import { Empty, FilterSelect, FormDialog, queryFor, useFilters } from '../components/gov-common.tsx';

function CreateOwner({ onClose, onCreated }: { onClose: () => void; onCreated: () => void }) {
  const [form, setForm] = useState({ name: '', kind: 'person' as 'person' | 'team', contact: '' });
  return (
    <FormDialog
      title="Add an owner"
      actionLabel="Add owner"
      onClose={onClose}
      onSubmit={async () => {
        await call(directoryEndpoints.createOwner, { body: { name: form.name.trim(), kind: form.kind, ...(form.contact.trim() ? { contact: form.contact.trim() } : {}) } });
        onCreated();
      }}
    >
      <label>
        Name (as tokens name their owner)
        <input value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} required maxLength={200} />
      </label>
      <label>
        Kind
        <select value={form.kind} onChange={(e) => setForm({ ...form, kind: e.target.value as 'person' | 'team' })}>
          <option value="person">person</option>
          <option value="team">team</option>
        </select>
      </label>
      <label>
        Contact (email, chat channel or pager)
        <input value={form.contact} onChange={(e) => setForm({ ...form, contact: e.target.value })} maxLength={320} />
      </label>
    </FormDialog>
  );
}

/** Move every live token and workload of one owner to another (POST /v1/tokens/reassign). */
export function ReassignDialog({ from, onClose, onDone }: { from: string; onClose: () => void; onDone: (result: { tokens: number; workloads: number }) => void }) {
  const [to, setTo] = useState('');
  const [reason, setReason] = useState('');
  return (
    <FormDialog
      title={`Reassign everything owned by ${from}`}
      actionLabel="Reassign"
      ready={to.trim().length > 0}
      onClose={onClose}
      onSubmit={async () => {
        const r = await call(directoryEndpoints.reassign, { body: { fromOwner: from, toOwner: to.trim(), ...(reason.trim() ? { reason: reason.trim() } : {}) } });
        onDone(r);
      }}
    >
      <p className="small muted">Every live token and workload of this owner moves to the new owner in one transaction (one ledger entry each); their owner_orphaned findings clear at once. The new owner must be active.</p>
      <label>
        New owner
        <input value={to} onChange={(e) => setTo(e.target.value)} required maxLength={200} />
      </label>
      <label>
        Reason (recorded in the ledger)
        <textarea value={reason} onChange={(e) => setReason(e.target.value)} maxLength={500} rows={2} />
      </label>
    </FormDialog>
  );
}

function Owners() {
  const filters = useFilters();
  const can = useCan();
  const [creating, setCreating] = useState(false);
  const [deactivating, setDeactivating] = useState<Owner | null>(null);
  const [reassigning, setReassigning] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const list = useApi(() => call(directoryEndpoints.listOwners, { query: queryFor(directoryEndpoints.listOwners, filters, ['active']) }), [filters.active]);
  return (
    <>
      <PageHeader title="Owners">
        {can('owners.manage') ? (
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            Add owner
          </button>
        ) : null}
      </PageHeader>
      <p className="muted">The accountable people and teams tokens name as their owner. Deactivating one (they left, the team was dissolved) makes their tokens and workloads owner_orphaned until reassigned.</p>
      <div className="filters">
        <FilterSelect label="Active" name="active" value={filters.active} options={['true', 'false']} anyLabel="Active and inactive" />
      </div>
      {done ? (
        <p className="banner ok" role="status">
          {done}
        </p>
      ) : null}
      <Show loaded={list}>
        {(data) =>
          data.items.length === 0 ? (
            <Empty>No owners in the directory{filters.active ? ' match this filter' : ''}. {can('owners.manage') ? 'Add the people and teams your tokens name, so no_owner findings clear.' : ''}</Empty>
          ) : (
            <>
              {data.items.length >= 10_000 ? <p className="banner">The API lists at most 10,000 owners: filter by active to narrow.</p> : null}
              <table>
                <caption className="visually-hidden">Owners</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Kind</th>
                    <th scope="col">Contact</th>
                    <th scope="col">Status</th>
                    <th scope="col">Updated</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {data.items.map((o) => (
                    <tr key={o.id}>
                      <td>{o.name}</td>
                      <td>{o.kind}</td>
                      <td>{o.contact ?? <span className="muted">—</span>}</td>
                      <td>
                        <Badge kind={o.active ? 'ok' : 'muted'}>{o.active ? 'active' : 'inactive'}</Badge>
                      </td>
                      <td>
                        <Time at={o.updatedAt} />
                      </td>
                      <td>
                        <span className="filters" style={{ margin: 0 }}>
                          {can('tokens.reassign') ? (
                            <button type="button" onClick={() => setReassigning(o.name)} aria-label={`Reassign tokens of ${o.name}`}>
                              Reassign tokens
                            </button>
                          ) : null}
                          {can('owners.manage') && o.active ? (
                            <button type="button" className="danger" onClick={() => setDeactivating(o)} aria-label={`Deactivate ${o.name}`}>
                              Deactivate
                            </button>
                          ) : null}
                          {can('owners.manage') && !o.active ? (
                            <button
                              type="button"
                              onClick={async () => {
                                await call(directoryEndpoints.patchOwner, { params: { id: o.id }, body: { active: true } }).catch((e: Error) => setDone(`Could not reactivate: ${e.message}`));
                                list.reload();
                              }}
                              aria-label={`Reactivate ${o.name}`}
                            >
                              Reactivate
                            </button>
                          ) : null}
                        </span>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )
        }
      </Show>
      {creating ? <CreateOwner onClose={() => setCreating(false)} onCreated={list.reload} /> : null}
      {deactivating ? (
        <ConfirmDialog
          title={`Deactivate ${deactivating.name}`}
          description="Each of their live tokens and workloads gets an owner_orphaned finding at once; reassign them to another owner afterwards."
          confirmWord={deactivating.name}
          actionLabel="Deactivate"
          needReason={false}
          onConfirm={async () => {
            await call(directoryEndpoints.patchOwner, { params: { id: deactivating.id }, body: { active: false } });
            list.reload();
          }}
          onClose={() => setDeactivating(null)}
        />
      ) : null}
      {reassigning ? (
        <ReassignDialog
          from={reassigning}
          onClose={() => setReassigning(null)}
          onDone={(r) => setDone(`Moved ${r.tokens.toLocaleString('en')} tokens and ${r.workloads.toLocaleString('en')} workloads from ${reassigning}.`)}
        />
      ) : null}
    </>
  );
}

page({ path: '/owners', title: 'Owners', nav: true, permission: 'owners.read', component: Owners });
