import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { createClient } from './api/client.js';
import { ApiContext } from './api/ApiContext.js';
import { clearToken, loadToken, saveToken } from './api/session.js';
import { PAGES, usePath, BASE } from './lib/router.js';
import { SignIn } from './pages/SignIn.js';
import { Overview } from './pages/Overview.js';
import { Identities } from './pages/Identities.js';
import { Policies } from './pages/Policies.js';
import { Models } from './pages/Models.js';
import { Incidents } from './pages/Incidents.js';
import { Audit } from './pages/Audit.js';

export function App() {
  const [token, setToken] = useState<string | null>(loadToken);
  const [expired, setExpired] = useState(false);
  const [path, go] = usePath();
  const main = useRef<HTMLElement>(null);

  const signOut = useCallback((why?: 'expired') => {
    clearToken();
    setToken(null);
    setExpired(why === 'expired');
  }, []);
  const api = useMemo(() => (token ? createClient(token, () => signOut('expired')) : null), [token, signOut]);

  const page = PAGES.find((p) => p.path === path) ?? PAGES[0];
  useEffect(() => {
    document.title = `${page.title} · Warden console`;
    main.current?.focus();
  }, [page.title]);

  if (!api) {
    return (
      <SignIn
        expired={expired}
        onSignedIn={(t) => {
          saveToken(t);
          setExpired(false);
          setToken(t);
        }}
      />
    );
  }

  return (
    <ApiContext.Provider value={api}>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <div className="shell">
        <header className="top">
          <span className="brand">Warden</span>
          <button type="button" className="link" onClick={() => signOut()}>
            Sign out
          </button>
        </header>
        <nav aria-label="Console pages" className="side">
          <ul>
            {PAGES.map((p) => (
              <li key={p.path}>
                <a
                  href={BASE + p.path}
                  aria-current={p.path === page.path ? 'page' : undefined}
                  onClick={(e) => {
                    if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
                    e.preventDefault();
                    go(p.path);
                  }}
                >
                  {p.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <main id="main" ref={main} tabIndex={-1}>
          <h1>{page.title}</h1>
          {page.path === '/' && <Overview />}
          {page.path === '/identities' && <Identities />}
          {page.path === '/policies' && <Policies />}
          {page.path === '/models' && <Models />}
          {page.path === '/incidents' && <Incidents />}
          {page.path === '/audit' && <Audit />}
        </main>
      </div>
    </ApiContext.Provider>
  );
}
