import { useEffect, useState } from 'react';
import { call, onSignedOut, setCsrfToken } from './api.ts';
import { sessionEndpoints, type SessionView } from '../../src/sessions/session.contract.ts';
import { SignIn } from './login.tsx';
import { PAGES } from './pages/index.tsx';
import { Link, matchPath, useLocation } from './router.tsx';
import { ErrorBanner, Loading, SessionContext } from './ui.tsx';
import { roleHas } from '../../src/auth/roles.ts';
import { ActorNames } from './components/actor.tsx';


type Theme = 'light' | 'dark' | 'system';

function useTheme(): [Theme, (t: Theme) => void] {
  const [theme, setTheme] = useState<Theme>(() => (localStorage.getItem('custody.theme') as Theme | null) ?? 'system');
  useEffect(() => {
    if (theme === 'system') document.documentElement.removeAttribute('data-theme');
    else document.documentElement.setAttribute('data-theme', theme);
    localStorage.setItem('custody.theme', theme);
  }, [theme]);
  return [theme, setTheme];
}

export function App() {
  const [session, setSession] = useState<SessionView | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [theme, setTheme] = useTheme();
  const location = useLocation();

  useEffect(() => {
    call(sessionEndpoints.current).then(
      ({ session: s }) => {
        setCsrfToken(s?.csrfToken ?? null);
        setSession(s);
      },
      (err: unknown) => setError(err),
    );
    return onSignedOut(() => {
      setCsrfToken(null);
      setSession(null);
    });
  }, []);

  if (error) return <ErrorBanner error={error} />;
  if (session === undefined) return <Loading />;
  if (session === null) return <SignIn onSignedIn={setSession} />;

  const visible = PAGES.filter((p) => !p.permission || roleHas(session.role, p.permission));
  let content = null;
  for (const p of visible) {
    const params = matchPath(p.path, location.path);
    if (params) {
      const Page = p.component;
      content = <Page key={location.path} params={params} />;
      break;
    }
  }
  const signOut = async () => {
    try {
      await call(sessionEndpoints.signOut);
    } finally {
      setCsrfToken(null);
      setSession(null);
    }
  };

  return (
    <SessionContext.Provider value={session}>
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <div className="layout">
        <nav className="sidebar" aria-label="Console">
          <div className="brand">Custody</div>
          <ul>
            {visible
              .filter((p) => p.nav)
              .map((p) => (
                <li key={p.path}>
                  <Link to={p.path} aria-current={location.path === p.path ? 'page' : undefined}>
                    {p.title}
                  </Link>
                </li>
              ))}
          </ul>
        </nav>
        <div className="main-column">
          <header className="topbar">
            <span>
              Signed in as <strong>{session.name}</strong> · {session.role}
              {session.tenantId ? (
                <>
                  {' '}
                  of {session.tenantName ? <strong title={session.tenantId}>{session.tenantName}</strong> : <code>{session.tenantId}</code>}
                </>
              ) : null}
            </span>
            <span className="topbar-actions">
              <label>
                Theme{' '}
                <select value={theme} onChange={(e) => setTheme(e.target.value as Theme)}>
                  <option value="system">System</option>
                  <option value="light">Light</option>
                  <option value="dark">Dark</option>
                </select>
              </label>
              <button type="button" onClick={signOut}>
                Sign out
              </button>
            </span>
          </header>
          <main id="main" tabIndex={-1}>
            <ActorNames>
            {content ?? (
              <section>
                <h1>Not found</h1>
                <p>There is no page at {location.path} that your role may see.</p>
                <Link to="/">Go to the overview</Link>
              </section>
            )}
            </ActorNames>
          </main>
        </div>
      </div>
    </SessionContext.Provider>
  );
}
