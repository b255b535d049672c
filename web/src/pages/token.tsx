import { useEffect, useState } from 'react';
import { page } from './index.tsx';
import { call, type ApiError } from '../api.ts';
import { Link } from '../router.tsx';
import { Badge, ConfirmDialog, ErrorBanner, Loading, PageHeader, StateBadge, Time, useApi, useCan, useSession } from '../ui.tsx';
import { tokenEndpoints } from '../../../src/tokens/token.contract.ts';
import { oauthEndpoints } from '../../../src/oauth/oauth.contract.ts';
import { providerEndpoints } from '../../../src/providers/provider.contract.ts';
import { Actor } from '../components/actor.tsx';
import { ledgerEndpoints } from '../../../src/ledger/ledger.contract.ts';
import { useNames } from '../components/inventory-names.tsx';
import { LedgerTimeline, RiskPanel, ScopesChart, TokenGovernance, UsagePanel, elapsed, type TokenView } from '../components/token-panels.tsx';

type Action = 'suspend' | 'resume' | 'revoke';
const ACTIONS: Record<Action, { title: string; label: string; description: string }> = {
  suspend: { title: 'Suspend this token', label: 'Suspend', description: 'The gateway refuses it at once, on every instance. It can be resumed.' },
  resume: { title: 'Resume this token', label: 'Resume', description: 'The gateway accepts it again.' },
  revoke: {
    title: 'Revoke this token',
    label: 'Revoke',
    description: 'Final. The gateway refuses it at once; Custody then revokes it at the issuer (RFC 7009) and confirms it by introspection where the issuer allows.',
  },
};

const UPSTREAM_KIND: Record<string, string> = { verified: 'ok', unverifiable: 'warn', pending: 'info', failed: 'bad', none: 'bad' };

function IdentityCard({ token }: { token: TokenView }) {
  const names = useNames();
  const a = token.approver;
  const r = token.revocation;
  return (
    <div className="cards" style={{ gridTemplateColumns: '3fr 2fr' }}>
      <section className="card" aria-labelledby="tk-who">
        <h2 id="tk-who">Who and why</h2>
        <dl className="card-grid">
          <dt>Approved by (customer)</dt>
          <dd>
            {a ? (
              <>
                {a.email ?? a.subject} {a.email ? <span className="muted small">({a.subject})</span> : null} {a.active ? null : <Badge kind="bad">inactive</Badge>}{' '}
                {a.startedBy ? null : <Badge kind="warn">as registered — not confirmed by a consent</Badge>}
                <div className="small muted">
                  {a.issuer ? `at ${a.issuer}` : null} {a.approvedAt ? <Time at={a.approvedAt} /> : null} {a.startedBy ? `· consent started by ${a.startedBy}` : null}
                </div>
              </>
            ) : (
              <Badge kind="bad">no approver recorded</Badge>
            )}
          </dd>
          <dt>Owned here by</dt>
          <dd>{token.owner}</dd>
          <dt>Purpose</dt>
          <dd>{token.purpose ?? <Badge kind="bad">no purpose recorded</Badge>}</dd>
          <dt>Review due</dt>
          <dd>
            <Time at={token.reviewDueAt} />
          </dd>
          <dt>Tenant</dt>
          <dd>{names.tenant(token.tenantId)}</dd>
          <dt>Provider</dt>
          <dd>{names.provider(token.providerId)}</dd>
          <dt>Used by workloads</dt>
          <dd>{token.workloads.length ? token.workloads.map((w) => <code key={w}>{w} </code>) : <span className="muted">none</span>}</dd>
          <dt>Last used</dt>
          <dd>
            {token.lastUsedAt ? (
              <>
                <Time at={token.lastUsedAt} /> {token.lastUsedBy ? (
                  <span className="muted">
                    by <Actor actor={token.lastUsedBy} />
                  </span>
                ) : null}
              </>
            ) : (
              <span className="muted">{token.usageChannel === 'direct' ? 'not observed (used outside the gateway)' : 'never'}</span>
            )}
          </dd>
          <dt>Managed</dt>
          <dd>
            {token.managed === null ? (
              <span className="muted">n/a (holds no privilege)</span>
            ) : token.managed ? (
              <Badge kind="ok">managed</Badge>
            ) : (
              <>
                <Badge kind="bad">unmanaged</Badge>
                <ul className="small" style={{ margin: '0.2rem 0 0', paddingLeft: '1rem' }}>
                  {token.managedReasons.map((m) => (
                    <li key={m.code}>{m.message}</li>
                  ))}
                </ul>
              </>
            )}
          </dd>
        </dl>
      </section>
      <section className="card" aria-labelledby="tk-kill">
        <h2 id="tk-kill">How it is killed</h2>
        <dl className="card-grid">
          <dt>Locally</dt>
          <dd>{token.inventoryOnly ? 'nothing to block: Custody holds no credential for it (the gateway cannot serve it either)' : 'the gateway refuses it at once'}</dd>
          <dt>At the issuer</dt>
          <dd>
            {token.inventoryOnly ? (
              <Badge kind="bad">no path: imported without credentials</Badge>
            ) : (
              <>
                {token.revocationPath.upstream === 'rfc7009' ? 'RFC 7009 revocation' : <Badge kind="bad">no revocation endpoint</Badge>}{' '}
                {token.revocationPath.verified ? <Badge kind="ok">verified by introspection</Badge> : <Badge kind="warn">not verified</Badge>}
              </>
            )}
          </dd>
          <dt>Credentials</dt>
          <dd>
            {token.inventoryOnly ? 'none held (inventory only)' : `access token${token.hasRefreshToken ? ' and refresh token' : ''} (encrypted, never shown)`}
            <div className="small muted">
              issued <Time at={token.issuedAt} />
              {token.accessExpiresAt ? (
                <>
                  , access expires <Time at={token.accessExpiresAt} />
                </>
              ) : null}
            </div>
          </dd>
          <dt>State</dt>
          <dd>
            <StateBadge state={token.state} /> <Time at={token.stateChangedAt} /> {token.stateActor ? (
              <span className="muted small">
                by <Actor actor={token.stateActor} />
              </span>
            ) : null}
            {token.stateReason ? <div className="small">“{token.stateReason}”</div> : null}
          </dd>
        </dl>
        {r ? (
          <>
            <h3>Kill time</h3>
            <dl className="card-grid" data-testid="kill-time">
              <dt>Requested</dt>
              <dd>
                <Time at={r.requestedAt} />
              </dd>
              <dt>Refused by the gateway</dt>
              <dd>{r.locallyEffectiveAt ? <>after {elapsed(r.requestedAt, r.locallyEffectiveAt)}</> : <span className="muted">pending</span>}</dd>
              <dt>At the issuer</dt>
              <dd>
                <Badge kind={UPSTREAM_KIND[r.upstream] ?? 'muted'}>{r.upstream}</Badge>
                {r.upstreamConfirmedAt ? <> after {elapsed(r.requestedAt, r.upstreamConfirmedAt)}</> : null}
              </dd>
            </dl>
          </>
        ) : null}
      </section>
    </div>
  );
}

function ReauthorizeLink({ token }: { token: TokenView }) {
  const can = useCan();
  const [link, setLink] = useState<{ url: string; expiresAt: string; scopes: string[] } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [copied, setCopied] = useState(false);
  const make = async () => {
    setBusy(true);
    setError(null);
    try {
      setLink(await call(oauthEndpoints.reauthorization, { params: { id: token.id }, body: {} }));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  // A consent needs the provider's issuer and authorization endpoint: without them the link could never work.
  const provider = useApi(() => (can('providers.read') ? call(providerEndpoints.get, { params: { id: token.providerId } }) : Promise.resolve(null)), [token.providerId]);
  const cannotConsent = provider.data ? !provider.data.issuer || !provider.data.authorizationEndpoint : false;
  return (
    <section className="card" aria-labelledby="tk-reauth">
      <h2 id="tk-reauth">Reauthorisation</h2>
      <p className="small muted">A single-use, expiring link for the customer’s administrator: their consent renews this token in place (approver and credentials).</p>
      {cannotConsent ? (
        <p className="banner warn" data-testid="reauth-unavailable">
          {provider.data!.issuer
            ? `${provider.data!.name} cannot run a customer consent: it has no authorization endpoint. An administrator can set one (custody providers update ${provider.data!.id} --authorization-endpoint https://…); until then, renew the token with the customer outside Custody.`
            : `${provider.data!.name} cannot run a customer consent: it was registered without an issuer${provider.data!.authorizationEndpoint ? '' : ' and an authorization endpoint'}, and the issuer (whose ID token names the approver) cannot be added later. Register the provider again from its issuer (custody providers add --issuer https://…) for new consents; until then, renew this token with the customer outside Custody.`}
        </p>
      ) : (
      <button type="button" onClick={make} disabled={busy || provider.loading}>
        {busy ? 'Working…' : link ? 'Make another link' : 'Send reauthorisation link'}
      </button>
      )}
      <ErrorBanner error={error} />
      {link ? (
        <div role="status" className="banner ok" data-testid="reauth-link">
          <label>
            Link for the customer (shown only now; works once)
            <input readOnly value={link.url} onFocus={(e) => e.currentTarget.select()} />
          </label>
          <div className="small">
            Expires <Time at={link.expiresAt} />; {link.scopes.length ? <>asks for {link.scopes.map((s) => <code key={s}>{s} </code>)}</> : 'asks for no particular scope (the issuer’s defaults)'}
          </div>
          <button
            type="button"
            onClick={() =>
              navigator.clipboard?.writeText(link.url).then(
                () => setCopied(true),
                () => setCopied(false),
              )
            }
          >
            {copied ? 'Copied' : 'Copy link'}
          </button>
        </div>
      ) : null}
    </section>
  );
}

function TokenDetail({ params }: { params: Record<string, string> }) {
  const id = params.id!;
  const can = useCan();
  useSession();
  const loaded = useApi(() => call(tokenEndpoints.get, { params: { id } }), [id]);
  const [token, setToken] = useState<TokenView | undefined>(undefined);
  useEffect(() => {
    if (loaded.data) setToken(loaded.data);
  }, [loaded.data]);
  const ledger = useApi(() => (can('ledger.read') ? call(ledgerEndpoints.list, { query: { tokenId: id, order: 'desc', limit: '20' } }) : Promise.resolve({ items: [], nextCursor: null })), [id, token?.state, token?.updatedAt]);
  const [action, setAction] = useState<Action | null>(null);
  const [done, setDone] = useState<string | null>(null);

  if (loaded.error) {
    const e = loaded.error as ApiError;
    if (e.status === 404)
      return (
        <section>
          <PageHeader title="Token not found" />
          <p>
            There is no token <code>{id}</code> that you may see.
          </p>
          <Link to="/inventory">Back to the inventory</Link>
        </section>
      );
    return (
      <>
        <PageHeader title="Token" />
        <ErrorBanner error={loaded.error} />
      </>
    );
  }
  if (!token) return <Loading what="Loading the token" />;
  const live = token.state === 'active' || token.state === 'suspended';
  const show: Record<Action, boolean> = {
    suspend: token.state === 'active' && can('tokens.suspend'),
    resume: token.state === 'suspended' && can('tokens.resume'),
    revoke: live && can('tokens.revoke'),
  };
  return (
    <>
      <PageHeader title={`Token ${id}`}>
        <span style={{ alignSelf: 'center' }}>
          <StateBadge state={token.state} />
        </span>
        {(Object.keys(ACTIONS) as Action[])
          .filter((a) => show[a])
          .map((a) => (
            <button key={a} type="button" className={a === 'revoke' ? 'danger' : undefined} onClick={() => setAction(a)}>
              {ACTIONS[a].label}
            </button>
          ))}
      </PageHeader>
      <p className="small muted">
        <Link to="/inventory">Inventory</Link> › {id}
      </p>
      {done ? (
        <p role="status" className="banner ok">
          {done}
        </p>
      ) : null}
      {action ? (
        <ConfirmDialog
          title={ACTIONS[action].title}
          description={
            <p>
              {action === 'revoke' && token.inventoryOnly
                ? 'Final. Custody marks the record revoked; it holds no credential, so nothing is revoked at the issuer: have the customer revoke it there.'
                : action === 'revoke' && token.revocationPath.upstream !== 'rfc7009'
                  ? 'Final. The gateway refuses it at once; the provider has no revocation endpoint, so it stays valid at the issuer until the customer revokes it there.'
                  : ACTIONS[action].description}
            </p>
          }
          // Resuming is easily undone: a reason, no typed word. Suspending and revoking kill access.
          {...(action === 'resume' ? {} : { confirmWord: action })}
          actionLabel={ACTIONS[action].label}
          onClose={() => setAction(null)}
          onConfirm={async (reason) => {
            const updated = await call(tokenEndpoints[action], { params: { id }, body: { reason } });
            setToken(updated);
            setDone(`Token ${action === 'revoke' ? 'revoked' : action === 'suspend' ? 'suspended' : 'resumed'}: it is now ${updated.state}.`);
          }}
        />
      ) : null}
      <IdentityCard token={token} />
      <div className="cards" style={{ gridTemplateColumns: '3fr 2fr' }}>
        <section className="card" aria-labelledby="tk-scopes">
          <h2 id="tk-scopes">What it can reach</h2>
          <ScopesChart token={token} />
        </section>
        <section className="card" aria-labelledby="tk-risk">
          <h2 id="tk-risk">Risk</h2>
          <RiskPanel token={token} />
        </section>
      </div>
      <div className="cards" style={{ gridTemplateColumns: live && can('tokens.reauthorize') ? '3fr 2fr' : '1fr' }}>
        <section className="card" aria-labelledby="tk-usage">
          <h2 id="tk-usage">Usage, last 30 days</h2>
          <UsagePanel tokenId={id} />
        </section>
        {live && can('tokens.reauthorize') ? <ReauthorizeLink token={token} /> : null}
      </div>
      <TokenGovernance tokenId={id} />
      {can('ledger.read') ? (
        <section aria-labelledby="tk-ledger">
          <h2 id="tk-ledger">Ledger</h2>
          <LedgerTimeline key={`${token.state}-${token.updatedAt}`} tokenId={id} ledger={ledger} />
        </section>
      ) : null}
    </>
  );
}

page({ path: '/tokens/:id', title: 'Token', nav: false, permission: 'tokens.read', component: TokenDetail });
