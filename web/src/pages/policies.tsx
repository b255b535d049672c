import { useState } from 'react';
import { page } from './index.tsx';
import { call, ApiError } from '../api.ts';
import { policyEndpoints, type PolicyView } from '../../../src/governance/policy.contract.ts';
import { setQuery } from '../router.tsx';
import { Badge, ErrorBanner, PageHeader, Show, Time, useApi, useCan, useSession } from '../ui.tsx';
import { useFilters } from '../components/gov-common.tsx';
import { TenantOptions, useNames } from '../components/inventory-names.tsx';
import { Actor } from '../components/actor.tsx';

const SOURCE_KIND: Record<string, string> = { default: 'muted', global: 'info', tenant: 'warn' };
const SOURCE_LABEL: Record<string, string> = { default: 'default', global: 'global', tenant: 'tenant override' };

function show(v: unknown): string {
  if (v === null) return 'none';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'number') return v.toLocaleString('en');
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.length ? v.join(', ') : '—';
  const entries = Object.entries(v as Record<string, unknown>);
  return entries.length ? entries.map(([k, x]) => `${k}: ${Array.isArray(x) ? x.join(', ') : String(x)}`).join('; ') : '—';
}

function Values({ view, caption }: { view: PolicyView; caption: string }) {
  return (
    <table>
      <caption style={{ textAlign: 'left', fontWeight: 600, padding: '0.3rem 0' }}>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Setting</th>
          <th scope="col">Value in force</th>
          <th scope="col">Source</th>
        </tr>
      </thead>
      <tbody>
        {Object.entries(view.values).map(([k, v]) => (
          <tr key={k}>
            <th scope="row">
              <code>{k}</code>
            </th>
            <td>{show(v)}</td>
            <td>
              <Badge kind={SOURCE_KIND[view.sources[k] ?? 'default']}>{SOURCE_LABEL[view.sources[k] ?? 'default'] ?? view.sources[k]}</Badge>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Edits the document set at one level (global, or a tenant's override) as JSON; the API's validation problems are listed. */
function Editor({ level, set, onSaved }: { level: { kind: 'global' } | { kind: 'tenant'; tenantId: string }; set: PolicyView['set']; onSaved: () => void }) {
  const [text, setText] = useState(() => JSON.stringify(set, null, 2));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState<number | null>(null);
  const label = level.kind === 'global' ? 'Global policy (values set globally; a value left out returns to its default)' : 'Tenant override (values the tenant overrides; {} removes the override)';
  return (
    <form
      onSubmit={async (e) => {
        e.preventDefault();
        setError(null);
        setSaved(null);
        let body: PolicyView['set'];
        try {
          body = JSON.parse(text) as PolicyView['set'];
        } catch (err) {
          setError(new ApiError(0, 'malformed_json', `Not JSON: ${(err as Error).message}`));
          return;
        }
        setBusy(true);
        try {
          const v = level.kind === 'global' ? await call(policyEndpoints.putGlobal, { body }) : await call(policyEndpoints.putTenant, { params: { id: level.tenantId }, body });
          setSaved(v.version);
          onSaved();
        } catch (err) {
          setError(err);
        } finally {
          setBusy(false);
        }
      }}
    >
      <label>
        {label}
        <textarea value={text} onChange={(e) => setText(e.target.value)} rows={12} spellCheck={false} className="mono" style={{ width: '100%' }} />
      </label>
      <ErrorBanner error={error} />
      {saved !== null ? (
        <p className="banner ok" role="status">
          Saved: version {saved}. Findings are being recomputed.
        </p>
      ) : null}
      <button type="submit" className="primary" disabled={busy}>
        {busy ? 'Saving…' : level.kind === 'global' ? 'Save global policy' : 'Save tenant override'}
      </button>
    </form>
  );
}

/** Which version this is, of what, and who changed it last (an API key by its name where the role may list keys). */
function Meta({ view }: { view: PolicyView }) {
  const global = view.scope === 'global';
  const what = global
    ? view.version === 0
      ? 'Global policy never set: every value is its default'
      : `Global policy version ${view.version}`
    : view.version === 0
      ? `No tenant override yet; the global policy (version ${view.globalVersion}) and the defaults apply`
      : `Tenant override version ${view.version}, over global policy version ${view.globalVersion}`;
  return (
    <p className="small muted">
      {what}
      {view.version === 0 ? null : (
        <>
          {' '}
          · last changed <Time at={view.updatedAt} />
          {view.updatedBy ? (
            <>
              {' '}
              by <Actor actor={view.updatedBy} />
            </>
          ) : null}
        </>
      )}
    </p>
  );
}

function Notes({ view }: { view: PolicyView }) {
  return view.notes.length ? (
    <ul className="banner">
      {view.notes.map((n, i) => (
        <li key={i}>{n}</li>
      ))}
    </ul>
  ) : null;
}

function TenantPolicy({ tenantId, name }: { tenantId: string; name: string }) {
  const can = useCan();
  const effective = useApi(() => call(policyEndpoints.effective, { params: { id: tenantId } }), [tenantId]);
  const override = useApi(() => call(policyEndpoints.getTenant, { params: { id: tenantId } }), [tenantId]);
  const [editing, setEditing] = useState(false);
  if (effective.error instanceof ApiError && effective.error.status === 404) return <p role="alert">Tenant {tenantId} not found.</p>;
  return (
    <section aria-labelledby="tenant-policy-h">
      <h2 id="tenant-policy-h">
        Effective policy of {name === tenantId ? <code>{tenantId}</code> : name}
      </h2>
      {name === tenantId ? null : (
        <p className="muted">
          Tenant <code>{tenantId}</code>
        </p>
      )}
      <Show loaded={effective}>
        {(view) => (
          <>
            <Meta view={view} />
            <Notes view={view} />
            <Values view={view} caption="Values in force for this tenant, with where each comes from" />
          </>
        )}
      </Show>
      {can('policy.manage') ? (
        <>
          <button type="button" aria-expanded={editing} onClick={() => setEditing(!editing)} style={{ marginTop: '0.75rem' }}>
            {editing ? 'Close the override editor' : 'Edit tenant override'}
          </button>
          {editing ? (
            <Show loaded={override}>
              {(view) => (
                <Editor
                  level={{ kind: 'tenant', tenantId }}
                  set={view.set}
                  onSaved={() => {
                    effective.reload();
                    override.reload();
                  }}
                />
              )}
            </Show>
          ) : null}
        </>
      ) : null}
    </section>
  );
}

function Policies() {
  const session = useSession();
  const can = useCan();
  const filters = useFilters();
  const tenantId = session.tenantId ?? filters.tenantId;
  const names = useNames();
  const global = useApi(() => call(policyEndpoints.getGlobal), []);
  const [editing, setEditing] = useState(false);
  return (
    <>
      <PageHeader title="Policies" />
      <p className="muted">What governance checks and enforces: the global policy and each tenant’s effective policy, with the source of every value (default, global, or the tenant’s override).</p>
      {session.tenantId ? null : (
        <div className="filters">
          <label>
            Show a tenant’s effective policy
            <select value={filters.tenantId ?? ''} onChange={(e) => setQuery({ tenantId: e.target.value || null })}>
              <option value="">— the global policy only —</option>
              <TenantOptions tenants={names.tenants} current={filters.tenantId} />
            </select>
          </label>
          {filters.tenantId ? (
            <button type="button" onClick={() => setQuery({ tenantId: null })}>
              Back to the global policy
            </button>
          ) : null}
        </div>
      )}
      {tenantId ? <TenantPolicy key={tenantId} tenantId={tenantId} name={names.tenant(tenantId)} /> : null}
      {!session.tenantId ? (
        <section aria-labelledby="global-policy-h">
          <h2 id="global-policy-h">Global policy</h2>
          <Show loaded={global}>
            {(view) => (
              <>
                <Meta view={view} />
                <Notes view={view} />
                <Values view={view} caption="Global values, with where each comes from" />
                {can('policy.manage') ? (
                  <>
                    <button type="button" aria-expanded={editing} onClick={() => setEditing(!editing)} style={{ marginTop: '0.75rem' }}>
                      {editing ? 'Close the global editor' : 'Edit global policy'}
                    </button>
                    {editing ? <Editor level={{ kind: 'global' }} set={view.set} onSaved={global.reload} /> : null}
                  </>
                ) : null}
              </>
            )}
          </Show>
        </section>
      ) : null}
    </>
  );
}

page({ path: '/policies', title: 'Policies', nav: true, permission: 'policy.read', component: Policies });
