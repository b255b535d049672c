import { Fragment, useState } from 'react';
import { page } from './index.tsx';
import { call } from '../api.ts';
import { webhookEndpoints, type Webhook } from '../../../src/webhooks/webhook.contract.ts';
import { Badge, ConfirmDialog, PageHeader, Show, Time, useApi, useCan, useSession } from '../ui.tsx';
import { ClearFilters, Empty, ExpandButton, FormDialog, Id, OnceSecret, TextFilters, UrlPager, num, queryFor, useFilters, useIsPlatform } from '../components/gov-common.tsx';

const OUTCOME_KIND: Record<string, string> = { delivered: 'ok', failed: 'warn', gave_up: 'bad', dropped: 'bad' };

function Deliveries({ id }: { id: string }) {
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  const log = useApi(() => call(webhookEndpoints.deliveries, { params: { id }, query: { ...(cursor ? { cursor } : {}), limit: '20' } }), [id, cursor]);
  return (
    <Show loaded={log}>
      {(data) =>
        data.items.length === 0 ? (
          <Empty>No deliveries yet: events of the types it takes will be sent as they happen.</Empty>
        ) : (
          <>
            <table>
              <caption className="visually-hidden">Delivery log</caption>
              <thead>
                <tr>
                  <th scope="col">At</th>
                  <th scope="col">Event</th>
                  <th scope="col">Attempt</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">Status</th>
                  <th scope="col" className="num">
                    Took
                  </th>
                  <th scope="col">Error</th>
                </tr>
              </thead>
              <tbody>
                {data.items.map((d) => (
                  <tr key={d.id}>
                    <td>
                      <Time at={d.at} />
                    </td>
                    <td>
                      <code>{d.eventType}</code>
                    </td>
                    <td className="num">{d.attempt}</td>
                    <td>
                      <Badge kind={OUTCOME_KIND[d.outcome]}>{d.outcome.replaceAll('_', ' ')}</Badge>
                    </td>
                    <td>{d.statusCode ?? '—'}</td>
                    <td className="num">{num(d.durationMs)} ms</td>
                    <td className="small">{d.error ?? ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <nav className="pager" aria-label="Delivery pages">
              <button type="button" disabled={!cursor} onClick={() => setCursor(undefined)}>
                Newest deliveries
              </button>
              <button type="button" disabled={!data.nextCursor} onClick={() => data.nextCursor && setCursor(data.nextCursor)}>
                Older deliveries
              </button>
            </nav>
          </>
        )
      }
    </Show>
  );
}

function CreateWebhook({ onClose, onCreated }: { onClose: () => void; onCreated: (secret: string) => void }) {
  const session = useSession();
  const [form, setForm] = useState({ url: '', events: 'token.revoked, alert.*', tenantId: session.tenantId ?? '', description: '', includeNoticeLinks: false });
  return (
    <FormDialog
      title="Subscribe a receiver"
      actionLabel="Create subscription"
      onClose={onClose}
      onSubmit={async () => {
        const created = await call(webhookEndpoints.create, {
          body: {
            url: form.url.trim(),
            events: form.events
              .split(/[\s,]+/)
              .map((s) => s.trim())
              .filter(Boolean),
            ...(form.tenantId.trim() ? { tenantId: form.tenantId.trim() } : {}),
            ...(form.description.trim() ? { description: form.description.trim() } : {}),
            ...(form.includeNoticeLinks ? { includeNoticeLinks: true } : {}),
          },
        });
        onCreated(created.secret);
      }}
    >
      <label>
        Receiver URL (https)
        <input type="url" value={form.url} onChange={(e) => setForm({ ...form, url: e.target.value })} required maxLength={2000} placeholder="https://hooks.example.com/custody" />
      </label>
      <label>
        Events (types or prefixes, comma separated: token.revoked, alert.*, *)
        <input value={form.events} onChange={(e) => setForm({ ...form, events: e.target.value })} required />
      </label>
      <label>
        Tenant id{session.tenantId ? ' (your tenant)' : ' (leave empty for every tenant)'}
        <input value={form.tenantId} onChange={(e) => setForm({ ...form, tenantId: e.target.value })} readOnly={!!session.tenantId} placeholder="ten_…" spellCheck={false} />
      </label>
      <label>
        Description
        <input value={form.description} onChange={(e) => setForm({ ...form, description: e.target.value })} maxLength={200} />
      </label>
      <label style={{ flexDirection: 'row', alignItems: 'center', gap: '0.4rem' }}>
        <input type="checkbox" checked={form.includeNoticeLinks} onChange={(e) => setForm({ ...form, includeNoticeLinks: e.target.checked })} />
        Send each notice’s single-use reauthorisation link (for a mailer that forwards notices to customers)
      </label>
    </FormDialog>
  );
}

function Webhooks() {
  const filters = useFilters();
  const can = useCan();
  const platform = useIsPlatform();
  const [open, setOpen] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState<string | null>(null);
  const [removing, setRemoving] = useState<Webhook | null>(null);
  const list = useApi(() => call(webhookEndpoints.list, { query: queryFor(webhookEndpoints.list, filters, ['tenantId', 'cursor'], { limit: '50' }) }), [filters.tenantId, filters.cursor]);
  return (
    <>
      <PageHeader title="Webhooks">
        {can('webhooks.manage') ? (
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            Create subscription
          </button>
        ) : null}
      </PageHeader>
      <p className="muted">Receivers that get Custody’s events (Standard Webhooks, signed with a secret shown once at creation), with each subscription’s delivery log.</p>
      {secret ? <OnceSecret label="Signing secret" value={secret} onDone={() => setSecret(null)} /> : null}
      {platform ? (
        <div className="filters">
          <TextFilters values={filters} fields={[{ name: 'tenantId', label: 'Tenant id', placeholder: 'ten_…' }]} />
          <ClearFilters names={['tenantId']} />
        </div>
      ) : null}
      <Show loaded={list}>
        {(data) =>
          data.items.length === 0 ? (
            <Empty>No webhook subscriptions. {can('webhooks.manage') ? 'Create one to send revocations, alerts and notices to your own systems.' : ''}</Empty>
          ) : (
            <>
              <table>
                <caption className="visually-hidden">Webhook subscriptions</caption>
                <thead>
                  <tr>
                    <th scope="col">
                      <span className="visually-hidden">Delivery log</span>
                    </th>
                    <th scope="col">URL</th>
                    <th scope="col">Events</th>
                    <th scope="col">Tenant</th>
                    <th scope="col">Description</th>
                    <th scope="col">Created</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {data.items.map((w) => (
                    <Fragment key={w.id}>
                      <tr>
                        <td>
                          <ExpandButton open={open === w.id} onToggle={() => setOpen(open === w.id ? null : w.id)} label={w.url} />
                        </td>
                        <td className="mono small" style={{ wordBreak: 'break-all' }}>
                          {w.url}
                        </td>
                        <td className="small">{w.events.join(', ')}</td>
                        <td>{w.tenantId ? <Id id={w.tenantId} /> : <span className="muted">every tenant</span>}</td>
                        <td>{w.description ?? <span className="muted">—</span>}</td>
                        <td>
                          <Time at={w.createdAt} />
                          <div className="small muted">{w.createdBy}</div>
                        </td>
                        <td>
                          {can('webhooks.manage') ? (
                            <button type="button" className="danger" onClick={() => setRemoving(w)} aria-label={`Delete subscription ${w.url}`}>
                              Delete
                            </button>
                          ) : null}
                        </td>
                      </tr>
                      {open === w.id ? (
                        <tr>
                          <td colSpan={7}>
                            <Deliveries id={w.id} />
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
      {creating ? (
        <CreateWebhook
          onClose={() => setCreating(false)}
          onCreated={(s) => {
            setSecret(s);
            list.reload();
          }}
        />
      ) : null}
      {removing ? (
        <ConfirmDialog
          title="Delete this subscription"
          description={`Nothing more is sent to ${removing.url}, including retries already queued; its delivery log goes with it.`}
          confirmWord="delete"
          actionLabel="Delete subscription"
          needReason={false}
          onConfirm={async () => {
            await call(webhookEndpoints.remove, { params: { id: removing.id } });
            list.reload();
          }}
          onClose={() => setRemoving(null)}
        />
      ) : null}
    </>
  );
}

page({ path: '/webhooks', title: 'Webhooks', nav: true, permission: 'webhooks.read', component: Webhooks });
