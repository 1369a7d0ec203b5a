/**
 * `npm run test:differential [-- CASES [SEED]]`: the compiled evaluator against cedar-wasm on
 * CASES generated requests (default 1,000,000). Prints every kept mismatch and a summary;
 * exits 1 on any mismatch.
 */
import { runDifferential } from './differential.js';

const cases = Number(process.argv[2] ?? 1_000_000);
const seed = Number(process.argv[3] ?? 20261127);
const perSet = Number(process.argv[4] ?? 16);
if (!Number.isSafeInteger(cases) || cases <= 0 || !Number.isSafeInteger(seed) || !Number.isSafeInteger(perSet) || perSet <= 0) {
  process.stderr.write('usage: differential.main.ts [CASES>0] [SEED] [REQUESTS_PER_POLICY_SET]\n');
  process.exit(2);
}
let lastReport = 0;
let printed = 0;
const summary = runDifferential({
  cases,
  seed,
  requestsPerSet: perSet,
  keepMismatches: 20,
  // Mismatches are printed as they are found, so an interrupted run still shows them.
  onMismatch: (m) => {
    if (printed++ >= 50) return;
    console.log('MISMATCH', JSON.stringify({ scenario: m.scenario, request: m.request, compiled: m.compiled, reference: m.reference }));
    console.log(m.policies);
    console.log('entities:', JSON.stringify(m.entities));
  },
  onProgress: (done, s) => {
    if (done - lastReport >= 25_000) {
      lastReport = done;
      process.stderr.write(`… ${done.toLocaleString('en-US')} cases, ${s.mismatchCount} mismatches, ${s.allows} allow, ${s.casesWithErrors} with errors\n`);
    }
  },
});
const { mismatches: _kept, ...rest } = summary;
console.log(
  `differential: ${summary.cases.toLocaleString('en-US')} cases, ${summary.scenarios.toLocaleString('en-US')} policy sets (seed ${summary.seed}), ` +
    `${summary.mismatchCount} mismatches, ${summary.allows} allow / ${summary.denies} deny, ${summary.casesWithErrors} with policy errors, ` +
    `${summary.delegated} delegated to cedar-wasm, ${summary.fallbackSets} fallback sets, ${summary.unparseable} unparseable, ${(summary.ms / 1000).toFixed(1)} s`,
);
console.log(JSON.stringify(rest));
process.exit(summary.mismatchCount === 0 ? 0 : 1);
