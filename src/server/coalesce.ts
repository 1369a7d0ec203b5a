/**
 * Wraps `run` so that a burst of calls costs at most two runs: a call while a run is in flight
 * does not start another beside it, it asks for one more run after it (one, however many calls
 * come meanwhile). That run matters: the one in flight may have read the store before the change
 * the call announces. Every call settles with a run that started after the call.
 */
export function coalesce(run: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | null = null;
  let queued: Promise<void> | null = null;
  const startNow = (): Promise<void> => {
    const p = run();
    running = p;
    const clear = (): void => {
      if (running === p) running = null;
    };
    p.then(clear, clear);
    return p;
  };
  return () => {
    if (queued) return queued;
    if (!running) return startNow();
    queued = running
      .catch(() => undefined)
      .then(() => {
        queued = null;
        return startNow();
      });
    return queued;
  };
}
