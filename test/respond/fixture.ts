import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { loadConfig, type LoadedConfig } from '../../src/config/index.js';
import { openStore, ApiKeyRepository, type Database } from '../../src/store/index.js';
import { openAuditLog, type AuditLog, type AuditRecord } from '../../src/audit/index.js';
import { createLogger } from '../../src/observe/index.js';
import { createControlPlaneMetrics } from '../../src/observe/metrics.js';
import { WardenError } from '../../src/errors/index.js';
import { createResponder, type Action, type ModelRegistryPort, type Responder } from '../../src/respond/index.js';

/** A real store (PGlite), a real Merkle audit log and a responder on a private metrics registry. */
export interface RespondFixture {
  dataDir: string;
  config: LoadedConfig;
  db: Database;
  audit: AuditLog;
  events: EventEmitter;
  registry: Registry;
  keys: ApiKeyRepository;
  serverSecret: Uint8Array;
  responder: Responder;
  revokedSpiffeIds: Set<string>;
  /** While true, the CA double's revoke fails (quarantine-workload steps fail). */
  failSvidRevocation(fail: boolean): void;
  /** Every audit record appended so far (flushed first). */
  auditRecords(): Promise<AuditRecord[]>;
  close(): Promise<void>;
}

export async function respondFixture(options: { configOverrides?: Record<string, unknown>; extraActions?: Action[]; models?: ModelRegistryPort } = {}): Promise<RespondFixture> {
  const dataDir = mkdtempSync(join(tmpdir(), 'warden-respond-'));
  const config = loadConfig({ dataDir, env: {}, overrides: options.configOverrides ?? {} });
  const db = await openStore({ dataDir });
  const audit = await openAuditLog({ dataDir, audit: config.audit, db });
  const events = new EventEmitter();
  const registry = new Registry();
  const serverSecret = new Uint8Array(32).fill(7);
  const revokedSpiffeIds = new Set<string>();
  let revocationFails = false;
  // A CA double for quarantine: the real CA is exercised by the e2e compromised-worker drill.
  const ca = {
    trustDomain: 'warden.test',
    revocations: { hasSpiffeId: (id: string) => revokedSpiffeIds.has(id), version: 0 } as never,
    revoke: async (t: { spiffeId?: string }) => {
      if (revocationFails) throw new WardenError('WARDEN_STORE_UNAVAILABLE', 'injected revocation failure');
      revokedSpiffeIds.add(t.spiffeId!);
    },
  };
  const responder = createResponder({ config, db, audit, logger: createLogger({ level: 'silent' }), serverSecret, events, ca, registry, metrics: createControlPlaneMetrics(registry), extraActions: options.extraActions, models: options.models });
  return {
    dataDir,
    config,
    db,
    audit,
    events,
    registry,
    keys: new ApiKeyRepository(db, serverSecret),
    serverSecret,
    responder,
    revokedSpiffeIds,
    failSvidRevocation: (fail) => void (revocationFails = fail),
    async auditRecords() {
      await audit.flush();
      return (await audit.query({ limit: 10_000 })).map((e) => e.record).reverse();
    },
    async close() {
      responder.close();
      await audit.close();
      await db.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
