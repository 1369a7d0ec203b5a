import { useState, type FormEvent } from 'react';
import { ApiError, checkToken } from '../api/client.js';

/**
 * Admin-token sign-in. The token is checked against GET /api/v1/status (the same check
 * every CLI call passes) before it is kept for this tab.
 */
export function SignIn({ expired, onSignedIn }: { expired: boolean; onSignedIn: (token: string) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(expired ? 'Your session ended: the admin token was rejected. Sign in again.' : null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const t = token.trim();
    if (!t) return;
    setBusy(true);
    setError(null);
    try {
      await checkToken(t);
      setToken('');
      onSignedIn(t);
    } catch (err) {
      setError(err instanceof ApiError ? `${err.code}: ${err.message}` : `Cannot reach the admin API: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="signin" id="main">
      <h1>Warden console</h1>
      <form onSubmit={submit} className="card">
        <label htmlFor="token">Admin token</label>
        <input id="token" name="token" type="password" autoComplete="off" spellCheck={false} value={token} onChange={(e) => setToken(e.target.value)} required aria-describedby="token-help" />
        <p id="token-help" className="help">
          Printed once by the first <code>warden up</code> (<code>wdt_adm_…</code>). It is kept in this tab's session storage only and sent to the admin API as a bearer token, exactly like <code>WARDEN_ADMIN_TOKEN</code> for the CLI.
        </p>
        <button type="submit" disabled={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
