import type { Registry } from 'prom-client';
import { createControlPlaneMetrics, createGatewayMetrics, observeAudit } from '../observe/index.js';
import { getResponder } from '../respond/index.js';
import { getAuthority } from '../identity/index.js';
import type { ControlPlaneContext } from './ControlPlaneContext.js';

/**
 * Returns the function that sets the control plane's gauges that are read, not pushed (incidents,
 * SVIDs by expiry, revocation list, audit log size and its unsigned tail). It runs before every
 * scrape of every listener that serves them: in `warden up` the gateway listener serves the same
 * process registry as the admin listener, and a Prometheus that scrapes only the gateway would
 * otherwise read the values of the admin listener's last scrape (0 if there was none).
 */
export function controlPlaneGaugeRefresher(ctx: ControlPlaneContext, registry: Registry, options: { storeEveryMs?: number; now?: () => number } = {}): () => Promise<void> {
  const m = createControlPlaneMetrics(registry);
  const pepMetrics = createGatewayMetrics(registry);
  const storeEveryMs = options.storeEveryMs ?? STORE_REFRESH_MS;
  const now = options.now ?? Date.now;
  // The store-backed part runs at most once per storeEveryMs, shared by concurrent scrapes: the
  // admin listener's /metrics is reachable without a token by default, and each scrape must not
  // become a batch of store queries on the event loop the gateway shares.
  let inFlight: Promise<void> | null = null;
  let doneAt = -Infinity;
  const fromStore = async (): Promise<void> => {
    const responder = await getResponder(ctx);
    for (const [state, n] of Object.entries(await responder.incidents.countByState())) m.incidentsByState.labels(state).set(n);
    const ca = await getAuthority(ctx);
    m.revocationListSize.set(ca.revocations.entries().length);
    const r = await ctx.db.query<{ lt1h: string | number; lt24h: string | number; later: string | number }>(
      `SELECT count(*) FILTER (WHERE not_after <= now() + interval '1 hour') AS lt1h,
              count(*) FILTER (WHERE not_after > now() + interval '1 hour' AND not_after <= now() + interval '24 hours') AS lt24h,
              count(*) FILTER (WHERE not_after > now() + interval '24 hours') AS later
       FROM identity_svids WHERE not_after > now() AND kind = 'x509'`,
    );
    const row = r.rows[0];
    m.svidsByExpiry.labels('lt_1h').set(Number(row?.lt1h ?? 0));
    m.svidsByExpiry.labels('1h_24h').set(Number(row?.lt24h ?? 0));
    m.svidsByExpiry.labels('gt_24h').set(Number(row?.later ?? 0));
  };
  return async () => {
    // The audit gauges from memory, every scrape: a store hiccup below leaves them current.
    m.auditEntries.set(ctx.audit.size);
    m.auditUnsignedEntries.set(Math.max(0, ctx.audit.size - (ctx.audit.latestCheckpoint()?.size ?? 0)));
    observeAudit(ctx.audit, pepMetrics, 'control-plane');
    if (inFlight === null && now() - doneAt >= storeEveryMs) {
      inFlight = fromStore().finally(() => {
        doneAt = now();
        inFlight = null;
      });
    }
    if (inFlight !== null) await inFlight;
  };
}

/** How stale the store-backed gauges may be (incidents, SVIDs, revocations): below any scrape interval worth using. */
const STORE_REFRESH_MS = 5_000;
