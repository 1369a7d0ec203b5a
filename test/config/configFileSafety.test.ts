// warden.yaml may hold a database password: a YAML problem is reported by position, never by
// quoting the line (and never on stderr by the YAML library); a tag Warden does not resolve is
// refused rather than read as plain text; an oversized file is refused before it is parsed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { MAX_CONFIG_BYTES } from '../../src/config/load.js';
import { WardenError } from '../../src/errors/index.js';

function configFile(t: { after(fn: () => void): void }, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-config-safety-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'warden.yaml'), text);
  return dir;
}

function loadError(dir: string): WardenError {
  try {
    loadConfig({ cwd: dir, env: {} });
  } catch (err) {
    assert.ok(err instanceof WardenError);
    return err;
  }
  assert.fail('expected the configuration to be refused');
}

test('an unresolved YAML tag is WARDEN_CONFIG_INVALID by position; the line (and its password) is neither in the message nor on stderr', (t) => {
  const dir = configFile(t, 'database:\n  url: !env postgres://warden:TAGSECRETPW@db.internal/warden\n');
  const warnings: unknown[] = [];
  const saved = { emit: process.emitWarning, warn: console.warn };
  process.emitWarning = ((...args: unknown[]) => void warnings.push(args)) as typeof process.emitWarning;
  console.warn = (...args: unknown[]) => void warnings.push(args);
  let err: WardenError;
  try {
    err = loadError(dir);
  } finally {
    process.emitWarning = saved.emit;
    console.warn = saved.warn;
  }
  assert.equal(err.code, 'WARDEN_CONFIG_INVALID');
  assert.match(err.message, /warden\.yaml: TAG_RESOLVE_FAILED at line 2, column 8 /);
  assert.ok(!err.message.includes('TAGSECRETPW'), err.message);
  assert.deepEqual(warnings, []);
});

test('a YAML syntax error names the position, not the text around it', (t) => {
  const err = loadError(configFile(t, 'database:\n  url: "postgres://warden:QUOTESECRET@db/warden\n'));
  assert.equal(err.code, 'WARDEN_CONFIG_UNREADABLE');
  assert.match(err.message, /is not valid YAML: [A-Z_]+ at line \d+, column \d+$/);
  assert.ok(!err.message.includes('QUOTESECRET'), err.message);
});

test(`a configuration file over ${MAX_CONFIG_BYTES} bytes is refused before it is parsed`, (t) => {
  const line = '# padding padding padding padding padding padding padding padding\n';
  const dir = configFile(t, 'gateway:\n  port: 9443\n' + line.repeat(Math.ceil(MAX_CONFIG_BYTES / line.length)));
  const err = loadError(dir);
  assert.equal(err.code, 'WARDEN_CONFIG_INVALID');
  assert.match(err.message, new RegExp(`warden\\.yaml is \\d+ bytes, more than the ${MAX_CONFIG_BYTES}`));
  // Just under the limit still loads.
  writeFileSync(join(dir, 'warden.yaml'), 'gateway:\n  port: 9443\n' + line.repeat(1000));
  assert.equal(loadConfig({ cwd: dir, env: {} }).gateway.port, 9443);
});
