// The admin token lives in sessionStorage only: it survives a reload of this tab and is gone
// when the tab closes. Never localStorage, never a URL, never a log line.
const KEY = 'warden.adminToken';

export function loadToken(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function saveToken(token: string): void {
  try {
    sessionStorage.setItem(KEY, token);
  } catch {
    /* storage disabled: the token stays in memory for this page only */
  }
}

export function clearToken(): void {
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    /* nothing stored */
  }
}
