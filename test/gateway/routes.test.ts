import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchRoute } from '../../src/gateway/index.js';

test('OIP routes: model and version names are not dot segments (they become upstream path segments)', () => {
  assert.equal(matchRoute('/v2/models/iris.v2/infer')?.model, 'iris.v2');
  assert.equal(matchRoute('/v2/models/x/versions/1.0/ready')?.version, '1.0');
  for (const path of ['/v2/models/..', '/v2/models/./infer', '/v2/models/../infer', '/v2/models/m/versions/../ready', '/v2/models/m/versions/./infer']) {
    assert.equal(matchRoute(path), null, path);
  }
});

test('OIP versions with leading zeros do not route (Triton reads versions/01 as version 1, which a forbid on M@1 must cover)', () => {
  for (const version of ['01', '007', '00']) assert.equal(matchRoute(`/v2/models/m/versions/${version}/infer`), null, version);
  for (const version of ['0', '1', '10', '1.0', '01a', 'v01']) assert.equal(matchRoute(`/v2/models/m/versions/${version}/infer`)?.version, version, version);
});
