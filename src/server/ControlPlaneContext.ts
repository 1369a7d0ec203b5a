import type { EventEmitter } from 'node:events';
import type { LoadedConfig } from '../config/index.js';
import type { Database } from '../store/index.js';
import type { AuditLog } from '../audit/index.js';
import type { Logger } from '../observe/index.js';

/**
 * What every admin-API route plugin receives. Routes live in src/server/routes/<area>.ts and
 * export `async function <area>Routes(app: FastifyInstance, ctx: ControlPlaneContext)`;
 * they are mounted under /api/v1 behind admin-token authentication.
 */
export interface ControlPlaneContext {
  config: LoadedConfig;
  db: Database;
  audit: AuditLog;
  logger: Logger;
  /** HMAC key for API keys and tokens (never leaves the control plane except to PEPs it trusts). */
  serverSecret: Uint8Array;
  /**
   * Emit 'snapshot:changed' after any change PEPs must see (keys, revocations, policies,
   * approved models); the control plane rebuilds and pushes the PEP snapshot. Pass the request
   * that made the change (emit('snapshot:changed', request)): that request, and no other, is
   * answered WARDEN_GATEWAY_SNAPSHOT_REBUILD_FAILED when the rebuild fails.
   */
  events: EventEmitter;
  /** The admin principal of the current request is on request.adminId (string). */
}
