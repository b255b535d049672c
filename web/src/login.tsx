import { useEffect, useState } from 'react';
import { call, setCsrfToken } from './api.ts';
import { sessionEndpoints, type SessionView, type SsoFailure } from '../../src/sessions/session.contract.ts';
import { ErrorBanner } from './ui.tsx';

/** What the sign-in page says for each single sign-on failure code (session.contract.ts). */
const SSO_FAILURE_WORDS: Record<SsoFailure | 'unknown', string> = {
  flow_missing: 'Single sign-on took too long, or was started in another browser. Start again.',
  flow_invalid: 'Single sign-on could not be verified (it expired or was altered). Start again.',
  not_mapped: 'Your account signed in at the issuer, but none of its groups is allowed to use Custody. Ask a Custody administrator to map one to a role.',
  issuer_unreachable: 'The single sign-on issuer could not be reached. Try again later.',
  issuer_refused: 'The issuer did not sign you in. Start again, or ask your administrator.',
  answer_mismatch: 'The issuer’s answer does not belong to this sign-in. Start again.',
  answer_invalid: 'The issuer’s answer could not be verified (already used, expired, or invalid). Start again.',
  unknown: 'Single sign-on did not complete. Start again.',
};

/** The sign-in page: an API key exchanged for a session cookie, or single sign-on when configured. */
export function SignIn({ onSignedIn }: { onSignedIn: (s: SessionView) => void }) {
  const [apiKey, setApiKey] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [sso, setSso] = useState<{ issuer: string; startUrl: string } | null>(null);
  useEffect(() => {
    document.title = 'Sign in · Custody';
    call(sessionEndpoints.options).then((o) => setSso(o.sso), () => setSso(null));
    const failed = new URLSearchParams(window.location.search).get('sso_error');
    if (failed) {
      // Only our own words: the URL names a code, never the text shown.
      setError({ code: 'sso_failed', message: SSO_FAILURE_WORDS[failed as SsoFailure] ?? SSO_FAILURE_WORDS.unknown });
      // Shown once: a reload or a later sign-in does not bring the old failure back.
      window.history.replaceState(window.history.state, '', window.location.pathname);
    }
  }, []);
  return (
    <main className="signin">
      <h1>Custody</h1>
      <p className="muted">Every OAuth token your platform holds for its customers, governed.</p>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            const s = await call(sessionEndpoints.signIn, { body: { apiKey: apiKey.trim() } });
            setApiKey('');
            setCsrfToken(s.csrfToken);
            onSignedIn(s);
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label>
          API key
          <input type="password" name="apiKey" value={apiKey} onChange={(e) => setApiKey(e.target.value)} autoComplete="off" required placeholder="cus_…" />
        </label>
        <button type="submit" className="primary" disabled={busy || apiKey.trim() === ''}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      {sso ? (
        <p>
          <a className="button" href={sso.startUrl}>
            Sign in with single sign-on ({new URL(sso.issuer).host})
          </a>
        </p>
      ) : null}
      <ErrorBanner error={error} />
      <p className="muted small">The key is exchanged for a session cookie and never kept by the browser. On its first run, npm start prints a first admin key.</p>
    </main>
  );
}
