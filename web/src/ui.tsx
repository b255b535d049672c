import { createContext, useCallback, useContext, useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { roleHas, type Permission } from '../../src/auth/roles.ts';
import type { SessionView } from '../../src/sessions/session.contract.ts';
import type { ApiError } from './api.ts';

/** The signed-in session, for pages that adapt to the role (a tenant administrator sees its tenant only). */
export const SessionContext = createContext<SessionView | null>(null);

export function useSession(): SessionView {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a session');
  return s;
}

/** Whether the signed-in role may do this (the server decides; this only hides what would be refused). */
export function useCan(): (permission: Permission) => boolean {
  const s = useSession();
  return (permission) => roleHas(s.role, permission);
}

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | Error | undefined;
  loading: boolean;
  reload: () => void;
}

/** Loads with `load` whenever `deps` change; the last answer wins (an older one arriving late is dropped). */
export function useApi<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  const seq = useRef(0);
  useEffect(() => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => mine === seq.current && setState({ data, loading: false }),
      (error: Error) => mine === seq.current && setState({ error, loading: false }),
    );
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

export function PageHeader({ title, children }: { title: string; children?: ReactNode }) {
  useEffect(() => {
    document.title = `${title} · Custody`;
  }, [title]);
  return (
    <header className="page-header">
      <h1>{title}</h1>
      {children ? <div className="page-actions">{children}</div> : null}
    </header>
  );
}

export function ErrorBanner({ error }: { error: unknown }) {
  if (!error) return null;
  const e = error as ApiError;
  return (
    <div role="alert" className="banner error">
      <strong>{e.code ?? 'error'}</strong>: {e.message}
      {e.details?.length ? (
        <ul>
          {e.details.map((d, i) => (
            <li key={i}>
              <code>{d.path}</code> {d.message}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <p className="muted" role="status" aria-live="polite">
      {what}…
    </p>
  );
}

/** A loaded value, its error or a loading line. */
export function Show<T>({ loaded, children }: { loaded: Loaded<T>; children: (data: T) => ReactNode }) {
  if (loaded.error) return <ErrorBanner error={loaded.error} />;
  if (loaded.data === undefined) return <Loading />;
  return <>{children(loaded.data)}</>;
}

export function Badge({ kind, children }: { kind?: string; children: ReactNode }) {
  return <span className={`badge ${kind ? `badge-${kind}` : ''}`}>{children}</span>;
}

const STATE_KIND: Record<string, string> = { active: 'ok', pending: 'info', suspended: 'warn', revoked: 'bad', expired: 'muted' };
export function StateBadge({ state }: { state: string }) {
  return <Badge kind={STATE_KIND[state] ?? 'muted'}>{state}</Badge>;
}

const SEVERITY_KIND: Record<string, string> = { critical: 'bad', high: 'bad', medium: 'warn', low: 'info', info: 'muted' };
export function SeverityBadge({ severity }: { severity: string }) {
  return <Badge kind={SEVERITY_KIND[severity] ?? 'muted'}>{severity}</Badge>;
}

export function Time({ at }: { at: string | null | undefined }) {
  if (!at) return <span className="muted">—</span>;
  const d = new Date(at);
  return (
    <time dateTime={at} title={d.toISOString()}>
      {relative(d)}
    </time>
  );
}

export function relative(d: Date, now = Date.now()): string {
  const s = Math.round((d.getTime() - now) / 1000);
  const abs = Math.abs(s);
  const fmt = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
  if (abs < 60) return fmt.format(s, 'second');
  if (abs < 3600) return fmt.format(Math.round(s / 60), 'minute');
  if (abs < 86400) return fmt.format(Math.round(s / 3600), 'hour');
  if (abs < 86400 * 60) return fmt.format(Math.round(s / 86400), 'day');
  return d.toISOString().slice(0, 10);
}

export function percent(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined || Number.isNaN(x) ? '—' : `${(x * 100).toFixed(digits)} %`;
}

/** Previous/next over a cursor-paged list (the API's `nextCursor`). */
export function Pager({ nextCursor, onNext, onFirst, atFirst }: { nextCursor: string | null | undefined; onNext: (cursor: string) => void; onFirst: () => void; atFirst: boolean }) {
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" onClick={onFirst} disabled={atFirst}>
        First page
      </button>
      <button type="button" onClick={() => nextCursor && onNext(nextCursor)} disabled={!nextCursor}>
        Next page
      </button>
    </nav>
  );
}

/**
 * A modal confirmation for a destructive action: the person types `confirmWord` and gives a
 * reason (recorded in the ledger) before `onConfirm` runs.
 */
export function ConfirmDialog({
  title,
  description,
  confirmWord,
  actionLabel,
  onConfirm,
  onClose,
  needReason = true,
}: {
  title: string;
  description: ReactNode;
  /** What the person types to confirm; absent for an action that is easily undone (a reason is still asked). */
  confirmWord?: string;
  actionLabel: string;
  onConfirm: (reason: string) => Promise<void>;
  onClose: () => void;
  needReason?: boolean;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const id = useId();
  const [typed, setTyped] = useState('');
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);
  const ready = (confirmWord === undefined || typed === confirmWord) && (!needReason || reason.trim().length > 0) && !busy;
  return (
    <dialog ref={ref} aria-labelledby={`${id}-title`} onClose={onClose} className="dialog">
      <form
        method="dialog"
        onSubmit={async (e) => {
          e.preventDefault();
          if (!ready) return;
          setBusy(true);
          setError(null);
          try {
            await onConfirm(reason.trim());
            ref.current?.close();
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        <h2 id={`${id}-title`}>{title}</h2>
        <div>{description}</div>
        {needReason ? (
          <label>
            Reason (recorded in the ledger)
            <textarea value={reason} onChange={(e) => setReason(e.target.value)} required maxLength={500} rows={2} />
          </label>
        ) : null}
        {confirmWord !== undefined ? (
          <label>
            <span>
              Type <code>{confirmWord}</code> to confirm
            </span>
            <input value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" spellCheck={false} />
          </label>
        ) : null}
        <ErrorBanner error={error} />
        <div className="dialog-actions">
          <button type="button" onClick={() => ref.current?.close()}>
            Cancel
          </button>
          <button type="submit" className="danger" disabled={!ready}>
            {busy ? 'Working…' : actionLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}

/** A simple horizontal bar chart (SVG-free, accessible: each bar is a labelled row). */
export function Bars({ rows, label }: { rows: { label: string; value: number; kind?: string }[]; label: string }) {
  const max = Math.max(1, ...rows.map((r) => r.value));
  return (
    <table className="bars" aria-label={label}>
      <tbody>
        {rows.map((r) => (
          <tr key={r.label}>
            <th scope="row">{r.label}</th>
            <td>
              {r.value > 0 ? <span className={`bar ${r.kind ? `bar-${r.kind}` : ''}`} style={{ width: `${(r.value / max) * 100}%` }} /> : null}
            </td>
            <td className="num">{r.value.toLocaleString('en')}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A line over time as SVG, with the values in a visually hidden table for screen readers. */
export function Sparkline({ points, label, format = (v: number) => String(v), height = 60 }: { points: { at: string; value: number }[]; label: string; format?: (v: number) => string; height?: number }) {
  const w = 300;
  if (points.length === 0) return <p className="muted">No data yet.</p>;
  const max = Math.max(...points.map((p) => p.value));
  const min = Math.min(...points.map((p) => p.value));
  const span = max - min || 1;
  const xy = points.map((p, i) => [points.length === 1 ? w / 2 : (i / (points.length - 1)) * w, height - 4 - ((p.value - min) / span) * (height - 8)] as const);
  return (
    <figure className="sparkline">
      <svg viewBox={`0 0 ${w} ${height}`} role="img" aria-label={`${label}: from ${format(points[0]!.value)} to ${format(points[points.length - 1]!.value)}`}>
        <polyline fill="none" stroke="currentColor" strokeWidth="2" points={xy.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')} />
      </svg>
      <table className="visually-hidden">
        <caption>{label}</caption>
        <tbody>
          {points.map((p) => (
            <tr key={p.at}>
              <th scope="row">{p.at}</th>
              <td>{format(p.value)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
