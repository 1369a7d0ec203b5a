import { test } from 'node:test';
import assert from 'node:assert/strict';
import { layoutLineage, mergeGraphs } from '../../console/src/lib/lineageLayout.js';
import type { LineageNode } from '../../console/src/api/types.js';

const node = (key: string): LineageNode => ({ key, kind: key.split(':')[0] as LineageNode['kind'], name: key, attrs: {} });
const size = { columnWidth: 100, rowHeight: 50, margin: 10 };

test('lineage is laid out left to right along its edges, datasets before runs before models', () => {
  const up = { nodes: [node('model:m@1'), node('run:r'), node('dataset:d@1'), node('dataset:d')], edges: [{ src: 'dataset:d', dst: 'dataset:d@1', relation: 'version' }, { src: 'dataset:d@1', dst: 'run:r', relation: 'input_to' }, { src: 'run:r', dst: 'model:m@1', relation: 'produced' }] };
  const down = { nodes: [node('model:m@1'), node('deployment:m')], edges: [{ src: 'model:m@1', dst: 'deployment:m', relation: 'deployed_as' }] };
  const g = mergeGraphs(up, down, up);
  assert.equal(g.nodes.length, 5);
  assert.equal(g.edges.length, 4);
  const { nodes, width, height } = layoutLineage(g.nodes, g.edges, size);
  const col: Record<string, number> = Object.fromEntries(nodes.map((n) => [n.key, n.column]));
  assert.deepEqual({ ...col }, { 'dataset:d': 0, 'dataset:d@1': 1, 'run:r': 2, 'model:m@1': 3, 'deployment:m': 4 });
  for (const e of g.edges) assert.ok(col[e.dst]! > col[e.src]!, `${e.src} → ${e.dst} points right`);
  assert.equal(width, 10 * 2 + 5 * 100);
  assert.equal(height, 10 * 2 + 50);
});

test('a cycle does not hang the layout', () => {
  const nodes = [node('dataset:a'), node('dataset:b')];
  const edges = [{ src: 'dataset:a', dst: 'dataset:b', relation: 'x' }, { src: 'dataset:b', dst: 'dataset:a', relation: 'x' }];
  const r = layoutLineage(nodes, edges, size);
  assert.equal(r.nodes.length, 2);
});
