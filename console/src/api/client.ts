/** A failed admin API call, carrying the server's stable WARDEN_… code. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ApiClient {
  get<T>(path: string, query?: Record<string, string | number | undefined>): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
}

type OnUnauthorized = () => void;

/**
 * The console talks to the same /api/v1 routes as the CLI, with the same bearer token:
 * there is no console-only endpoint. A 401 means the token was revoked or mistyped.
 */
export function createClient(token: string, onUnauthorized: OnUnauthorized): ApiClient {
  const call = async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      credentials: 'omit',
      cache: 'no-store',
      referrerPolicy: 'no-referrer',
    });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON */
    }
    if (!res.ok) {
      const err = (json as { error?: { code?: string; message?: string } } | null)?.error;
      if (res.status === 401) onUnauthorized();
      throw new ApiError(res.status, err?.code ?? `HTTP_${res.status}`, err?.message ?? res.statusText);
    }
    return json as T;
  };
  return {
    get: (path, query) => {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== '') params.set(k, String(v));
      const qs = params.toString();
      return call('GET', qs ? `${path}?${qs}` : path);
    },
    post: (path, body) => call('POST', path, body ?? {}),
  };
}

/** Checks a token before it is kept: GET /status needs a valid admin token. */
export async function checkToken(token: string): Promise<void> {
  await createClient(token, () => undefined).get('/status');
}
