import { useState } from 'react';
import { page } from './index.tsx';
import { call } from '../api.ts';
import { directoryEndpoints, type Workload } from '../../../src/governance/directory.contract.ts';
import { Badge, ConfirmDialog, PageHeader, Show, Time, useApi, useCan } from '../ui.tsx';
import { ClearFilters, Empty, FormDialog, Id, TextFilters, queryFor, useFilters, useIsPlatform } from '../components/gov-common.tsx';

function CreateWorkload({ onClose, onCreated }: { onClose: () => void; onCreated: () => void }) {
  const [form, setForm] = useState({ name: '', tenantId: '', owner: '', purpose: '' });
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  return (
    <FormDialog
      title="Register a workload"
      actionLabel="Register workload"
      onClose={onClose}
      onSubmit={async () => {
        await call(directoryEndpoints.createWorkload, {
          body: {
            name: form.name.trim(),
            ...(form.tenantId.trim() ? { tenantId: form.tenantId.trim() } : {}),
            ...(form.owner.trim() ? { owner: form.owner.trim() } : {}),
            ...(form.purpose.trim() ? { purpose: form.purpose.trim() } : {}),
          },
        });
        onCreated();
      }}
    >
      <p className="small muted">Tokens naming a registered workload stop being unknown_workload findings.</p>
      <label>
        Name (letters, digits, . _ : -)
        <input value={form.name} onChange={set('name')} required maxLength={100} pattern="[A-Za-z0-9._:\-]+" spellCheck={false} />
      </label>
      <label>
        Tenant id (leave empty for a platform-wide workload)
        <input value={form.tenantId} onChange={set('tenantId')} placeholder="ten_…" spellCheck={false} />
      </label>
      <label>
        Owner
        <input value={form.owner} onChange={set('owner')} maxLength={200} />
      </label>
      <label>
        Purpose
        <textarea value={form.purpose} onChange={set('purpose')} maxLength={1000} rows={2} />
      </label>
    </FormDialog>
  );
}

function Workloads() {
  const filters = useFilters();
  const can = useCan();
  const platform = useIsPlatform();
  const [creating, setCreating] = useState(false);
  const [retiring, setRetiring] = useState<Workload | null>(null);
  const list = useApi(() => call(directoryEndpoints.listWorkloads, { query: queryFor(directoryEndpoints.listWorkloads, filters, ['tenantId']) }), [filters.tenantId]);
  return (
    <>
      <PageHeader title="Workloads">
        {can('workloads.manage') ? (
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            Register workload
          </button>
        ) : null}
      </PageHeader>
      <p className="muted">The platform’s services that use tokens through the gateway, with who owns them and why they exist.</p>
      {platform ? (
        <div className="filters">
          <TextFilters values={filters} fields={[{ name: 'tenantId', label: 'Tenant id', placeholder: 'ten_…' }]} />
          <ClearFilters names={['tenantId']} />
        </div>
      ) : null}
      <Show loaded={list}>
        {(data) =>
          data.items.length === 0 ? (
            <Empty>No workloads registered{filters.tenantId ? ' for this tenant' : ''}. {can('workloads.manage') ? 'Register the services your tokens name so unknown_workload findings clear.' : ''}</Empty>
          ) : (
            <table>
              <caption className="visually-hidden">Workloads</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Tenant</th>
                  <th scope="col">Owner</th>
                  <th scope="col">Purpose</th>
                  <th scope="col">Status</th>
                  <th scope="col">Updated</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {data.items.map((w) => (
                  <tr key={w.id}>
                    <td>
                      <code>{w.name}</code>
                    </td>
                    <td>{w.tenantId ? <Id id={w.tenantId} /> : <span className="muted">platform-wide</span>}</td>
                    <td>{w.owner ?? <span className="muted">—</span>}</td>
                    <td>{w.purpose ?? <span className="muted">—</span>}</td>
                    <td>
                      <Badge kind={w.active ? 'ok' : 'muted'}>{w.active ? 'active' : 'retired'}</Badge>
                    </td>
                    <td>
                      <Time at={w.updatedAt} />
                    </td>
                    <td>
                      {can('workloads.manage') && w.active ? (
                        <button type="button" className="danger" onClick={() => setRetiring(w)} aria-label={`Retire ${w.name}`}>
                          Retire
                        </button>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
      {creating ? <CreateWorkload onClose={() => setCreating(false)} onCreated={list.reload} /> : null}
      {retiring ? (
        <ConfirmDialog
          title={`Retire ${retiring.name}`}
          description="Tokens still naming it become unknown_workload findings."
          confirmWord={retiring.name}
          actionLabel="Retire"
          needReason={false}
          onConfirm={async () => {
            await call(directoryEndpoints.patchWorkload, { params: { id: retiring.id }, body: { active: false } });
            list.reload();
          }}
          onClose={() => setRetiring(null)}
        />
      ) : null}
    </>
  );
}

page({ path: '/workloads', title: 'Workloads', nav: true, permission: 'workloads.read', component: Workloads });
