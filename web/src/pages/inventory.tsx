import { useEffect, useState, type FormEvent } from 'react';
import { page } from './index.tsx';
import { call } from '../api.ts';
import { Link, setQuery, useLocation } from '../router.tsx';
import { Badge, PageHeader, Pager, Show, StateBadge, Time, useApi, useSession } from '../ui.tsx';
import { tokenEndpoints } from '../../../src/tokens/token.contract.ts';
import type { TokenQuery } from '../../../src/tokens/token.schemas.ts';
import { TenantOptions, useNames } from '../components/inventory-names.tsx';

/** The query parameters the inventory keeps in the URL, exactly as GET /v1/tokens takes them. */
export const INVENTORY_FILTERS = ['tenantId', 'providerId', 'state', 'owner', 'managed', 'q', 'sort', 'minRisk', 'maxRisk', 'dormantDays', 'cursor', 'limit'] as const;

/** The API query for the page's URL (unknown parameters are ignored, so a stale link still works). */
export function inventoryQuery(search: URLSearchParams): TokenQuery {
  const q: Record<string, string> = {};
  for (const k of INVENTORY_FILTERS) {
    const v = search.get(k);
    if (v) q[k] = v;
  }
  q.limit ??= '50';
  return q as TokenQuery;
}

const STATES = ['active', 'suspended', 'revoked', 'expired'];

function ManagedCell({ managed }: { managed: boolean | null }) {
  if (managed === null) return <span className="muted">n/a</span>;
  return managed ? <Badge kind="ok">yes</Badge> : <Badge kind="bad">no</Badge>;
}

function riskKind(score: number): string {
  return score >= 70 ? 'bad' : score >= 40 ? 'warn' : 'ok';
}

function Inventory() {
  const location = useLocation();
  const session = useSession();
  const names = useNames();
  const search = location.query;
  const query = inventoryQuery(search);
  const key = new URLSearchParams(query as Record<string, string>).toString();
  const tokens = useApi(() => call(tokenEndpoints.list, { query }), [key]);
  // Text filters apply on submit (Enter or the button), not on each key: each change is one request.
  const [text, setText] = useState({ q: search.get('q') ?? '', owner: search.get('owner') ?? '', minRisk: search.get('minRisk') ?? '', maxRisk: search.get('maxRisk') ?? '' });
  // Back, forward or a link changes the URL: the text fields follow it (typing does not touch the URL).
  const urlText = ['q', 'owner', 'minRisk', 'maxRisk'].map((k) => search.get(k) ?? '');
  useEffect(() => {
    const [q = '', owner = '', minRisk = '', maxRisk = ''] = urlText;
    setText({ q, owner, minRisk, maxRisk });
  }, urlText);
  const apply = (values: Record<string, string | null>) => setQuery({ ...values, cursor: null }, { replace: false });
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    apply({ q: text.q.trim(), owner: text.owner.trim(), minRisk: text.minRisk.trim(), maxRisk: text.maxRisk.trim() });
  };
  const filtered = INVENTORY_FILTERS.some((k) => k !== 'cursor' && k !== 'limit' && k !== 'sort' && search.get(k));
  // How many match in all, when the filters are ones the counts route answers (tenant, provider,
  // state; default order): read from indexes, so cheap at any size. Other filters show the page's count.
  const countable = INVENTORY_FILTERS.every((k) => k === 'tenantId' || k === 'providerId' || k === 'state' || k === 'cursor' || k === 'limit' || !search.get(k));
  const countTenant = search.get('tenantId') ?? '';
  const counted = useApi(() => (countable ? call(tokenEndpoints.counts, { query: countTenant ? { tenantId: countTenant } : {} }) : Promise.resolve(null)), [countable, countTenant]);
  const matching = counted.data
    ? counted.data.items.filter((r) => (!search.get('providerId') || r.providerId === search.get('providerId')) && (!search.get('state') || r.state === search.get('state'))).reduce((n, r) => n + r.count, 0)
    : null;
  return (
    <>
      <PageHeader title="Inventory">
        <span className="muted">{session.tenantId ? 'Every token the platform holds for your tenant' : 'Every token the platform holds'}</span>
      </PageHeader>
      <form className="filters" role="search" aria-label="Filter the inventory" onSubmit={onSubmit}>
        <label>
          Search
          <input type="search" value={text.q} onChange={(e) => setText({ ...text, q: e.target.value })} placeholder="id, owner, purpose, approver" maxLength={200} />
        </label>
        {session.tenantId ? null : (
          <label>
            Tenant
            <select value={search.get('tenantId') ?? ''} onChange={(e) => apply({ tenantId: e.target.value })}>
              <option value="">All tenants</option>
              <TenantOptions tenants={names.tenants} current={search.get('tenantId')} />
            </select>
          </label>
        )}
        <label>
          Provider
          <select value={search.get('providerId') ?? ''} onChange={(e) => apply({ providerId: e.target.value })}>
            <option value="">All providers</option>
            {names.providers.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
            {search.get('providerId') && !names.providers.some((p) => p.id === search.get('providerId')) ? <option value={search.get('providerId')!}>{search.get('providerId')}</option> : null}
          </select>
        </label>
        <label>
          State
          <select value={search.get('state') ?? ''} onChange={(e) => apply({ state: e.target.value })}>
            <option value="">Any state</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Managed
          <select value={search.get('managed') ?? ''} onChange={(e) => apply({ managed: e.target.value })}>
            <option value="">Either</option>
            <option value="true">Managed</option>
            <option value="false">Unmanaged</option>
          </select>
        </label>
        <label>
          Owner
          <input value={text.owner} onChange={(e) => setText({ ...text, owner: e.target.value })} maxLength={200} size={14} />
        </label>
        <label>
          Risk from
          <input type="number" min={0} max={100} value={text.minRisk} onChange={(e) => setText({ ...text, minRisk: e.target.value })} style={{ width: '5.5em' }} />
        </label>
        <label>
          Risk to
          <input type="number" min={0} max={100} value={text.maxRisk} onChange={(e) => setText({ ...text, maxRisk: e.target.value })} style={{ width: '5.5em' }} />
        </label>
        <label>
          Sort
          <select value={search.get('sort') ?? 'id'} onChange={(e) => apply({ sort: e.target.value === 'id' ? null : e.target.value })}>
            <option value="id">Oldest first (id)</option>
            <option value="risk">Highest risk first</option>
          </select>
        </label>
        <button type="submit" className="primary">
          Apply
        </button>
        {filtered ? (
          <button
            type="button"
            onClick={() => {
              setText({ q: '', owner: '', minRisk: '', maxRisk: '' });
              apply({ tenantId: null, providerId: null, state: null, owner: null, managed: null, q: null, minRisk: null, maxRisk: null, dormantDays: null });
            }}
          >
            Clear filters
          </button>
        ) : null}
      </form>
      <Show loaded={tokens}>
        {(p) =>
          p.items.length === 0 ? (
            <p className="muted" role="status">
              {filtered || search.get('cursor')
                ? 'No token matches these filters. Clear or widen them.'
                : 'No token yet. Register one with `custody tokens register`, import an inventory, or send a customer a connect link.'}
            </p>
          ) : (
            <>
              <div style={{ overflowX: 'auto' }}>
                <table aria-label="Tokens" className="small" aria-busy={tokens.loading}>
                  <thead>
                    <tr>
                      <th scope="col">Token</th>
                      <th scope="col">Owner · approver</th>
                      <th scope="col">Purpose</th>
                      <th scope="col">{session.tenantId ? 'Provider' : 'Tenant · provider'}</th>
                      <th scope="col">Scopes</th>
                      <th scope="col">Last used</th>
                      <th scope="col">State</th>
                      <th scope="col">Managed</th>
                      <th scope="col" className="num">
                        Risk
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {p.items.map((t) => (
                      <tr key={t.id}>
                        <td>
                          <Link to={`/tokens/${t.id}`} className="mono" title={t.id}>
                            {/* ids begin with their creation time: the end tells them apart (the whole id is the title) */}
                            {t.id.length > 12 ? `…${t.id.slice(-8)}` : t.id}
                          </Link>
                        </td>
                        <td>
                          {t.owner}
                          <div className="muted">{t.approver ? (t.approver.email ?? t.approver.subject) : 'no approver'}</div>
                        </td>
                        <td style={{ maxWidth: '11rem', overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap' }} title={t.purpose ?? undefined}>
                          {t.purpose ?? <span className="muted">none</span>}
                        </td>
                        <td>
                          {session.tenantId ? null : <div>{names.tenant(t.tenantId)}</div>}
                          <div className={session.tenantId ? undefined : 'muted'}>{names.provider(t.providerId)}</div>
                        </td>
                        <td title={t.grantedScopes.join(' ')}>
                          {t.grantedScopes.slice(0, 2).map((s) => (
                            <code key={s} style={{ display: 'block' }}>
                              {s}
                            </code>
                          ))}
                          {t.grantedScopes.length > 2 ? <span className="muted">+{t.grantedScopes.length - 2} more</span> : null}
                        </td>
                        <td style={{ whiteSpace: 'nowrap' }}>{t.lastUsedAt ? <Time at={t.lastUsedAt} /> : <span className="muted">never</span>}</td>
                        <td>
                          <StateBadge state={t.state} />
                        </td>
                        <td>
                          <ManagedCell managed={t.managed} />
                        </td>
                        <td className="num">{t.risk ? <Badge kind={riskKind(t.risk.score)}>{t.risk.score}</Badge> : <span className="muted">—</span>}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <p className="small muted" role="status">
                {p.items.length.toLocaleString('en')} {p.items.length === 1 ? 'token' : 'tokens'} on this page{p.nextCursor ? '; more on the next' : ''}.
                {matching !== null ? (
                  <span data-testid="inventory-total">
                    {' '}
                    {matching.toLocaleString('en')} {matching === 1 ? 'token matches' : 'tokens match'} in all (counted <Time at={counted.data!.at} />).
                  </span>
                ) : null}
              </p>
            </>
          )
        }
      </Show>
      <Pager
        nextCursor={tokens.data?.nextCursor}
        atFirst={!search.get('cursor')}
        onFirst={() => setQuery({ cursor: null }, { replace: false })}
        onNext={(cursor) => setQuery({ cursor }, { replace: false })}
      />
    </>
  );
}

page({ path: '/inventory', title: 'Inventory', nav: true, permission: 'tokens.read', component: Inventory });
