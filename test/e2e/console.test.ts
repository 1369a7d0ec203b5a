/// <reference lib="dom" />
// (page.evaluate callbacks run in the browser.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { startWardenProcess, wardenClient, runCli, removeDir, tempDataDir, repoRoot, type WardenProcess } from '../helpers/warden.js';
import { requireOrSkip } from '../helpers/ci.js';
import { CHROMIUM, launchConsoleBrowser, seriousAxeViolations, type ConsoleBrowser } from '../console/browser.js';

// One warden, one browser, one signed-in session walked through every page in order: each step
// depends on the previous one (sign in → overview → revoke → …), like an operator would.
const shots = join(repoRoot, 'test-artifacts', 'console');
const consoleBuilt = existsSync(join(repoRoot, 'dist', 'console', 'index.html'));
const haveChromium = existsSync(CHROMIUM);

let warden: WardenProcess;
let client: ReturnType<typeof wardenClient>;
let dataDir: string;
let fixtures: string;
let browser: ConsoleBrowser | undefined;
let page: Page;
let adminToken: string;
let teamAKey: string;
const cspViolations: string[] = [];
const pageErrors: string[] = [];
const requests: { url: string; auth: boolean }[] = [];

const admin = (method: string, path: string, body?: unknown) =>
  client.call(method, `${warden.ready.adminUrl}/api/v1${path}`, { headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
// team-a has a key but no permit for the echo model: authenticated, then denied by policy.
const gateway = (key: string | null) =>
  client.call('POST', `${warden.ready.gatewayUrl}/v1/chat/completions`, {
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify({ model: 'echo', messages: [{ role: 'user', content: 'hi' }] }),
  });

async function axeAndShot(name: string): Promise<void> {
  const violations = await seriousAxeViolations(page);
  assert.deepEqual(violations, [], `${name}: serious accessibility violations:\n${JSON.stringify(violations, null, 2)}`);
  // Readable at 1280 px: nothing may force a horizontal scrollbar on the page itself.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${name}: page is ${overflow}px wider than the 1280px viewport`);
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

async function openPage(title: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Console pages' }).getByRole('link', { name: title, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: title }).waitFor();
}

before(async () => {
  if (!consoleBuilt || !haveChromium) return;
  mkdirSync(shots, { recursive: true });
  dataDir = tempDataDir('warden-console-');
  fixtures = mkdtempSync(join(tmpdir(), 'warden-console-fixtures-'));
  warden = await startWardenProcess({ dataDir, configYaml: `artifacts:\n  promotion:\n    approvers: ['User::"alice"']\n` });
  client = wardenClient(warden.ready.caBundle);
  adminToken = warden.ready.adminToken!;

  // Seed through the same admin API and CLI an operator uses.
  const key = await admin('POST', '/keys', { name: 'team-a', principal: 'ApiKey::"team-a"' });
  assert.equal(key.status, 201, key.text);
  teamAKey = (key.json as { key: string }).key;
  mkdirSync(join(fixtures, 'data'));
  writeFileSync(join(fixtures, 'data', 'train.csv'), 'sepal_length,label\n5.1,0\n6.7,2\n');
  mkdirSync(join(fixtures, 'model'));
  const header = Buffer.from(JSON.stringify({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  writeFileSync(join(fixtures, 'model', 'model.safetensors'), Buffer.concat([len, header, Buffer.alloc(8)]));
  const cli = (args: string[]) => runCli(['--data-dir', dataDir, ...args], { env: { WARDEN_ADMIN_TOKEN: adminToken } });
  const ds = await cli(['artifact', 'add', join(fixtures, 'data'), '--kind', 'dataset', '--name', 'churn-train', '--version', '1']);
  assert.equal(ds.code, 0, ds.stderr);
  const model = await cli(['artifact', 'add', join(fixtures, 'model'), '--name', 'churn', '--version', '1', '--scan', '--run', 'train-42', '--input', 'churn-train@1']);
  assert.equal(model.code, 0, model.stderr);
  for (const [path, body] of [
    ['/artifacts/churn/versions/1/approve', { principal: 'User::"alice"' }],
    ['/artifacts/churn/versions/1/promote', { stage: 'approved' }],
    ['/artifacts/churn/versions/1/promote', { stage: 'serving' }],
  ] as const) {
    const r = await admin('POST', path, body);
    assert.ok(r.status < 300, `${path}: ${r.text}`);
  }
  const inc = await admin('POST', '/incidents', { title: 'Key team-a seen on a paste site', severity: 'high', target: { key: 'team-a' }, runbook: 'contain-leaked-key', dryRun: true });
  assert.equal(inc.status, 201, inc.text);
  assert.equal((await gateway(warden.ready.demoKey)).status, 200);

  browser = await launchConsoleBrowser(warden.ready.adminUrl, warden.ready.caBundle);
  page = browser.page;
  page.setDefaultTimeout(20_000);
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      const w = window as unknown as { __csp?: string[] };
      (w.__csp ??= []).push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  page.on('console', (m) => {
    if (/Content Security Policy|Trusted Type/i.test(m.text())) cspViolations.push(m.text());
  });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('request', (r) => requests.push({ url: r.url(), auth: /^Bearer /.test(r.headers()['authorization'] ?? '') }));
});

after(async () => {
  await browser?.close();
  await client?.close();
  await warden?.stop();
  if (dataDir) removeDir(dataDir);
  if (fixtures) rmSync(fixtures, { recursive: true, force: true });
});

test('the console is served with a strict CSP and no inline code', async (t) => {
  if (!requireOrSkip(t, haveChromium, 'Debian chromium') || !requireOrSkip(t, consoleBuilt, 'built console (npm run build:console)')) return;
  const r = await client.call('GET', `${warden.ready.adminUrl}/console/`);
  assert.equal(r.status, 200);
  const csp = String(r.headers['content-security-policy']);
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.match(csp, /style-src 'self'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(r.headers['x-frame-options'], 'DENY');
  assert.equal(r.headers['x-content-type-options'], 'nosniff');
  for (const m of r.text.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)) {
    assert.match(m[0], /\bsrc=/, 'every script is an external file');
    assert.equal(m[1]!.trim(), '');
  }
  assert.doesNotMatch(r.text, /<style\b|\sstyle=/);
  const asset = /src="(\/console\/assets\/[^"]+\.js)"/.exec(r.text)![1]!;
  const js = await client.call('GET', warden.ready.adminUrl + asset);
  assert.equal(js.status, 200);
  assert.match(String(js.headers['content-type']), /javascript/);
  assert.match(String(js.headers['content-security-policy']), /default-src 'none'/);
  // Client-side routes fall back to index.html; traversal and missing assets do not.
  assert.equal((await client.call('GET', `${warden.ready.adminUrl}/console/audit`)).status, 200);
  assert.equal((await client.call('GET', `${warden.ready.adminUrl}/console/assets/nope.js`)).status, 404);
  assert.equal((await client.call('GET', `${warden.ready.adminUrl}/console/%2e%2e/%2e%2e/package.json`)).status, 404);
  // The SPA is public; its data is not.
  assert.equal((await client.call('GET', `${warden.ready.adminUrl}/api/v1/status`)).status, 401);
});

test('sign in with the admin token (a wrong token is refused)', async (t) => {
  if (!requireOrSkip(t, haveChromium, 'Debian chromium') || !requireOrSkip(t, consoleBuilt, 'built console (npm run build:console)')) return;
  await page.goto(`${warden.ready.adminUrl}/console/`);
  await page.getByRole('heading', { name: 'Warden console' }).waitFor();
  await axeAndShot('01-sign-in');
  await page.getByLabel('Admin token').fill('wdt_adm_0000000000000000_wrong');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'WARDEN_AUTHN_ADMIN_REQUIRED' }).waitFor();
  await page.getByLabel('Admin token').fill(adminToken);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  assert.equal(await page.evaluate(() => localStorage.length), 0, 'nothing in localStorage');
  assert.ok(!page.url().includes(adminToken));
});

test('Overview: a denied request appears live, with the audit log verified', async (t) => {
  if (!requireOrSkip(t, haveChromium, 'Debian chromium') || !requireOrSkip(t, consoleBuilt, 'built console (npm run build:console)')) return;
  await page.getByTestId('audit-verified').filter({ hasText: '✓ verified' }).waitFor();
  // Made after the page loaded: it must arrive through live updates, not the first fetch.
  const denied = await gateway(teamAKey);
  assert.equal(denied.status, 403, denied.text);
  const code = (denied.json as { error: { code: string } }).error.code;
  const row = page.getByTestId('denials').locator('tr', { hasText: 'ApiKey::"team-a"' });
  await row.first().waitFor({ timeout: 20_000 });
  assert.match(await row.first().innerText(), new RegExp(code));
  assert.ok(Number(await page.getByTestId('denials-total').innerText()) >= 1);
  await axeAndShot('02-overview');
});

test('Identities: revoke an API key with confirmation; the gateway rejects it', async (t) => {
  if (!requireOrSkip(t, haveChromium, 'Debian chromium') || !requireOrSkip(t, consoleBuilt, 'built console (npm run build:console)')) return;
  await openPage('Identities');
  const row = page.locator('tr[data-key-name="team-a"]');
  await row.getByRole('button', { name: 'Revoke API key team-a' }).click();
  const dialog = page.getByRole('dialog', { name: 'Revoke API key team-a?' });
  await dialog.waitFor();
  await page.screenshot({ path: join(shots, '03-identities-confirm.png') });
  await dialog.getByRole('button', { name: 'Revoke' }).click();
  await page.getByRole('status').filter({ hasText: 'API key team-a revoked' }).waitFor();
  await row.getByText(/^revoked/).waitFor();
  const r = await gateway(teamAKey);
  assert.equal(r.status, 401, r.text);
  assert.equal((r.json as { error: { code: string } }).error.code, 'WARDEN_AUTHN_KEY_REVOKED');
  assert.equal((await gateway(warden.ready.demoKey)).status, 200, 'other keys keep working');
  await axeAndShot('03-identities');
});

test('Policies: validation errors and the decision playground', async (t) => {
  if (!requireOrSkip(t, haveChromium, 'Debian chromium') || !requireOrSkip(t, consoleBuilt, 'built console (npm run build:console)')) return;
  await openPage('Policies');
  const text = page.getByLabel(/^Policy text/);
  await text.waitFor();
  await page.waitForFunction(() => (document.getElementById('policy-text') as HTMLTextAreaElement | null)?.value.includes('demo-invoke-iris'));
  await page.getByRole('button', { name: 'Explain decision' }).click();
  const decision = page.getByTestId('decision');
  await decision.getByText('allow', { exact: true }).waitFor();
  await decision.getByText('demo-invoke-iris', { exact: true }).waitFor();
  await page.getByLabel('Principal').fill('ApiKey::"team-a"');
  await page.getByRole('button', { name: 'Explain decision' }).click();
  await decision.getByText('no-permit-applies').waitFor();
  // A what-if forbid in the edited text wins over the published permit.
  const published = await text.inputValue();
  await text.fill(`${published}\n@id("no-iris")\nforbid(principal, action, resource == Model::"iris");\n`);
  await page.getByLabel('Principal').fill('ApiKey::"demo"');
  await page.getByRole('button', { name: 'Explain decision' }).click();
  await decision.getByText('forbidden').waitFor();
  await decision.getByText('no-iris', { exact: true }).waitFor();
  await page.getByRole('button', { name: 'Validate' }).click();
  await page.getByTestId('validation').getByText(/valid: 3 policies/).waitFor();
  await text.fill('permit(principal == , action, resource);');
  await page.getByRole('button', { name: 'Validate' }).click();
  await page.getByTestId('validation').getByRole('alert').waitFor();
  await page.getByRole('button', { name: 'Reset to published' }).click();
  await page.getByRole('button', { name: 'Explain decision' }).click();
  await decision.getByText('permitted').waitFor();
  await axeAndShot('04-policies');
});

test('Models & data: registry, lineage graph by keyboard, blast radius', async (t) => {
  if (!requireOrSkip(t, haveChromium, 'Debian chromium') || !requireOrSkip(t, consoleBuilt, 'built console (npm run build:console)')) return;
  await openPage('Models & data');
  await page.getByTestId('artifacts').getByText('churn-train').waitFor();
  const graph = page.getByRole('group', { name: 'Lineage graph' });
  await graph.locator('[data-key="deployment:churn"]').waitFor();
  for (const k of ['dataset:churn-train@1', 'run:train-42', 'model:churn@1']) await graph.locator(`[data-key="${k}"]`).waitFor();
  // Keyboard: focus the dataset version, follow the edge downstream with →, select with Enter.
  await graph.locator('[data-key="dataset:churn-train@1"]').focus();
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-key')), 'run:train-42');
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('Enter');
  const blast = page.getByTestId('blast-radius');
  await blast.getByText('churn@1').waitFor();
  await blast.getByText('affected').waitFor();
  const hot = await graph.locator('.node-hot').evaluateAll((els) => els.map((e) => e.getAttribute('data-key')));
  for (const k of ['run:train-42', 'model:churn@1', 'deployment:churn']) assert.ok(hot.includes(k), `${k} highlighted in ${hot.join(', ')}`);
  await page.getByText('serving', { exact: true }).first().waitFor();
  await axeAndShot('05-models');
});

test('Incidents: timeline with runbook steps', async (t) => {
  if (!requireOrSkip(t, haveChromium, 'Debian chromium') || !requireOrSkip(t, consoleBuilt, 'built console (npm run build:console)')) return;
  await openPage('Incidents');
  await page.getByRole('button', { name: 'Timeline of Key team-a seen on a paste site' }).click();
  const timeline = page.getByTestId('timeline');
  await timeline.locator('li').first().waitFor();
  assert.ok((await timeline.locator('li').count()) >= 2);
  await timeline.getByText('runbook step').first().waitFor();
  const steps = await timeline.getByTestId('runbook-steps').locator('li').allInnerTexts();
  assert.equal(steps.length, 2, steps.join('\n'));
  assert.match(steps[0]!, /block-api-key/);
  await axeAndShot('06-incidents');
});

test('Audit: search by principal and decision, verify an inclusion proof in the browser', async (t) => {
  if (!requireOrSkip(t, haveChromium, 'Debian chromium') || !requireOrSkip(t, consoleBuilt, 'built console (npm run build:console)')) return;
  await openPage('Audit');
  await page.getByLabel('Principal').fill('ApiKey::"team-a"');
  await page.getByLabel('Decision').selectOption('deny');
  await page.getByRole('button', { name: 'Search' }).click();
  const results = page.getByTestId('audit-results');
  await results.locator('tbody tr').first().waitFor();
  const rows = await results.locator('tbody tr').allInnerTexts();
  assert.ok(rows.length >= 1, 'at least the policy denial from the Overview step');
  for (const r of rows) assert.match(r, /ApiKey::"team-a"[\s\S]*deny/);
  await results.locator('tbody tr').first().getByRole('button', { name: /^Inclusion proof/ }).click();
  const proof = page.getByTestId('proof');
  // Either the record is already covered by a checkpoint, or the console offers to publish one.
  const proofCalls: string[] = [];
  page.on('response', (r) => {
    if (r.url().includes('/audit/proof/')) proofCalls.push(`${r.status()} ${r.url()}`);
  });
  await proof
    .getByText(/verified in this browser|does not match|Publish a checkpoint and retry/)
    .first()
    .waitFor({ timeout: 40_000 })
    .catch(async (err: unknown) => {
      await page.screenshot({ path: join(shots, '07-audit-failed.png'), fullPage: true });
      throw new Error(`proof did not resolve; section: ${await proof.innerText().catch(() => '?')}; calls: ${proofCalls.join(', ')}`, { cause: err });
    });
  const retry = proof.getByRole('button', { name: 'Publish a checkpoint and retry' });
  if (await retry.isVisible()) await retry.click();
  await proof.getByText(/verified in this browser|does not match/).first().waitFor();
  assert.match(await proof.innerText(), /✓ verified in this browser/);
  await axeAndShot('07-audit');
});

test('every browser call went through the admin API with the bearer token; no CSP violation', async (t) => {
  if (!requireOrSkip(t, haveChromium, 'Debian chromium') || !requireOrSkip(t, consoleBuilt, 'built console (npm run build:console)')) return;
  const csp = await page.evaluate(() => (window as unknown as { __csp?: string[] }).__csp ?? []);
  assert.deepEqual([...csp, ...cspViolations], []);
  assert.deepEqual(pageErrors, []);
  const origin = new URL(warden.ready.adminUrl).origin;
  for (const r of requests) {
    const u = new URL(r.url);
    assert.equal(u.origin, origin, `only the control plane is contacted: ${r.url}`);
    assert.ok(u.pathname.startsWith('/console') || u.pathname.startsWith('/api/v1/'), r.url);
    if (u.pathname.startsWith('/api/v1/')) assert.ok(r.auth, `${r.url} carries the admin token`);
    assert.ok(!r.url.includes(adminToken), 'the token never appears in a URL');
  }
  assert.ok(requests.filter((r) => new URL(r.url).pathname.startsWith('/api/v1/')).length > 10);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Admin token').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length + localStorage.length), 0, 'sign-out forgets the token');
  assert.ok(readFileSync(join(shots, '05-models.png')).length > 1000);
});
