import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { configSchema, type WardenConfig } from '../../../src/config/index.js';
import type { AuditRecord } from '../../../src/audit/index.js';

export function tempDir(t: TestContext, prefix = 'warden-audit-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function auditConfig(overrides: Partial<WardenConfig['audit']> = {}): WardenConfig['audit'] {
  return { ...configSchema.parse({}).audit, ...overrides };
}

const BASE = Date.UTC(2026, 0, 1, 12, 0, 0);

/** Deterministic records: every 5th is a deny, principals rotate over three identities. */
export function sampleRecord(i: number, extra: Partial<AuditRecord> = {}): AuditRecord {
  return {
    ts: new Date(BASE + i * 1000).toISOString(),
    kind: 'decision',
    requestId: `req-${i}`,
    principal: ['spiffe://warden.local/ns/a/sa/svc', 'ApiKey::"team-a"', 'User::"alice"'][i % 3],
    action: 'inference',
    resource: 'Model::"iris"',
    decision: i % 5 === 0 ? 'deny' : 'allow',
    ...(i % 5 === 0 ? { code: 'WARDEN_AUTHZ_DENIED' } : {}),
    policies: [`policy-${i % 4}`],
    sourceIp: '127.0.0.1',
    model: 'iris',
    modelVersion: '1',
    status: i % 5 === 0 ? 403 : 200,
    latencyMs: i % 17,
    detectors: { injection: { score: (i % 10) / 10 } },
    ...extra,
  };
}
