// Compensation of block-principal puts back the block that was in force before the run, instead of
// lifting it (an operator's 1-hour block was gone after a failed run: review of session 17's diff);
// and contain-extraction's block is bounded, since a PEP's alarm names whom it blocks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore, BlockedPrincipalRepository } from '../../src/store/index.js';
import { blockPrincipalAction } from '../../src/respond/actions/apiKeyActions.js';
import { BUILTIN_RUNBOOKS } from '../../src/respond/builtinRunbooks.js';
import type { ActionContext } from '../../src/respond/Action.js';
import { parseRunbook } from '../../src/respond/Runbook.js';

test('undoing block-principal restores the operator block it replaced; without one it lifts its own', async (t) => {
  const db = await openStore({});
  t.after(() => db.close());
  const blocks = new BlockedPrincipalRepository(db);
  const action = blockPrincipalAction({ db, serverSecret: new Uint8Array(32), snapshotChanged: () => undefined });
  const ctx = { incidentId: 'inc_1', actor: 'Rule::"extraction-attack"' } as ActionContext;
  const operatorUntil = new Date(Date.now() + 3_600_000);
  await blocks.block({ principal: 'User::"mallory"', expiresAt: operatorUntil, blockedBy: 'Admin::"adm_ops"', reason: 'manual' });

  const result = await action.apply({ principal: 'User::"mallory"' }, ctx);
  assert.equal((await blocks.find('User::"mallory"'))?.expiresAt, null, 'the run made the block permanent');
  await action.undo!({ principal: 'User::"mallory"' }, result, ctx);
  const restored = await blocks.find('User::"mallory"');
  assert.equal(restored?.blockedBy, 'Admin::"adm_ops"');
  assert.equal(restored?.expiresAt?.getTime(), operatorUntil.getTime());

  const own = await action.apply({ principal: 'User::"eve"', ttlMinutes: 30 }, ctx);
  await action.undo!({ principal: 'User::"eve"' }, own, ctx);
  assert.equal(await blocks.find('User::"eve"'), null);
});

test('contain-extraction blocks for a bounded time (24 h)', () => {
  const step = parseRunbook(BUILTIN_RUNBOOKS['contain-extraction']!).steps.find((st) => st.action === 'block-principal');
  assert.equal(step?.with?.ttlMinutes, 1440);
});
