import { useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from 'react';
import type { Endpoint, QueryOf } from '../../../src/contract/endpoint.ts';
import { Link, setQuery, useLocation } from '../router.tsx';
import { ErrorBanner, Pager, useSession } from '../ui.tsx';
import { useNames } from './inventory-names.tsx';

/**
 * Pieces the governance pages share: filters kept in the URL (each change goes back to the first
 * page), cursor paging through the URL, a reason dialog for non-destructive actions, a secret
 * shown once with a copy button.
 */

/**
 * The API query for `endpoint` from the page's filters (the names given, without empty values):
 * the server validates each value (an ill-formed one answers 400 with the field named).
 */
export function queryFor<E extends Endpoint>(_endpoint: E, filters: Record<string, string>, names: string[], extra: Record<string, string> = {}): QueryOf<E> {
  return { ...pick(filters, names), ...extra } as QueryOf<E>;
}

/** The page's query string as a plain record (the filters and the cursor). */
export function useFilters(): Record<string, string> {
  const { query } = useLocation();
  return Object.fromEntries(query.entries());
}

/** A query for the API: the filters named, without empty values. */
export function pick(filters: Record<string, string>, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) if (filters[n]) out[n] = filters[n]!;
  return out;
}

export function FilterSelect({
  label,
  name,
  value,
  options,
  anyLabel = 'Any',
  optionLabels = {},
}: {
  label: string;
  name: string;
  value: string | undefined;
  options: readonly string[];
  anyLabel?: string;
  optionLabels?: Record<string, string>;
}) {
  // Labelled by id, not by wrapping: a wrapping label would name the select with every option's text too.
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value ?? ''} onChange={(e) => setQuery({ [name]: e.target.value, cursor: null })}>
        <option value="">{anyLabel}</option>
        {options.map((o) => (
          <option key={o} value={o}>
            {optionLabels[o] ?? o.replaceAll('_', ' ')}
          </option>
        ))}
      </select>
    </div>
  );
}

/** Text filters applied together with an Apply button (or Enter). */
export function TextFilters({ fields, values }: { fields: { name: string; label: string; placeholder?: string }[]; values: Record<string, string> }) {
  const [draft, setDraft] = useState<Record<string, string>>(() => Object.fromEntries(fields.map((f) => [f.name, values[f.name] ?? ''])));
  const key = fields.map((f) => values[f.name] ?? '').join('\u0000');
  useEffect(() => {
    setDraft(Object.fromEntries(fields.map((f) => [f.name, values[f.name] ?? ''])));
  }, [key]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setQuery({ ...Object.fromEntries(fields.map((f) => [f.name, draft[f.name]?.trim() ?? ''])), cursor: null });
  };
  return (
    <form onSubmit={submit} className="filters" style={{ margin: 0 }}>
      {fields.map((f) => (
        <label key={f.name}>
          {f.label}
          <input value={draft[f.name] ?? ''} placeholder={f.placeholder} onChange={(e) => setDraft({ ...draft, [f.name]: e.target.value })} spellCheck={false} autoComplete="off" />
        </label>
      ))}
      <button type="submit">Apply</button>
    </form>
  );
}

/** The tenant filter: platform roles only (a tenant administrator sees its own tenant anyway). */
export function useIsPlatform(): boolean {
  return useSession().tenantId === null;
}

export function ClearFilters({ names }: { names: string[] }) {
  return (
    <button type="button" onClick={() => setQuery({ ...Object.fromEntries(names.map((n) => [n, null])), cursor: null })}>
      Clear filters
    </button>
  );
}

/** Previous pages are the browser's history; next follows the API's cursor (kept in the URL). */
export function UrlPager({ nextCursor, cursor }: { nextCursor: string | null | undefined; cursor: string | undefined }) {
  return <Pager nextCursor={nextCursor} atFirst={!cursor} onFirst={() => setQuery({ cursor: null }, { replace: false })} onNext={(c) => setQuery({ cursor: c }, { replace: false })} />;
}

export function Empty({ children }: { children: ReactNode }) {
  return (
    <p className="muted" role="status">
      {children}
    </p>
  );
}

export function Id({ id }: { id: string | null | undefined }) {
  if (!id) return <span className="muted">—</span>;
  // A token: a link to its page, shortened as the inventory shows it (ids begin with their creation
  // time, so the end tells them apart; the whole id is the title).
  if (id.startsWith('tok_')) {
    return (
      <Link to={`/tokens/${id}`} className="mono small" title={id}>
        {id.length > 12 ? `…${id.slice(-8)}` : id}
      </Link>
    );
  }
  // Ids are long (a prefix and 26 characters): they wrap anywhere rather than push columns off the screen.
  return (
    <code className="mono small" style={{ wordBreak: 'break-all' }}>
      {id}
    </code>
  );
}

export const num = (n: number | null | undefined) => (n === null || n === undefined ? '—' : n.toLocaleString('en'));

/**
 * A modal form: `children` are its fields, `onSubmit` runs the action and closes on success
 * (the API's error, with its details, shows inside the dialog otherwise).
 */
export function FormDialog({
  title,
  children,
  actionLabel,
  onSubmit,
  onClose,
  danger = false,
  ready = true,
}: {
  title: string;
  children: ReactNode;
  actionLabel: string;
  onSubmit: () => Promise<void>;
  onClose: () => void;
  danger?: boolean;
  ready?: boolean;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const id = useId();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);
  return (
    <dialog ref={ref} aria-labelledby={`${id}-title`} onClose={onClose} className="dialog">
      <form
        method="dialog"
        onSubmit={async (e) => {
          e.preventDefault();
          if (busy || !ready) return;
          setBusy(true);
          setError(null);
          try {
            await onSubmit();
            ref.current?.close();
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        <h2 id={`${id}-title`}>{title}</h2>
        {children}
        <ErrorBanner error={error} />
        <div className="dialog-actions">
          <button type="button" onClick={() => ref.current?.close()}>
            Cancel
          </button>
          <button type="submit" className={danger ? 'danger' : 'primary'} disabled={busy || !ready}>
            {busy ? 'Working…' : actionLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}

/** A dialog asking only for a reason (recorded in the ledger), for acknowledge / resolve. */
export function ReasonDialog({ title, description, actionLabel, onConfirm, onClose }: { title: string; description?: ReactNode; actionLabel: string; onConfirm: (reason: string) => Promise<void>; onClose: () => void }) {
  const [reason, setReason] = useState('');
  return (
    <FormDialog title={title} actionLabel={actionLabel} onSubmit={() => onConfirm(reason.trim())} onClose={onClose} ready={reason.trim().length > 0}>
      {description ? <div>{description}</div> : null}
      <label>
        Reason (recorded in the ledger)
        <textarea value={reason} onChange={(e) => setReason(e.target.value)} required maxLength={500} rows={3} />
      </label>
    </FormDialog>
  );
}

/** A secret the API shows once: read it, copy it; it is never shown again (nor kept by the page). */
export function OnceSecret({ label, value, onDone }: { label: string; value: string; onDone: () => void }) {
  const [copied, setCopied] = useState<'yes' | 'failed' | null>(null);
  const id = useId();
  return (
    <section className="banner ok" aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`} style={{ marginTop: 0, fontSize: '1rem' }}>
        {label}: shown once
      </h2>
      <p>Copy it now and store it safely: Custody keeps only a hash or an encrypted copy and will never show it again.</p>
      <p>
        <code className="mono" data-testid="once-secret" style={{ wordBreak: 'break-all' }}>
          {value}
        </code>
      </p>
      <div className="filters" style={{ margin: 0 }}>
        <button
          type="button"
          onClick={() =>
            navigator.clipboard.writeText(value).then(
              () => setCopied('yes'),
              () => setCopied('failed'),
            )
          }
        >
          Copy
        </button>
        <button type="button" onClick={onDone}>
          I have stored it
        </button>
        <span role="status">{copied === 'yes' ? 'Copied.' : copied === 'failed' ? 'Copy failed: select the text and copy it.' : ''}</span>
      </div>
    </section>
  );
}

/** A row that opens a detail row beneath it (the button says which and is keyboard usable). */
export function ExpandButton({ open, onToggle, label }: { open: boolean; onToggle: () => void; label: string }) {
  return (
    <button type="button" aria-expanded={open} onClick={onToggle} aria-label={`${open ? 'Hide' : 'Show'} details of ${label}`}>
      {open ? '▾' : '▸'}
    </button>
  );
}

/** `2026-12-31` or a datetime-local value → an ISO timestamp the API accepts. */
export function toIso(local: string): string {
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? local : d.toISOString();
}

/** A datetime-local value `days` from now. */
export function localInDays(days: number): string {
  const d = new Date(Date.now() + days * 86_400_000);
  d.setSeconds(0, 0);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/**
 * The tenant a list is narrowed to, chosen by name (platform roles; a tenant administrator sees
 * theirs only, so nothing is shown). Kept in the URL as `tenantId`, like every filter.
 */
export function TenantFilter({ value }: { value: string | undefined }) {
  const platform = useIsPlatform();
  const names = useNames();
  if (!platform) return null;
  return (
    <label>
      Tenant
      <select value={value ?? ''} onChange={(e) => setQuery({ tenantId: e.target.value || null, cursor: null }, { replace: false })}>
        <option value="">Every tenant</option>
        {value && !names.tenants.some((t) => t.id === value) ? <option value={value}>{value}</option> : null}
        {names.tenants.map((t) => (
          <option key={t.id} value={t.id}>
            {t.name}
          </option>
        ))}
      </select>
    </label>
  );
}
