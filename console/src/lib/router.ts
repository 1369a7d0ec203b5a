import { useEffect, useState } from 'react';

export const BASE = '/console';

export const PAGES = [
  { path: '/', title: 'Overview' },
  { path: '/identities', title: 'Identities' },
  { path: '/policies', title: 'Policies' },
  { path: '/models', title: 'Models & data' },
  { path: '/incidents', title: 'Incidents' },
  { path: '/audit', title: 'Audit' },
] as const;

function current(): string {
  const p = window.location.pathname.startsWith(BASE) ? window.location.pathname.slice(BASE.length) : '/';
  return p === '' ? '/' : p;
}

/** History-API routing under /console/ (the server answers index.html for any page path). */
export function usePath(): [string, (path: string) => void] {
  const [path, setPath] = useState(current);
  useEffect(() => {
    const onPop = () => setPath(current());
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  const go = (to: string) => {
    window.history.pushState(null, '', BASE + to);
    setPath(to);
  };
  return [path, go];
}
