import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { registerConsole, CONSOLE_CSP } from '../../src/server/console.js';

function builtRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'warden-console-root-'));
  mkdirSync(join(root, 'assets'));
  writeFileSync(join(root, 'index.html'), '<!doctype html><script type="module" src="/console/assets/app.js"></script>');
  writeFileSync(join(root, 'assets', 'app.js'), 'console.log(1)');
  writeFileSync(join(root, '.secret'), 'no');
  writeFileSync(join(root, '..', 'outside.txt'), 'no');
  return root;
}

test('serves files and SPA routes with the CSP; refuses traversal, dotfiles and missing assets', async (t) => {
  const root = builtRoot();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const app = Fastify();
  await registerConsole(app, { root });
  t.after(() => app.close());

  const index = await app.inject('/console/');
  assert.equal(index.statusCode, 200);
  assert.match(String(index.headers['content-type']), /text\/html/);
  assert.equal(index.headers['content-security-policy'], CONSOLE_CSP);
  assert.equal(index.headers['x-frame-options'], 'DENY');
  assert.equal(index.headers['strict-transport-security'], undefined, 'HSTS only over HTTPS');

  const js = await app.inject('/console/assets/app.js');
  assert.equal(js.statusCode, 200);
  assert.match(String(js.headers['content-type']), /text\/javascript/);
  assert.equal(js.headers['content-security-policy'], CONSOLE_CSP);

  assert.equal((await app.inject('/console')).headers.location, '/console/');
  const route = await app.inject('/console/identities');
  assert.equal(route.statusCode, 200);
  assert.equal(route.body, index.body);

  for (const bad of ['/console/assets/missing.js', '/console/.secret', '/console/%2e%2e/outside.txt', '/console/..%2foutside.txt', '/console/assets/%00.js']) {
    const r = await app.inject(bad);
    assert.ok(r.statusCode === 404 || r.statusCode === 400, `${bad} → ${r.statusCode}`);
    assert.doesNotMatch(r.body, /^no$/);
  }
});

test('an unbuilt console answers 503 with the command to build it', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'warden-console-empty-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const app = Fastify();
  await registerConsole(app, { root });
  t.after(() => app.close());
  const r = await app.inject('/console/');
  assert.equal(r.statusCode, 503);
  assert.match(r.body, /npm run build:console/);
  assert.equal(r.headers['content-security-policy'], CONSOLE_CSP);
});

test('the CSP allows no inline code, eval, framing or foreign origins', () => {
  assert.doesNotMatch(CONSOLE_CSP, /unsafe-|\*|https?:|data:|blob:/);
  for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "require-trusted-types-for 'script'"]) assert.ok(CONSOLE_CSP.includes(d), d);
});
