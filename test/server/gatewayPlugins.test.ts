import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/observe/index.js';
import { createGatewayPlugins } from '../../src/server/gatewayPlugins.js';

test('the listener limits in warden.yaml (and WARDEN_GATEWAY_* variables) reach the gateway options', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-plugins-'));
  try {
    writeFileSync(join(dir, 'warden.yaml'), 'gateway:\n  bodyTimeoutSeconds: 7\n  idleTimeoutSeconds: 9\n  headersTimeoutSeconds: 11\n  maxBodyBytes: 4096\n');
    const config = loadConfig({ dataDir: dir, cwd: dir, env: { WARDEN_GATEWAY_MAX_CONNECTIONS: '123' } });
    const plugins = await createGatewayPlugins(config, null, createLogger({ level: 'silent' }), { onAlarm: () => undefined, models: [] });
    try {
      assert.equal(plugins.gatewayOptions.bodyTimeoutMs, 7000);
      assert.equal(plugins.gatewayOptions.idleTimeoutMs, 9000);
      assert.equal(plugins.gatewayOptions.headersTimeoutMs, 11_000);
      assert.equal(plugins.gatewayOptions.maxConnections, 123);
      assert.equal(plugins.gatewayOptions.maxBodyBytes, 4096);
    } finally {
      await plugins.detectors.close();
      await plugins.rateLimiting.close?.();
    }
    assert.throws(() => loadConfig({ dataDir: dir, cwd: dir, env: { WARDEN_GATEWAY_MAX_CONNECTIONS: '0' } }), /gateway\.maxConnections/);
    mkdirSync(join(dir, 'no-config'));
    const defaults = loadConfig({ dataDir: dir, cwd: join(dir, 'no-config'), env: {} });
    assert.equal(defaults.gateway.bodyTimeoutSeconds, 30);
    assert.equal(defaults.gateway.headersTimeoutSeconds, 60);
    assert.equal(defaults.gateway.maxConnections, 10_000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
