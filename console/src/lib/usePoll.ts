import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError } from '../api/client.js';

export interface Polled<T> {
  data: T | undefined;
  error: ApiError | Error | undefined;
  loading: boolean;
  refresh: () => Promise<void>;
}

/**
 * Live updates by polling: EventSource cannot send an Authorization header, and the token
 * must not travel in a URL. Paused while the tab is hidden.
 */
export function usePoll<T>(load: () => Promise<T>, deps: readonly unknown[], intervalMs = 3000): Polled<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<ApiError | Error>();
  const [loading, setLoading] = useState(true);
  const latest = useRef(load);
  latest.current = load;
  const generation = useRef(0);

  const refresh = useCallback(async () => {
    const mine = ++generation.current;
    try {
      const value = await latest.current();
      if (mine !== generation.current) return;
      setData(value);
      setError(undefined);
    } catch (err) {
      if (mine !== generation.current) return;
      setError(err as Error);
    } finally {
      if (mine === generation.current) setLoading(false);
    }
  }, []);

  useEffect(() => {
    setLoading(true);
    void refresh();
    if (intervalMs <= 0) return;
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') void refresh();
    }, intervalMs);
    return () => clearInterval(timer);
    // `load` changes every render; callers list what it depends on in `deps`.
  }, [refresh, intervalMs, ...deps]);

  return { data, error, loading, refresh };
}
