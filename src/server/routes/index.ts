import type { FastifyInstance } from 'fastify';
import type { ControlPlaneContext } from '../ControlPlaneContext.js';
import { keyRoutes } from './keys.js';
import { principalRoutes } from './principals.js';
import { identityRoutes } from './identity.js';
import { policyRoutes } from './policy.js';
import { auditRoutes } from './audit.js';
import { artifactRoutes } from './artifacts.js';
import { respondRoutes } from './respond.js';

/** Every area's admin routes, mounted under /api/v1 behind admin authentication. */
export async function registerRoutes(app: FastifyInstance, ctx: ControlPlaneContext): Promise<void> {
  await keyRoutes(app, ctx);
  await principalRoutes(app, ctx);
  await identityRoutes(app, ctx);
  await policyRoutes(app, ctx);
  await auditRoutes(app, ctx);
  await artifactRoutes(app, ctx);
  await respondRoutes(app, ctx);
}

export { metricsRoutes } from './metrics.js';
