import { Fragment, useId, useState, type FormEvent } from 'react';
import { page } from './index.tsx';
import { call } from '../api.ts';
import { reviewEndpoints, type ReviewCampaign, type ReviewItem } from '../../../src/reviews/review.contract.ts';
import { CAMPAIGN_STATUSES, ITEM_STATUSES, REVIEW_LIMITS } from '../../../src/reviews/review.types.ts';
import { setQuery } from '../router.tsx';
import { Badge, ErrorBanner, PageHeader, Show, Time, useApi, useCan, useSession } from '../ui.tsx';
import { ClearFilters, Empty, FilterSelect, FormDialog, Id, TextFilters, UrlPager, localInDays, num, pick, toIso, useFilters, TenantFilter } from '../components/gov-common.tsx';

const CAMPAIGN_KIND: Record<string, string> = { creating: 'info', open: 'warn', closed: 'ok' };
const ITEM_KIND: Record<string, string> = { open: 'warn', kept: 'ok', revoked: 'bad', reassigned: 'info', escalated: 'bad' };

function Progress({ c }: { c: ReviewCampaign }) {
  const { total, decided } = c.progress;
  return (
    <span>
      <progress value={decided} max={Math.max(total, 1)} aria-label={`${c.name}: ${decided} of ${total} decided`} style={{ verticalAlign: 'middle', marginRight: '0.4rem' }} />
      {num(decided)} / {num(total)}
      <div className="small muted">
        kept {num(c.progress.kept)} · revoked {num(c.progress.revoked)} · reassigned {num(c.progress.reassigned)}
        {c.progress.escalated ? ` · escalated ${num(c.progress.escalated)}` : ''}
      </div>
    </span>
  );
}

function CreateCampaign({ onClose, onCreated }: { onClose: () => void; onCreated: (c: ReviewCampaign) => void }) {
  const session = useSession();
  const [form, setForm] = useState({ name: '', tenantId: session.tenantId ?? '', owner: '', providerId: '', dueAt: localInDays(14), remindDaysBefore: '3' });
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  return (
    <FormDialog
      title="Start an access review"
      actionLabel="Start review"
      onClose={onClose}
      onSubmit={async () => {
        const c = await call(reviewEndpoints.create, {
          body: {
            name: form.name.trim(),
            ...(form.tenantId.trim() ? { tenantId: form.tenantId.trim() } : {}),
            ...(form.owner.trim() ? { owner: form.owner.trim() } : {}),
            ...(form.providerId.trim() ? { providerId: form.providerId.trim() } : {}),
            dueAt: toIso(form.dueAt),
            ...(form.remindDaysBefore ? { remindDaysBefore: Number(form.remindDaysBefore) } : {}),
          },
        });
        onCreated(c);
      }}
    >
      <p className="small muted">One item per live token of the scope (a tenant, an owner, a provider, or a combination, which narrows), assigned to the token’s owner or the tenant’s administrators. Open items escalate at the deadline.</p>
      <label>
        Name
        <input value={form.name} onChange={set('name')} required maxLength={200} placeholder="Q1 2027 review of acme" />
      </label>
      <label>
        Tenant id{session.tenantId ? ' (your tenant)' : ''}
        <input value={form.tenantId} onChange={set('tenantId')} placeholder="ten_…" spellCheck={false} readOnly={!!session.tenantId} />
      </label>
      {session.tenantId ? null : (
        <>
          <label>
            Owner
            <input value={form.owner} onChange={set('owner')} maxLength={200} />
          </label>
          <label>
            Provider id
            <input value={form.providerId} onChange={set('providerId')} placeholder="prv_…" spellCheck={false} />
          </label>
        </>
      )}
      <label>
        Deadline
        <input type="datetime-local" value={form.dueAt} onChange={set('dueAt')} required />
      </label>
      <label>
        Remind this many days before
        <input type="number" min={0} max={REVIEW_LIMITS.maxRemindDaysBefore} value={form.remindDaysBefore} onChange={set('remindDaysBefore')} />
      </label>
    </FormDialog>
  );
}

/** Decide one item in place: keep with a justification, revoke with a reason, reassign to an owner. */
function DecideForm({ campaignId, item, onDecided }: { campaignId: string; item: ReviewItem; onDecided: () => void }) {
  const id = useId();
  const [decision, setDecision] = useState<'keep' | 'revoke' | 'reassign'>('keep');
  const [text, setText] = useState('');
  const [newOwner, setNewOwner] = useState('');
  const [confirmRevoke, setConfirmRevoke] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const enough = decision === 'keep' ? text.trim().length >= REVIEW_LIMITS.minJustification : text.trim().length > 0 && (decision !== 'reassign' || newOwner.trim().length > 0) && (decision !== 'revoke' || confirmRevoke);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!enough || busy) return;
    setBusy(true);
    setError(null);
    try {
      await call(reviewEndpoints.decide, {
        params: { id: campaignId, itemId: item.id },
        body: decision === 'keep' ? { decision, justification: text.trim() } : decision === 'revoke' ? { decision, reason: text.trim() } : { decision, reason: text.trim(), newOwner: newOwner.trim() },
      });
      onDecided();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} aria-label={`Decide token ${item.tokenId}`}>
      <fieldset style={{ border: 'none', padding: 0, margin: 0, display: 'flex', gap: '1rem' }}>
        <legend className="small muted">Decision for token {item.tokenId}</legend>
        {(['keep', 'revoke', 'reassign'] as const).map((d) => (
          <label key={d} style={{ flexDirection: 'row', alignItems: 'center' }}>
            <input type="radio" name={`${id}-decision`} value={d} checked={decision === d} onChange={() => setDecision(d)} /> {d}
          </label>
        ))}
      </fieldset>
      <div className="filters">
        <label style={{ flex: '1 1 20rem' }}>
          {decision === 'keep' ? `Justification (at least ${REVIEW_LIMITS.minJustification} characters; it becomes the token’s purpose)` : 'Reason (recorded in the ledger)'}
          <input value={text} onChange={(e) => setText(e.target.value)} maxLength={decision === 'keep' ? 1000 : 500} required />
        </label>
        {decision === 'reassign' ? (
          <label>
            New owner
            <input value={newOwner} onChange={(e) => setNewOwner(e.target.value)} maxLength={200} required />
          </label>
        ) : null}
        {decision === 'revoke' ? (
          <label style={{ flexDirection: 'row', alignItems: 'center' }}>
            <input type="checkbox" checked={confirmRevoke} onChange={(e) => setConfirmRevoke(e.target.checked)} /> Revoke the token here and at the issuer (cannot be undone)
          </label>
        ) : null}
        <button type="submit" className={decision === 'revoke' ? 'danger' : 'primary'} disabled={!enough || busy}>
          {busy ? 'Saving…' : `Save decision: ${decision}`}
        </button>
      </div>
      <ErrorBanner error={error} />
    </form>
  );
}

function CampaignItems({ campaign, onChanged }: { campaign: ReviewCampaign; onChanged: () => void }) {
  const filters = useFilters();
  const can = useCan();
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  const [deciding, setDeciding] = useState<string | null>(null);
  const items = useApi(
    () => call(reviewEndpoints.items, { params: { id: campaign.id }, query: { ...(filters.itemStatus ? { status: filters.itemStatus as ReviewItem['status'] } : {}), ...(filters.reviewer ? { reviewer: filters.reviewer } : {}), ...(cursor ? { cursor } : {}), limit: '50' } }),
    [campaign.id, filters.itemStatus, filters.reviewer, cursor],
  );
  return (
    <section aria-labelledby="campaign-items-h" className="card" style={{ marginTop: '1rem' }}>
      <h2 id="campaign-items-h">
        Items of “{campaign.name}”
      </h2>
      <div className="filters">
        <FilterSelect label="Item status" name="itemStatus" value={filters.itemStatus} options={ITEM_STATUSES} />
        <TextFilters values={filters} fields={[{ name: 'reviewer', label: 'Reviewer', placeholder: 'owner name or tenant_admins' }]} />
        <button type="button" onClick={() => setQuery({ campaign: null, itemStatus: null, reviewer: null })}>
          Close campaign view
        </button>
      </div>
      <Show loaded={items}>
        {(data) =>
          data.items.length === 0 ? (
            <Empty>No items {filters.itemStatus || filters.reviewer ? 'match these filters' : 'in this campaign'}.</Empty>
          ) : (
            <>
              <table>
                <caption className="visually-hidden">Review items</caption>
                <thead>
                  <tr>
                    <th scope="col">Token</th>
                    <th scope="col">Tenant</th>
                    <th scope="col">Reviewer</th>
                    <th scope="col">Status</th>
                    <th scope="col">Decision</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {data.items.map((it) => (
                    <Fragment key={it.id}>
                      <tr data-item={it.id}>
                        <td>
                          <Id id={it.tokenId} />
                        </td>
                        <td>
                          <Id id={it.tenantId} />
                        </td>
                        <td>{it.reviewer.kind === 'owner' ? it.reviewer.name : 'tenant administrators'}</td>
                        <td>
                          <Badge kind={ITEM_KIND[it.status]}>{it.status}</Badge>
                        </td>
                        <td className="small">
                          {it.decidedAt ? (
                            <>
                              {it.justification ?? it.reason}
                              {it.newOwner ? ` → ${it.newOwner}` : ''}
                              <div className="muted">
                                {it.decidedBy}, <Time at={it.decidedAt} />
                              </div>
                            </>
                          ) : (
                            <span className="muted">undecided</span>
                          )}
                        </td>
                        <td>
                          {can('reviews.decide') && it.status === 'open' ? (
                            <button type="button" aria-expanded={deciding === it.id} onClick={() => setDeciding(deciding === it.id ? null : it.id)} aria-label={`Decide token ${it.tokenId}`}>
                              {deciding === it.id ? 'Cancel' : 'Decide'}
                            </button>
                          ) : null}
                        </td>
                      </tr>
                      {deciding === it.id ? (
                        <tr>
                          <td colSpan={6}>
                            <DecideForm
                              campaignId={campaign.id}
                              item={it}
                              onDecided={() => {
                                setDeciding(null);
                                items.reload();
                                onChanged();
                              }}
                            />
                          </td>
                        </tr>
                      ) : null}
                    </Fragment>
                  ))}
                </tbody>
              </table>
              <nav className="pager" aria-label="Item pages">
                <button type="button" disabled={!cursor} onClick={() => setCursor(undefined)}>
                  First page of items
                </button>
                <button type="button" disabled={!data.nextCursor} onClick={() => data.nextCursor && setCursor(data.nextCursor)}>
                  Next page of items
                </button>
              </nav>
            </>
          )
        }
      </Show>
    </section>
  );
}

function SelectedCampaign({ id, onChanged }: { id: string; onChanged: () => void }) {
  const c = useApi(() => call(reviewEndpoints.get, { params: { id } }), [id]);
  return (
    <Show loaded={c}>
      {(campaign) => (
        <CampaignItems
          campaign={campaign}
          onChanged={() => {
            c.reload();
            onChanged();
          }}
        />
      )}
    </Show>
  );
}

function Reviews() {
  const filters = useFilters();
  const can = useCan();
  const [creating, setCreating] = useState(false);
  const list = useApi(() => call(reviewEndpoints.list, { query: { ...pick(filters, ['tenantId', 'cursor']), ...(filters.status ? { status: filters.status as ReviewCampaign['status'] } : {}), limit: '50' } }), [filters.status, filters.tenantId, filters.cursor]);
  return (
    <>
      <PageHeader title="Access reviews">
        {can('reviews.manage') ? (
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            Start review
          </button>
        ) : null}
      </PageHeader>
      <p className="muted">Campaigns asking each token’s owner whether it is still needed, newest first. Open a campaign to decide its items in place.</p>
      <div className="filters">
        <FilterSelect label="Campaign status" name="status" value={filters.status} options={CAMPAIGN_STATUSES} />
        <TenantFilter value={filters.tenantId} />
        <ClearFilters names={['status', 'tenantId']} />
      </div>
      <Show loaded={list}>
        {(data) =>
          data.items.length === 0 ? (
            <Empty>No review campaigns{filters.status || filters.tenantId ? ' match these filters' : ''}. {can('reviews.manage') ? 'Start one to have owners confirm, revoke or reassign their tokens.' : ''}</Empty>
          ) : (
            <>
              <table>
                <caption className="visually-hidden">Review campaigns</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Scope</th>
                    <th scope="col">Status</th>
                    <th scope="col">Progress (decided / total)</th>
                    <th scope="col">Deadline</th>
                    <th scope="col">Created</th>
                  </tr>
                </thead>
                <tbody>
                  {data.items.map((c) => (
                    <tr key={c.id}>
                      <td>
                        <button type="button" className="link" aria-pressed={filters.campaign === c.id} onClick={() => setQuery({ campaign: c.id, itemStatus: null, reviewer: null })}>
                          {c.name}
                        </button>
                      </td>
                      <td className="small">
                        {c.tenantId ? (
                          <>
                            tenant <Id id={c.tenantId} />
                          </>
                        ) : null}
                        {c.owner ? <div>owner {c.owner}</div> : null}
                        {c.providerId ? (
                          <div>
                            provider <Id id={c.providerId} />
                          </div>
                        ) : null}
                      </td>
                      <td>
                        <Badge kind={CAMPAIGN_KIND[c.status]}>{c.status}</Badge>
                      </td>
                      <td>
                        <Progress c={c} />
                      </td>
                      <td>
                        <Time at={c.dueAt} />
                      </td>
                      <td>
                        <Time at={c.createdAt} />
                        <div className="small muted">{c.createdBy}</div>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <UrlPager nextCursor={data.nextCursor} cursor={filters.cursor} />
            </>
          )
        }
      </Show>
      {filters.campaign ? <SelectedCampaign key={filters.campaign} id={filters.campaign} onChanged={list.reload} /> : null}
      {creating ? <CreateCampaign onClose={() => setCreating(false)} onCreated={(c) => (list.reload(), setQuery({ campaign: c.id }))} /> : null}
    </>
  );
}

page({ path: '/reviews', title: 'Access reviews', nav: true, permission: 'reviews.read', component: Reviews });
