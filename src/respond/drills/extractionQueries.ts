/**
 * Query streams of a model-extraction attacker, shared by `warden drill extraction` and
 * bench/extraction.ts (through test/detect/helpers/extractionLab.ts): Tramèr et al. (USENIX
 * Security 2016) query uniform random points of the publicly known feature box and solve for, or
 * retrain on, the answers.
 */

import { mulberry32 } from '../../detect/stats/mulberry32.js';

export { mulberry32 };

/** Publicly known feature ranges of iris (cm): what an attacker without the data would assume. */
export const IRIS_BOX: [number, number][] = [
  [4.0, 8.0],
  [2.0, 4.5],
  [1.0, 7.0],
  [0.1, 2.6],
];

/** Feature boxes of the models the drill knows how to attack (the `warden up --demo` classifier). */
export const KNOWN_FEATURE_BOXES: Readonly<Record<string, [number, number][]>> = { iris: IRIS_BOX };

export function uniformPoint(rnd: () => number, box: readonly (readonly [number, number])[] = IRIS_BOX): number[] {
  return box.map(([lo, hi]) => lo + (hi - lo) * rnd());
}

export function uniformPoints(n: number, seed: number, box: readonly (readonly [number, number])[] = IRIS_BOX): number[][] {
  const rnd = mulberry32(seed);
  return Array.from({ length: n }, () => uniformPoint(rnd, box));
}
