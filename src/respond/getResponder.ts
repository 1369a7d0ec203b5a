import type { EventEmitter } from 'node:events';
import type { LoadedConfig } from '../config/index.js';
import type { Database } from '../store/index.js';
import type { AuditLog } from '../audit/index.js';
import { getAuthority } from '../identity/index.js';
import { createArtifactServices } from '../artifacts/index.js';
import type { Logger } from '../observe/index.js';
import { createControlPlaneMetrics, processMetricsRegistry } from '../observe/metrics.js';
import { frozenDatasetCheck, type ModelRegistryPort } from './actions/artifactActions.js';
import { createResponder, type Responder } from './createResponder.js';

/** The parts of ControlPlaneContext incident response needs (structural, so respond does not import server/). */
export interface RespondContext {
  config: LoadedConfig;
  db: Database;
  audit: AuditLog;
  logger: Logger;
  serverSecret: Uint8Array;
  events: EventEmitter;
}

const responders = new WeakMap<object, Promise<Responder>>();

/** One responder per control plane context (memoised like the CA), on the process metrics registry. */
export function getResponder(ctx: RespondContext, options: { models?: ModelRegistryPort } = {}): Promise<Responder> {
  let p = responders.get(ctx);
  if (!p) {
    p = (async () => {
      const registry = processMetricsRegistry({ processMetrics: ctx.config.observe.processMetrics });
      const ca = await getAuthority(ctx);
      // The same registry the artifact routes use (stateless over the store): rollback and blast radius.
      const models: ModelRegistryPort =
        options.models ?? createArtifactServices({ config: ctx.config, db: ctx.db, caBundlePem: () => ca.bundlePem(), isRevoked: (s) => ca.revocations.isRevoked(s.spiffeId, s.serial), frozenDatasets: frozenDatasetCheck(ctx.db) }).registry;
      return createResponder({ ...ctx, ca, registry, metrics: createControlPlaneMetrics(registry), models });
    })();
    p.catch(() => responders.delete(ctx));
    responders.set(ctx, p);
  }
  return p;
}
