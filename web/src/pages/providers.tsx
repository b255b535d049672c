import { Fragment, useState } from 'react';
import { page } from './index.tsx';
import { call } from '../api.ts';
import { providerEndpoints, type ProviderRecord } from '../../../src/providers/provider.contract.ts';
import { reportEndpoints } from '../../../src/reports/report.contract.ts';
import { Badge, PageHeader, Show, Time, useApi, useSession } from '../ui.tsx';
import { Empty, ExpandButton, Id, num } from '../components/gov-common.tsx';

const yesNo = (v: boolean | null) => (v === null ? 'unknown yet' : v ? 'yes' : 'no');

function ProviderDetail({ p }: { p: ProviderRecord }) {
  return (
    <dl className="card-grid">
      <dt>Issuer</dt>
      <dd>{p.issuer ?? '—'}</dd>
      <dt>Token endpoint</dt>
      <dd className="mono small">{p.tokenEndpoint}</dd>
      <dt>Revocation endpoint</dt>
      <dd className="mono small">{p.revocationEndpoint ?? '—'}</dd>
      <dt>Introspection endpoint</dt>
      <dd className="mono small">{p.introspectionEndpoint ?? '—'}</dd>
      <dt>Client</dt>
      <dd>
        <code>{p.clientId}</code> · client secret {p.hasClientSecret ? 'set (never shown)' : 'none'}
      </dd>
      <dt>API base URLs</dt>
      <dd className="mono small">{p.apiBaseUrls.join(', ')}</dd>
      <dt>Supports</dt>
      <dd>
        PKCE S256 {yesNo(p.supports.pkceS256)} · refresh rotation {yesNo(p.supports.refreshRotation)} · revocation {yesNo(p.supports.revocation)} · introspection {yesNo(p.supports.introspection)}
      </dd>
      <dt>Unmapped calls</dt>
      <dd>{p.unmappedCalls}</dd>
      <dt>Scope catalogue</dt>
      <dd>
        {p.scopeCatalogue.length === 0
          ? 'none declared'
          : p.scopeCatalogue.map((s) => (
              <span key={s.name} style={{ marginRight: '0.5rem' }} title={s.description}>
                <code>{s.name}</code> <Badge kind={s.sensitivity === 'admin' ? 'bad' : s.sensitivity === 'write' ? 'warn' : 'muted'}>{s.sensitivity}</Badge>
              </span>
            ))}
      </dd>
      <dt>Scope rules</dt>
      <dd>{p.scopeRules.length === 0 ? 'none' : `${num(p.scopeRules.length)} rules`}</dd>
    </dl>
  );
}

function Connections() {
  // The pairs come from the compliance report, which reads the whole inventory (seconds with a
  // million tokens): loaded on request for platform staff, at once for one tenant's administrator.
  const session = useSession();
  const [wanted, setWanted] = useState(session.tenantId !== null);
  return (
    <section aria-labelledby="connections-h">
      <h2 id="connections-h">Which third parties are connected</h2>
      <p className="muted small">Each tenant and provider pair with live tokens, and the scopes they hold (from the compliance report).</p>
      {wanted ? (
        <ConnectionsTable />
      ) : (
        <button type="button" onClick={() => setWanted(true)}>
          Show the connected tenants (reads the whole inventory: a few seconds with a million tokens)
        </button>
      )}
    </section>
  );
}

function ConnectionsTable() {
  const report = useApi(() => call(reportEndpoints.compliance, { query: {} }), []);
  return (
    <>
      <Show loaded={report}>
        {({ report: r }) =>
          r.connections.items.length === 0 ? (
            <Empty>No tenant holds a live token yet: connections appear once tokens are registered or consented.</Empty>
          ) : (
            <>
              <table>
                <caption className="visually-hidden">Connections</caption>
                <thead>
                  <tr>
                    <th scope="col">Tenant</th>
                    <th scope="col">Provider</th>
                    <th scope="col" className="num">
                      Live tokens
                    </th>
                    <th scope="col">Scopes (tokens holding each)</th>
                  </tr>
                </thead>
                <tbody>
                  {r.connections.items.map((c) => (
                    <tr key={`${c.tenantId}/${c.providerId}`}>
                      <td>
                        {c.tenantName ?? ''} <Id id={c.tenantId} />
                      </td>
                      <td>
                        {c.providerName ?? ''} <Id id={c.providerId} />
                      </td>
                      <td className="num">{num(c.liveTokens)}</td>
                      <td className="small">{c.scopes.map((s) => `${s.scope} (${num(s.tokens)})`).join(', ') || '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {r.connections.truncated ? <p className="small muted">The report lists the first {num(r.connections.items.length)} of {num(r.connections.pairs)} pairs.</p> : null}
            </>
          )
        }
      </Show>
    </>
  );
}

function Providers() {
  const [open, setOpen] = useState<string | null>(null);
  const list = useApi(() => call(providerEndpoints.list), []);
  return (
    <>
      <PageHeader title="Providers" />
      <p className="muted">The OAuth issuers (third parties) Custody holds tokens for, what each supports, and which tenants are connected to them. Client secrets are never shown.</p>
      <Show loaded={list}>
        {(data) =>
          data.items.length === 0 ? (
            <Empty>No providers registered. An administrator registers one with `custody providers create` or POST /v1/providers.</Empty>
          ) : (
            <table>
              <caption className="visually-hidden">Providers</caption>
              <thead>
                <tr>
                  <th scope="col">
                    <span className="visually-hidden">Details</span>
                  </th>
                  <th scope="col">Name</th>
                  <th scope="col">Id</th>
                  <th scope="col">Revocation</th>
                  <th scope="col" className="num">
                    Scopes declared
                  </th>
                  <th scope="col">Updated</th>
                </tr>
              </thead>
              <tbody>
                {data.items.map((p) => (
                  <Fragment key={p.id}>
                    <tr>
                      <td>
                        <ExpandButton open={open === p.id} onToggle={() => setOpen(open === p.id ? null : p.id)} label={p.name} />
                      </td>
                      <td>
                        {p.name}
                        {p.development ? (
                          <>
                            {' '}
                            <Badge kind="warn">development</Badge>
                          </>
                        ) : null}
                      </td>
                      <td>
                        <Id id={p.id} />
                      </td>
                      <td>
                        {!p.revocation.supported ? (
                          <Badge kind="bad">no revocation path</Badge>
                        ) : p.revocation.verified ? (
                          <>
                            <Badge kind="ok">verified</Badge> <Time at={p.revocation.verifiedAt} />
                          </>
                        ) : (
                          <Badge kind="warn">unverified</Badge>
                        )}
                      </td>
                      <td className="num">{num(p.scopeCatalogue.length)}</td>
                      <td>
                        <Time at={p.updatedAt} />
                      </td>
                    </tr>
                    {open === p.id ? (
                      <tr>
                        <td colSpan={6}>
                          <ProviderDetail p={p} />
                        </td>
                      </tr>
                    ) : null}
                  </Fragment>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
      <Connections />
    </>
  );
}

page({ path: '/providers', title: 'Providers', nav: true, permission: 'providers.read', component: Providers });
