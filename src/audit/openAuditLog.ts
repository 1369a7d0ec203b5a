import { join } from 'node:path';
import type { WardenConfig } from '../config/index.js';
import type { AuditLog } from './AuditLog.js';
import { JsonlAuditLog } from './JsonlAuditLog.js';

export interface OpenAuditLogOptions {
  dataDir: string;
  audit: WardenConfig['audit'];
}

/** The control plane and PEPs open their audit log through this one function. */
export async function openAuditLog(options: OpenAuditLogOptions): Promise<AuditLog> {
  return JsonlAuditLog.open(join(options.dataDir, 'audit', 'audit.jsonl'), {
    batchSize: options.audit.batchSize,
    flushIntervalMs: options.audit.flushIntervalMs,
    queueLimit: options.audit.queueLimit,
    fsync: options.audit.fsync === 'batch',
  });
}
