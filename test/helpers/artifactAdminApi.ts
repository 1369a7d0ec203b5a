import Fastify, { type FastifyInstance } from 'fastify';
import { WardenError, toWardenError } from '../../src/errors/index.js';
import type { ControlPlaneContext } from '../../src/server/ControlPlaneContext.js';
import { artifactRoutes } from '../../src/server/routes/artifacts.js';

/**
 * The artifact admin routes on a loopback port, behind `adminToken`, with the control plane's
 * error contract (a body fastify refuses is WARDEN_INPUT_INVALID): what the `warden artifact` CLI
 * talks to in tests. Close the returned app after the test.
 */
export async function listenArtifactAdminApi(ctx: ControlPlaneContext, adminToken: string): Promise<{ app: FastifyInstance; url: string }> {
  const app = Fastify({ logger: false });
  app.setErrorHandler((err, request, reply) => {
    const e = err instanceof WardenError ? err : (err as { statusCode?: number }).statusCode === 400 ? new WardenError('WARDEN_INPUT_INVALID', (err as Error).message) : toWardenError(err);
    void reply.code(e.status).send({ error: { code: e.code, message: e.message, requestId: request.id } });
  });
  await app.register(
    async (api) => {
      api.addHook('onRequest', async (request) => {
        if (request.headers.authorization !== `Bearer ${adminToken}`) throw new WardenError('WARDEN_AUTHN_ADMIN_REQUIRED', 'admin token required');
        (request as unknown as { adminId: string }).adminId = 'tok-1';
      });
      await artifactRoutes(api, ctx);
    },
    { prefix: '/api/v1' },
  );
  return { app, url: await app.listen({ host: '127.0.0.1', port: 0 }) };
}
