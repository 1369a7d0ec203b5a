import type { FastifyInstance } from 'fastify';
import { WardenError } from '../../errors/index.js';
import { bearerMatches, processMetricsRegistry } from '../../observe/index.js';
import type { ControlPlaneContext } from '../ControlPlaneContext.js';
import { controlPlaneGaugeRefresher } from '../controlPlaneGauges.js';
import { isLoopbackHost } from '../isLoopbackHost.js';

/**
 * GET /metrics (Prometheus text format) on the admin listener. Public to the admin-token check
 * (Prometheus has no admin token) but guarded by `observe.metricsToken` when set. Without that
 * token it is served only on a loopback listener: the series name every model and its traffic,
 * which must not be open to the network. Gauges that need the store are computed per scrape
 * (controlPlaneGaugeRefresher, shared with `warden up`'s gateway listener).
 */
export async function metricsRoutes(app: FastifyInstance, ctx: ControlPlaneContext): Promise<void> {
  const o = ctx.config.observe;
  if (!o.metricsEnabled) return;
  const registry = processMetricsRegistry({ processMetrics: o.processMetrics });
  const refresh = controlPlaneGaugeRefresher(ctx, registry);
  const refuseAnonymous = !o.metricsToken && !isLoopbackHost(ctx.config.server.host);
  if (refuseAnonymous) {
    ctx.logger.warn({ host: ctx.config.server.host }, 'the admin listener is not on loopback and observe.metricsToken is not set: its /metrics refuses every scrape (401); set observe.metricsToken (WARDEN_OBSERVE_METRICS_TOKEN) to scrape it');
  }

  app.get('/metrics', { config: { public: true } }, async (request, reply) => {
    // Refused anonymous scrapes get the same 401 as a wrong token: a caller learns nothing of the configuration.
    if (refuseAnonymous || !bearerMatches(request.headers.authorization, o.metricsToken)) {
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
