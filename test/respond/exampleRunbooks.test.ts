import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { BUILTIN_RUNBOOKS, parseRunbook } from '../../src/respond/index.js';

const dir = new URL('../../examples/runbooks/', import.meta.url);

test('every example runbook is valid, and the built-in copies match the built-ins', () => {
  const files = readdirSync(dir).filter((n) => n.endsWith('.yaml'));
  assert.ok(files.length >= 5);
  for (const f of files) {
    const rb = parseRunbook(readFileSync(new URL(f, dir), 'utf8'), f);
    assert.equal(`${rb.name}.yaml`, f);
    if (BUILTIN_RUNBOOKS[rb.name]) assert.deepEqual(rb, parseRunbook(BUILTIN_RUNBOOKS[rb.name]!), `${f} is out of date`);
  }
});
