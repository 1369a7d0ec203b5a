import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shapiroWilk } from '../../src/detect/stats/shapiroWilk.js';
import { ksTwoSample, kolmogorovSurvival } from '../../src/detect/stats/ksTwoSample.js';
import { populationStabilityIndex, binIndex } from '../../src/detect/stats/populationStabilityIndex.js';

// Reference values computed with scipy 1.17.1 (scipy.stats.shapiro, kstwobign.sf).
const shapiroVectors: { name: string; values: number[]; w: number; p: number }[] = [
  { name: 'n=3', values: [1.0, 2.0, 4.0], w: 0.9642857142857142, p: 0.6368868450289689 },
  { name: 'n=5', values: [2.1, 3.4, 1.9, 5.6, 4.4], w: 0.9320849391953863, p: 0.6106559022604845 },
  { name: 'n=8', values: [148, 154, 158, 160, 161, 162, 166, 170], w: 0.9822817035169561, p: 0.9733029149412554 },
  { name: 'n=11', values: [0.1, 0.4, 0.2, 0.9, 1.5, 0.3, 0.35, 0.8, 2.5, 0.05, 0.6], w: 0.8121200712003287, p: 0.013583197831402365 },
  {
    name: 'n=20',
    values: Array.from({ length: 20 }, (_, i) => ((i * 37) % 20) ** 2 / 10),
    w: 0.8949288620307665,
    p: 0.03316539297687834,
  },
  { name: 'n=50', values: Array.from({ length: 50 }, (_, i) => i * 0.5 + ((i * 7) % 5) * 0.1), w: 0.956395058036475, p: 0.06280694265909831 },
  {
    name: 'n=200 exponential',
    values: Array.from({ length: 200 }, (_, k) => -Math.log(1 - (((k + 1) * 0.6180339887) % 1))),
    w: 0.8256922297899003,
    p: 3.270447546940636e-14,
  },
];

for (const v of shapiroVectors) {
  test(`Shapiro–Wilk matches scipy (${v.name})`, () => {
    const r = shapiroWilk(v.values);
    assert.ok(Math.abs(r.w - v.w) < 1e-6, `W ${r.w} vs ${v.w}`);
    assert.ok(Math.abs(r.p - v.p) < Math.max(1e-5, v.p * 1e-3), `p ${r.p} vs ${v.p}`);
  });
}

test('Shapiro–Wilk rejects too few values and treats a constant sample as normal', () => {
  assert.throws(() => shapiroWilk([1, 2]), RangeError);
  assert.deepEqual(shapiroWilk([3, 3, 3, 3]), { w: 1, p: 1 });
});

test('two-sample KS statistic and asymptotic p-value match scipy', () => {
  const r = ksTwoSample([0.1, 0.5, 0.9, 1.3, 2.0, 2.2, 3.1], [0.3, 0.4, 1.0, 1.1, 1.2, 4.0, 5.0, 6.0]);
  assert.equal(r.d, 0.375);
  assert.ok(Math.abs(r.p - 0.6700416225892298) < 1e-9);
  const a = Array.from({ length: 100 }, (_, i) => i / 100);
  const b = Array.from({ length: 80 }, (_, i) => (i / 80) ** 2);
  const r2 = ksTwoSample(a, b);
  assert.ok(Math.abs(r2.d - 0.26) < 1e-12);
  assert.ok(Math.abs(r2.p - 0.004913632848113255) < 1e-9);
  assert.equal(ksTwoSample([], [1]).p, 1);
  assert.equal(kolmogorovSurvival(0), 1);
});

test('PSI is zero for identical shares and grows with the shift', () => {
  assert.equal(populationStabilityIndex([0.25, 0.25, 0.5], [0.25, 0.25, 0.5]), 0);
  const small = populationStabilityIndex([0.25, 0.25, 0.5], [0.3, 0.2, 0.5]);
  const big = populationStabilityIndex([0.25, 0.25, 0.5], [0.7, 0.2, 0.1]);
  assert.ok(small > 0 && small < 0.1);
  assert.ok(big > 0.25);
  assert.ok(Number.isFinite(populationStabilityIndex([0.5, 0.5, 0], [0, 0.5, 0.5])));
  assert.throws(() => populationStabilityIndex([1], [0.5, 0.5]), RangeError);
  assert.equal(binIndex([1, 2, 3], 0.5), 0);
  assert.equal(binIndex([1, 2, 3], 2), 2);
  assert.equal(binIndex([1, 2, 3], 9), 3);
});
