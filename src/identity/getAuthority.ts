import type { LoadedConfig } from '../config/index.js';
import type { Database } from '../store/index.js';
import type { CertificateAuthority } from './CertificateAuthority.js';
import { loadOrCreateAuthority } from './loadOrCreateAuthority.js';
import { IdentityService } from './IdentityService.js';

/** The parts of ControlPlaneContext identity needs (kept structural so identity does not import server/). */
export interface IdentityContext {
  config: LoadedConfig;
  db: Database;
}

const authorities = new WeakMap<object, Promise<CertificateAuthority>>();
const services = new WeakMap<object, Promise<IdentityService>>();

/** The control plane's CA, opened once per context (memoised; concurrent callers share one open). */
export function getAuthority(ctx: IdentityContext): Promise<CertificateAuthority> {
  let p = authorities.get(ctx);
  if (!p) {
    const i = ctx.config.identity;
    p = loadOrCreateAuthority({
      dataDir: ctx.config.dataDir,
      trustDomain: ctx.config.server.trustDomain,
      db: ctx.db,
      svidTtlSeconds: i.svidTtlSeconds,
      maxSvidTtlSeconds: i.maxSvidTtlSeconds,
      jwtSvidTtlSeconds: i.jwtSvidTtlSeconds,
      jwtAlgorithm: i.jwtAlgorithm,
      rootTtlDays: i.rootTtlDays,
      intermediateTtlDays: i.intermediateTtlDays,
      clockSkewSeconds: i.clockSkewSeconds,
    });
    p.catch(() => authorities.delete(ctx));
    authorities.set(ctx, p);
  }
  return p;
}

export function getIdentityService(ctx: IdentityContext): Promise<IdentityService> {
  let p = services.get(ctx);
  if (!p) {
    p = getAuthority(ctx).then((ca) => new IdentityService(ca, ctx.db, ctx.config.identity));
    p.catch(() => services.delete(ctx));
    services.set(ctx, p);
  }
  return p;
}
