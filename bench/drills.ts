/**
 * Drills (issue 10): runs `warden drill SCENARIO --format json` repeatedly against one
 * `warden up --demo` and records time to detect, time to contain and leaks after containment.
 * The leaked-key budget is 2 s from detection to containment. poisoned-dataset needs a dataset
 * and models in the registry; it is exercised end to end in test/e2e/poisoned-dataset-drill.test.ts.
 * Usage: node --import tsx bench/drills.ts   (needs `npm run build`)
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { DrillReport } from '../src/respond/index.js';
import { startAndReadLine, stopProcess } from './lib/processes.js';

const root = resolve(import.meta.dirname, '..');
const runs = Number(process.env.BENCH_DRILL_RUNS ?? 5);
const scenarios = ['leaked-key', 'extraction', 'compromised-worker'] as const;
const tmp = mkdtempSync(join(tmpdir(), 'warden-bench-drills-'));
const dataDir = join(tmp, 'data');
const load0 = loadavg()[0]!;

const warden = await startAndReadLine(process.execPath, [join(root, 'bin/warden.js'), '--data-dir', dataDir, 'up', '--demo', '--ready-json', '--port-gateway', '0', '--port-admin', '0'], { env: { ...process.env, WARDEN_LOG_LEVEL: 'error' } });
const ready = JSON.parse(warden.line) as { adminToken: string };
const rows: { scenario: string; report: DrillReport }[] = [];
try {
  for (const scenario of scenarios) {
    for (let i = 0; i < runs; i++) {
      const r = spawnSync(process.execPath, [join(root, 'bin/warden.js'), '--data-dir', dataDir, 'drill', scenario, '--format', 'json'], { env: { ...process.env, WARDEN_ADMIN_TOKEN: ready.adminToken }, encoding: 'utf8' });
      const report = JSON.parse(r.stdout) as DrillReport;
      rows.push({ scenario, report });
      console.log(`${scenario} #${i + 1}: ok=${report.ok} detection=${report.detection} detect=${report.timeToDetectMs} ms contain=${report.timeToContainMs} ms leaks=${report.leaksAfterContainment}/${report.after.sent}`);
    }
  }
} finally {
  await stopProcess(warden.proc);
  rmSync(tmp, { recursive: true, force: true });
}

const fmt = (xs: (number | null)[]): string => {
  const v = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
  return v.length ? `${v[0]}–${v.at(-1)} (median ${v[Math.floor(v.length / 2)]})` : 'n/a';
};
const lines = [
  `## drills (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${cpus().length} cores, load average ${load0.toFixed(1)} at start, \`npm run bench drills\`)`,
  '',
  `${runs} runs per scenario against one \`warden up --demo\` (PGlite, file audit log with fsync per batch).`,
  '',
  '| scenario | detection | runs ok | detect ms | contain ms | attacker requests after containment | leaks | budget |',
  '| --- | --- | ---: | --- | --- | ---: | ---: | --- |',
];
for (const s of scenarios) {
  const mine = rows.filter((r) => r.scenario === s).map((r) => r.report);
  const budget = mine[0]?.containBudgetMs;
  const worst = Math.max(...mine.map((r) => r.timeToContainMs ?? Infinity));
  lines.push(
    `| ${s} | ${[...new Set(mine.map((r) => r.detection))].join(', ')} | ${mine.filter((r) => r.ok).length}/${mine.length} | ${fmt(mine.map((r) => r.timeToDetectMs))} | ${fmt(mine.map((r) => r.timeToContainMs))} | ${mine.reduce((a, r) => a + r.after.sent, 0)} | ${mine.reduce((a, r) => a + r.leaksAfterContainment, 0)} | ${budget ? `≤ ${budget} ms: ${worst <= budget ? 'met' : 'NOT met'}` : '–'} |`,
  );
}
const text = lines.join('\n') + '\n';
console.log(`\n${text}`);
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/drills-runs.md'), text);
