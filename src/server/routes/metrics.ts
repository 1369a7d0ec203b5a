import type { FastifyInstance } from 'fastify';
import { WardenError } from '../../errors/index.js';
import { bearerMatches, createControlPlaneMetrics, createGatewayMetrics, observeAudit, processMetricsRegistry } from '../../observe/index.js';
import { getResponder } from '../../respond/index.js';
import { getAuthority } from '../../identity/index.js';
import type { ControlPlaneContext } from '../ControlPlaneContext.js';

/**
 * GET /metrics (Prometheus text format) on the admin listener. Public to the admin-token check
 * (Prometheus has no admin token) but guarded by `observe.metricsToken` when set. Gauges that
 * need the store are computed per scrape.
 */
export async function metricsRoutes(app: FastifyInstance, ctx: ControlPlaneContext): Promise<void> {
  const o = ctx.config.observe;
  if (!o.metricsEnabled) return;
  const registry = processMetricsRegistry({ processMetrics: o.processMetrics });
  const m = createControlPlaneMetrics(registry);
  const pepMetrics = createGatewayMetrics(registry);

  const refresh = async (): Promise<void> => {
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
    m.auditEntries.set(ctx.audit.size);
    m.auditUnsignedEntries.set(Math.max(0, ctx.audit.size - (ctx.audit.latestCheckpoint()?.size ?? 0)));
    observeAudit(ctx.audit, pepMetrics, 'control-plane');
  };

  app.get('/metrics', { config: { public: true } }, async (request, reply) => {
    if (!bearerMatches(request.headers.authorization, o.metricsToken)) {
      reply.header('www-authenticate', 'Bearer');
      throw new WardenError('WARDEN_OBSERVE_METRICS_UNAUTHORIZED', 'the metrics endpoint needs the configured bearer token');
    }
    try {
      await refresh();
    } catch (err) {
      // A store hiccup must not blank the whole scrape; process and gateway series still help.
      ctx.logger.warn({ err: (err as { code?: string }).code ?? 'error' }, 'metrics refresh failed');
    }
    reply.type(registry.contentType);
    return registry.metrics();
  });
}
