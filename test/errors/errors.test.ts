import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { errorCodes, renderErrorsDoc, WardenError, toWardenError } from '../../src/errors/index.js';

test('docs/errors.md is up to date with the code registry (run npm run docs:errors)', () => {
  assert.equal(readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8'), renderErrorsDoc());
});

test('general codes (codes/core.ts) are listed under GENERAL, not under an area made from their first word', () => {
  const doc = renderErrorsDoc();
  const sections = new Map(doc.split(/^## /m).slice(1).map((sec) => [sec.split('\n')[0]!, sec] as const));
  for (const heading of ['NOT', 'INPUT']) assert.ok(!sections.has(heading), `no "## ${heading}" section`);
  for (const code of ['WARDEN_NOT_FOUND', 'WARDEN_INPUT_INVALID', 'WARDEN_USAGE', 'WARDEN_INTERNAL']) {
    assert.ok(sections.get('GENERAL')!.includes(`\`${code}\``), `${code} under GENERAL`);
  }
  // Every other section holds only codes of its own area.
  for (const [heading, sec] of sections) {
    if (heading === 'GENERAL') continue;
    for (const [, code] of sec.matchAll(/^\| `(WARDEN_[A-Z0-9_]+)`/gm)) assert.ok(code!.startsWith(`WARDEN_${heading}_`), `${code} under ${heading}`);
  }
});

test('every code follows WARDEN_<AREA>_<REASON>, has a real HTTP status and a description', () => {
  for (const [code, info] of Object.entries(errorCodes)) {
    assert.match(code, /^WARDEN_[A-Z0-9]+(_[A-Z0-9]+)*$/, code);
    assert.ok(info.status >= 400 && info.status <= 599, `${code} status ${info.status}`);
    assert.ok(info.description.length > 10, `${code} needs a description`);
  }
});

test('WardenError carries code, status and cause; unknown errors become WARDEN_INTERNAL without their message', () => {
  const cause = new Error('password=hunter2');
  const e = new WardenError('WARDEN_AUTHN_KEY_EXPIRED', undefined, { cause });
  assert.equal(e.status, 401);
  assert.equal(e.cause, cause);
  assert.equal(e.message, errorCodes.WARDEN_AUTHN_KEY_EXPIRED.description);
  const wrapped = toWardenError(cause);
  assert.equal(wrapped.code, 'WARDEN_INTERNAL');
  assert.ok(!wrapped.message.includes('hunter2'));
  assert.deepEqual(JSON.parse(JSON.stringify(e)), { code: 'WARDEN_AUTHN_KEY_EXPIRED', message: e.message });
});
