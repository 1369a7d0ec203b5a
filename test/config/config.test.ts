import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, envNameFor } from '../../src/config/index.js';
import { WardenError } from '../../src/errors/index.js';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'warden-config-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function expectConfigError(fn: () => unknown, code: string, messagePart: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof WardenError);
    assert.equal(err.code, code);
    assert.match(err.message, new RegExp(messagePart.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    return true;
  });
}

test('defaults apply with no file and no environment', () => {
  withDir((dir) => {
    const c = loadConfig({ cwd: dir, env: {} });
    assert.equal(c.gateway.port, 8443);
    assert.equal(c.server.port, 7443);
    assert.equal(c.database.url, '');
    assert.equal(c.dataDir, join(dir, '.warden'));
    assert.equal(c.configPath, null);
  });
});

test('warden.yaml in the working directory is loaded and validated', () => {
  withDir((dir) => {
    writeFileSync(join(dir, 'warden.yaml'), 'gateway:\n  port: 9443\n  upstreams:\n    - name: llm\n      url: http://127.0.0.1:9000\n      models: [llama]\n');
    const c = loadConfig({ cwd: dir, env: {} });
    assert.equal(c.gateway.port, 9443);
    assert.equal(c.gateway.upstreams[0]!.models[0], 'llama');
    assert.equal(c.gateway.upstreams[0]!.timeoutMs, 60_000);
    assert.equal(c.configPath, join(dir, 'warden.yaml'));
  });
});

test('unknown keys are rejected with the full path of the key', () => {
  withDir((dir) => {
    writeFileSync(join(dir, 'warden.yaml'), 'gateway:\n  prot: 9443\n');
    expectConfigError(() => loadConfig({ cwd: dir, env: {} }), 'WARDEN_CONFIG_INVALID', 'gateway.prot: unknown key');
    writeFileSync(join(dir, 'warden.yaml'), 'gateway:\n  upstreams:\n    - name: a\n      url: http://x\n      colour: red\n');
    expectConfigError(() => loadConfig({ cwd: dir, env: {} }), 'WARDEN_CONFIG_INVALID', 'gateway.upstreams.0.colour: unknown key');
    writeFileSync(join(dir, 'warden.yaml'), 'gatewy: {}\n');
    expectConfigError(() => loadConfig({ cwd: dir, env: {} }), 'WARDEN_CONFIG_INVALID', 'gatewy: unknown key');
  });
});

test('upstream routing must be unambiguous, and upstream urls carry no credentials', () => {
  withDir((dir) => {
    const up = (name: string, url: string, models: string) => `    - name: ${name}\n      url: ${url}\n      models: ${models}\n`;
    const cases: [string, string][] = [
      [up('a', 'http://x', '[m]') + up('a', 'http://y', '[n]'), 'gateway.upstreams.1.name: two upstreams are named "a"'],
      [up('public', 'http://x', '[m]') + up('restricted', 'http://y', '[m]'), 'gateway.upstreams.1.models: model "m" is routed to both "public" and "restricted"'],
      [up('a', 'http://x', "['*']") + up('b', 'http://y', "['*']"), 'model "*" is routed to both'],
      [up('a', 'http://user:s3cret@x', '[m]'), 'gateway.upstreams.0.url: credentials in an upstream url are not used'],
    ];
    for (const [upstreams, message] of cases) {
      writeFileSync(join(dir, 'warden.yaml'), `gateway:\n  upstreams:\n${upstreams}`);
      expectConfigError(() => loadConfig({ cwd: dir, env: {} }), 'WARDEN_CONFIG_INVALID', message);
    }
    writeFileSync(join(dir, 'warden.yaml'), `gateway:\n  upstreams:\n${up('a', 'http://x', '[m]')}${up('b', 'http://y', '[n, "*"]')}`);
    assert.equal(loadConfig({ cwd: dir, env: {} }).gateway.upstreams.length, 2);
  });
});

test('plain HTTP (insecureDev) only on a loopback host', () => {
  withDir((dir) => {
    for (const host of ['0.0.0.0', '10.1.2.3', '::', 'gateway.internal']) {
      writeFileSync(join(dir, 'warden.yaml'), `gateway:\n  host: "${host}"\n  insecureDev: true\n`);
      expectConfigError(() => loadConfig({ cwd: dir, env: {} }), 'WARDEN_CONFIG_INVALID', 'gateway.insecureDev: plain HTTP is for development on this machine only');
    }
    for (const host of ['127.0.0.1', '127.0.0.2', '::1', 'localhost']) {
      writeFileSync(join(dir, 'warden.yaml'), `gateway:\n  host: "${host}"\n  insecureDev: true\n`);
      assert.equal(loadConfig({ cwd: dir, env: {} }).gateway.insecureDev, true, host);
    }
    writeFileSync(join(dir, 'warden.yaml'), 'gateway:\n  host: 0.0.0.0\n');
    assert.equal(loadConfig({ cwd: dir, env: {} }).gateway.host, '0.0.0.0', 'TLS on any interface is fine');
  });
});

test('a JWKS URL over plain http is refused with the full path of the key (loopback excepted)', () => {
  withDir((dir) => {
    const issuer = (jwksUri: string) => `gateway:\n  authn:\n    jwtIssuers:\n      - issuer: https://login.corp.example\n        audience: warden\n        jwksUri: ${jwksUri}\n`;
    writeFileSync(join(dir, 'warden.yaml'), issuer('http://login.corp.example/jwks'));
    expectConfigError(() => loadConfig({ cwd: dir, env: {} }), 'WARDEN_CONFIG_INVALID', 'gateway.authn.jwtIssuers.0.jwksUri: must use https (got http://login.corp.example)');
    writeFileSync(join(dir, 'warden.yaml'), issuer('http://127.0.0.1:8080/jwks'));
    assert.equal(loadConfig({ cwd: dir, env: {} }).gateway.authn.jwtIssuers[0]!.jwksUri, 'http://127.0.0.1:8080/jwks');
  });
});

test('wrong types name the key; bad YAML is a clear error', () => {
  withDir((dir) => {
    writeFileSync(join(dir, 'warden.yaml'), 'gateway:\n  port: "high"\n');
    expectConfigError(() => loadConfig({ cwd: dir, env: {} }), 'WARDEN_CONFIG_INVALID', 'gateway.port');
    writeFileSync(join(dir, 'warden.yaml'), 'gateway: [\n');
    expectConfigError(() => loadConfig({ cwd: dir, env: {} }), 'WARDEN_CONFIG_UNREADABLE', 'not valid YAML');
    expectConfigError(() => loadConfig({ cwd: dir, env: {}, configPath: 'missing.yaml' }), 'WARDEN_CONFIG_UNREADABLE', 'cannot read');
  });
});

test('every key can be set through WARDEN_* variables, and they win over the file', () => {
  withDir((dir) => {
    writeFileSync(join(dir, 'warden.yaml'), 'gateway:\n  port: 9443\n');
    const c = loadConfig({
      cwd: dir,
      env: {
        WARDEN_GATEWAY_PORT: '10443',
        WARDEN_GATEWAY_MAX_BODY_BYTES: '2048',
        WARDEN_GATEWAY_INSECURE_DEV: 'true',
        WARDEN_DATABASE_URL: 'postgres://u:p@127.0.0.1/db',
        WARDEN_SERVER_HOSTNAMES: '["a.example","127.0.0.1"]',
        WARDEN_DATA_DIR: 'state',
      },
    });
    assert.equal(c.gateway.port, 10443);
    assert.equal(c.gateway.maxBodyBytes, 2048);
    assert.equal(c.gateway.insecureDev, true);
    assert.equal(c.database.url, 'postgres://u:p@127.0.0.1/db');
    assert.deepEqual(c.server.hostnames, ['a.example', '127.0.0.1']);
    assert.equal(c.dataDir, join(dir, 'state'));
  });
  assert.equal(envNameFor(['gateway', 'maxBodyBytes']), 'WARDEN_GATEWAY_MAX_BODY_BYTES');
});

test('invalid environment values are rejected with the variable name', () => {
  withDir((dir) => {
    expectConfigError(() => loadConfig({ cwd: dir, env: { WARDEN_GATEWAY_PORT: 'eighty' } }), 'WARDEN_CONFIG_INVALID', 'WARDEN_GATEWAY_PORT');
    expectConfigError(() => loadConfig({ cwd: dir, env: { WARDEN_GATEWAY_INSECURE_DEV: 'maybe' } }), 'WARDEN_CONFIG_INVALID', 'WARDEN_GATEWAY_INSECURE_DEV');
    expectConfigError(() => loadConfig({ cwd: dir, env: { WARDEN_GATEWAY_PORT: '70000' } }), 'WARDEN_CONFIG_INVALID', 'gateway.port');
  });
});

test('a bad value is blamed on where it came from: the variable, the flag or the file', () => {
  withDir((dir) => {
    const file = join(dir, 'warden.yaml');
    writeFileSync(file, 'gateway:\n  port: 9443\n');
    const message = (fn: () => unknown): string => {
      try {
        fn();
      } catch (err) {
        assert.ok(err instanceof WardenError);
        assert.equal(err.code, 'WARDEN_CONFIG_INVALID');
        return err.message;
      }
      assert.fail('expected WARDEN_CONFIG_INVALID');
    };
    const fromEnv = message(() => loadConfig({ cwd: dir, env: { WARDEN_AUDIT_FSYNC: 'bogus' } }));
    assert.match(fromEnv, /^audit\.fsync: .+ \(from WARDEN_AUDIT_FSYNC\)$/);
    assert.ok(!fromEnv.includes(file), fromEnv);
    // A JSON variable sets a whole subtree: a key deep inside it is still the variable's fault.
    assert.match(
      message(() => loadConfig({ cwd: dir, env: { WARDEN_GATEWAY_UPSTREAMS: '[{"name":"a","url":"http://x","colour":"red"}]' } })),
      /^gateway\.upstreams\.0\.colour: unknown key \(from WARDEN_GATEWAY_UPSTREAMS\)$/,
    );
    assert.match(message(() => loadConfig({ cwd: dir, env: {}, overrides: { 'gateway.port': 70000 } })), /^gateway\.port: .+ \(from the command line\)$/);
    // One message, each problem with its own origin.
    writeFileSync(file, 'gateway:\n  port: "high"\n');
    const both = message(() => loadConfig({ cwd: dir, env: { WARDEN_AUDIT_FSYNC: 'bogus' } }));
    assert.match(both, /gateway\.port: [^;]+ \(in .+warden\.yaml\)/);
    assert.match(both, /audit\.fsync: [^;]+ \(from WARDEN_AUDIT_FSYNC\)/);
  });
});

test('CLI overrides win over file and environment', () => {
  withDir((dir) => {
    const c = loadConfig({ cwd: dir, env: { WARDEN_GATEWAY_PORT: '10443' }, overrides: { 'gateway.port': 0, 'server.port': undefined } });
    assert.equal(c.gateway.port, 0);
    assert.equal(c.server.port, 7443);
  });
});

test('examples/warden.yaml (linked from the README) is valid', () => {
  const c = loadConfig({ configPath: new URL('../../examples/warden.yaml', import.meta.url).pathname, env: {} });
  assert.equal(c.gateway.region, 'eu-west-1');
  assert.equal(c.gateway.upstreams.length, 2);
});

test('observe.metricsToken is empty (no token) or at least 32 characters: a scrape is neither rate-limited nor audited, so a short one could be guessed', () => {
  withDir((dir) => {
    const short = 'k9'.repeat(15);
    for (const env of [{ WARDEN_OBSERVE_METRICS_TOKEN: short }, {}]) {
      writeFileSync(join(dir, 'warden.yaml'), 'WARDEN_OBSERVE_METRICS_TOKEN' in env ? '' : `observe:\n  metricsToken: ${short}\n`);
      assert.throws(() => loadConfig({ cwd: dir, env }), (err: unknown) => {
        assert.ok(err instanceof WardenError);
        assert.equal(err.code, 'WARDEN_CONFIG_INVALID');
        assert.match(err.message, /metricsToken.*at least 32 characters/);
        assert.ok(!err.message.includes(short), 'the token itself is not echoed');
        return true;
      });
    }
    writeFileSync(join(dir, 'warden.yaml'), '');
    assert.equal(loadConfig({ cwd: dir, env: { WARDEN_OBSERVE_METRICS_TOKEN: 'x'.repeat(32) } }).observe.metricsToken, 'x'.repeat(32));
    assert.equal(loadConfig({ cwd: dir, env: {} }).observe.metricsToken, '');
  });
});
