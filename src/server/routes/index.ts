import type { FastifyInstance } from 'fastify';
import type { ControlPlaneContext } from '../ControlPlaneContext.js';
import { keyRoutes } from './keys.js';
import { identityRoutes } from './identity.js';

/** Every area's admin routes, mounted under /api/v1 behind admin authentication. */
export async function registerRoutes(app: FastifyInstance, ctx: ControlPlaneContext): Promise<void> {
  await keyRoutes(app, ctx);
  await identityRoutes(app, ctx);
}
