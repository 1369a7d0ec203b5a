// A runbook rollback that fails halfway has still revoked a model version: PEPs must get that
// revocation at once, not at the next periodic snapshot refresh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rollbackAffectedModelsAction, rollbackModelAction, type ActionContext, type ModelRegistryPort } from '../../src/respond/index.js';
import { WardenError } from '../../src/errors/index.js';

const ctx = { incidentId: 'inc_1', actor: 'Admin::"t"' } as unknown as ActionContext;

/** Model m serves v2 (v1 approved); revoking works, the rollback after it fails. */
function failingRegistry(revoked: string[]): ModelRegistryPort {
  return {
    show: async () => ({ name: 'm', kind: 'model', versions: [{ version: '1', stage: 'approved', revoked: false }, { version: '2', stage: 'serving', revoked: false }] }),
    revoke: async (name, version) => void revoked.push(`${name}@${version}`),
    rollback: async () => {
      throw new WardenError('WARDEN_STORE_UNAVAILABLE', 'injected store failure');
    },
    rollbackTarget: async () => '1',
    blastRadius: async () => ({ dataset: 'd@1', runs: [], models: [{ key: 'm@2', name: 'm', version: '2', stage: 'serving', revoked: false }], deployments: [{ name: 'm', servingVersion: '2', servingAffected: true }] }),
  };
}

test('rollback-model: a failing rollback revokes nothing (the model keeps serving) and still pushes a snapshot', async () => {
  const revoked: string[] = [];
  let pushed = 0;
  const action = rollbackModelAction({ registry: failingRegistry(revoked), servingChanged: () => pushed++ });
  await assert.rejects(action.apply({ model: 'm' }, ctx), { code: 'WARDEN_STORE_UNAVAILABLE' });
  assert.deepEqual(revoked, [], 'rolled back first: nothing revoked when no version took over');
  assert.equal(pushed, 1);
});

test('rollback-model: an approved version that fails the promotion checks now is no target: plan refuses, apply never takes the model offline', async () => {
  // iris@2 serves; iris@1 is approved but the registry's checks refuse it (frozen dataset, untrusted signer).
  const versions = [{ version: '1', stage: 'approved', revoked: false }, { version: '2', stage: 'serving', revoked: false }];
  const registry: ModelRegistryPort = {
    show: async () => ({ name: 'iris', kind: 'model', versions }),
    revoke: async (_n, v) => void (versions.find((x) => x.version === v)!.revoked = true),
    rollback: async () => {
      throw new WardenError('WARDEN_ARTIFACT_NO_ROLLBACK_TARGET', 'iris has no earlier approved, unrevoked version that passes the promotion checks');
    },
    rollbackTarget: async () => null,
    blastRadius: async () => {
      throw new Error('unused');
    },
  };
  const action = rollbackModelAction({ registry });
  await assert.rejects(action.plan({ model: 'iris' }, ctx), { code: 'WARDEN_RESPOND_PRECONDITION' });
  await assert.rejects(action.apply({ model: 'iris' }, ctx), { code: 'WARDEN_ARTIFACT_NO_ROLLBACK_TARGET' });
  assert.deepEqual(versions[1], { version: '2', stage: 'serving', revoked: false }, 'still serving, not revoked');
});

test('rollback-affected-models: a rollback failing after the revokes still pushes them to PEPs', async () => {
  const revoked: string[] = [];
  let pushed = 0;
  const action = rollbackAffectedModelsAction({ registry: failingRegistry(revoked), servingChanged: () => pushed++ });
  await assert.rejects(action.apply({ dataset: 'd@1' }, ctx), { code: 'WARDEN_STORE_UNAVAILABLE' });
  assert.deepEqual(revoked, ['m@2']);
  assert.equal(pushed, 1);
});
