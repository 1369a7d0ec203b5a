import type { FastifyInstance, FastifyRequest } from 'fastify';
import { WardenError } from '../errors/index.js';
import { AdminTokenRepository, type AdminTokenRole } from '../store/index.js';
import type { ControlPlaneContext } from './ControlPlaneContext.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Id of the admin token that authenticated this request. */
    adminId?: string;
    /** Role of that token: 'pep' tokens reach only routes marked `pep: true`. */
    adminRole?: AdminTokenRole;
  }
  interface FastifyContextConfig {
    /** Route does its own authentication (agents, PEPs, health). */
    public?: boolean;
    /** Route is part of the PEP channel: PEP tokens (remote gateways) may call it. */
    pep?: boolean;
  }
}

function bearer(request: FastifyRequest): string | null {
  const h = request.headers.authorization;
  if (typeof h !== 'string') return null;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m ? m[1]! : null;
}

/**
 * The admin of this request as a Cedar-style entity, `Admin::"adm_…"`: the one form every admin
 * audit record uses, so `audit query --principal` finds all of one admin's actions.
 */
export function adminPrincipal(request: FastifyRequest): string {
  return `Admin::${JSON.stringify(request.adminId ?? 'unknown')}`;
}

/** Every admin route requires an admin token unless it declares `config: { public: true }`. */
export function installAdminAuth(app: FastifyInstance, ctx: ControlPlaneContext): void {
  const tokens = new AdminTokenRepository(ctx.db, ctx.serverSecret);
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config?.public) return;
    const token = bearer(request);
    if (!token) throw new WardenError('WARDEN_AUTHN_ADMIN_REQUIRED', 'send the admin token as "Authorization: Bearer <token>"');
    const verified = await tokens.verify(token);
    if (!verified) throw new WardenError('WARDEN_AUTHN_ADMIN_REQUIRED', 'the admin token is not valid');
    if (verified === 'revoked') throw new WardenError('WARDEN_AUTHN_ADMIN_REQUIRED', 'this token was revoked (its holder needs a new admin or PEP token)');
    if (verified.role === 'pep' && !request.routeOptions.config?.pep) {
      throw new WardenError('WARDEN_AUTHN_PEP_TOKEN_SCOPE', `a PEP token may not call ${request.method} ${request.routeOptions.url ?? 'this route'}`);
    }
    request.adminId = verified.id;
    request.adminRole = verified.role;
  });
}
