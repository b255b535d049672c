import { useState } from 'react';
import { page } from './index.tsx';
import { call } from '../api.ts';
import { apiKeyEndpoints, type ApiKeyRecord } from '../../../src/apikeys/apikey.contract.ts';
import { ROLES, TENANT_BOUND_ROLES, type Role } from '../../../src/auth/roles.ts';
import { Badge, ConfirmDialog, PageHeader, Show, Time, useApi } from '../ui.tsx';
import { Empty, FilterSelect, FormDialog, Id, OnceSecret, useFilters } from '../components/gov-common.tsx';

function CreateKey({ onClose, onCreated }: { onClose: () => void; onCreated: (key: string) => void }) {
  const [form, setForm] = useState({ name: '', role: 'security' as Role, tenantId: '', workload: '' });
  const bound = TENANT_BOUND_ROLES.includes(form.role);
  return (
    <FormDialog
      title="Create an API key"
      actionLabel="Create key"
      onClose={onClose}
      onSubmit={async () => {
        const { key } = await call(apiKeyEndpoints.create, {
          body: {
            name: form.name.trim(),
            role: form.role,
            ...(bound && form.tenantId.trim() ? { tenantId: form.tenantId.trim() } : {}),
            ...(form.role === 'workload' && form.workload.trim() ? { workload: form.workload.trim() } : {}),
          },
        });
        onCreated(key);
      }}
    >
      <label>
        Name
        <input value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} required maxLength={200} />
      </label>
      <label>
        Role
        <select value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as Role })}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r.replaceAll('_', ' ')}
            </option>
          ))}
        </select>
      </label>
      {bound ? (
        <label>
          Tenant id (required for this role)
          <input value={form.tenantId} onChange={(e) => setForm({ ...form, tenantId: e.target.value })} required placeholder="ten_…" spellCheck={false} />
        </label>
      ) : null}
      {form.role === 'workload' ? (
        <label>
          Workload it acts as (default: its name)
          <input value={form.workload} onChange={(e) => setForm({ ...form, workload: e.target.value })} maxLength={100} pattern="[A-Za-z0-9._:\-]+" />
        </label>
      ) : null}
    </FormDialog>
  );
}

function ApiKeys() {
  const filters = useFilters();
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<string | null>(null);
  const [revoking, setRevoking] = useState<ApiKeyRecord | null>(null);
  const list = useApi(() => call(apiKeyEndpoints.list), []);
  return (
    <>
      <PageHeader title="API keys">
        <button type="button" className="primary" onClick={() => setCreating(true)}>
          Create API key
        </button>
      </PageHeader>
      <p className="muted">Keys for people, tools and workloads, by role. A key is shown once, when created; Custody keeps only its hash.</p>
      {created ? <OnceSecret label="New API key" value={created} onDone={() => setCreated(null)} /> : null}
      <div className="filters">
        <FilterSelect label="Status" name="status" value={filters.status} options={['active', 'revoked']} />
        <FilterSelect label="Role" name="role" value={filters.role} options={ROLES} />
      </div>
      <Show loaded={list}>
        {(data) => {
          const items = data.items.filter((k) => (!filters.status || (filters.status === 'revoked') === (k.revokedAt !== null)) && (!filters.role || k.role === filters.role));
          return items.length === 0 ? (
            <Empty>No API keys{filters.status || filters.role ? ' match these filters' : ''}. Create one for a person, a tool or a workload.</Empty>
          ) : (
            <table>
              <caption className="visually-hidden">API keys</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Role</th>
                  <th scope="col">Tenant</th>
                  <th scope="col">Workload</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Status</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {items.map((k) => (
                  <tr key={k.id} data-key={k.id}>
                    <td>
                      {k.name}
                      <div className="small muted">
                        <Id id={k.id} />
                      </div>
                    </td>
                    <td>{k.role.replaceAll('_', ' ')}</td>
                    <td>
                      <Id id={k.tenantId} />
                    </td>
                    <td>{k.workload ?? <span className="muted">—</span>}</td>
                    <td>
                      <Time at={k.createdAt} />
                      <div className="small muted">{k.createdBy}</div>
                    </td>
                    <td>
                      <Time at={k.lastUsedAt} />
                    </td>
                    <td>{k.revokedAt ? <Badge kind="muted">revoked</Badge> : <Badge kind="ok">active</Badge>}</td>
                    <td>
                      {k.revokedAt ? null : (
                        <button type="button" className="danger" onClick={() => setRevoking(k)} aria-label={`Revoke key ${k.name}`}>
                          Revoke
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          );
        }}
      </Show>
      {creating ? (
        <CreateKey
          onClose={() => setCreating(false)}
          onCreated={(key) => {
            setCreated(key);
            list.reload();
          }}
        />
      ) : null}
      {revoking ? (
        <ConfirmDialog
          title={`Revoke ${revoking.name}`}
          description="Calls with this key are refused at once on this instance and on the others within the key cache’s lifetime. This cannot be undone."
          confirmWord="revoke"
          actionLabel="Revoke key"
          needReason={false}
          onConfirm={async () => {
            await call(apiKeyEndpoints.revoke, { params: { id: revoking.id } });
            list.reload();
          }}
          onClose={() => setRevoking(null)}
        />
      ) : null}
    </>
  );
}

page({ path: '/api-keys', title: 'API keys', nav: true, permission: 'apikeys.manage', component: ApiKeys });
