#!/usr/bin/env node
// Rebuilds bench/RESULTS.md from the per-benchmark files each bench writes to bench/results/.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

const dir = new URL('../bench/results/', import.meta.url);
const parts = readdirSync(dir)
  .filter((f) => f.endsWith('.md'))
  .sort()
  .map((f) => readFileSync(new URL(f, dir), 'utf8').trim());
const header = `# Benchmark results

Each section is written by one \`bench/*.ts\` (\`npm run bench [name]\`) and merged here by
\`node scripts/merge-bench-results.mjs\`. Every table carries a baseline measured in the same run;
compare the ratios, not the absolute numbers: the machines are shared 2-core VMs and several runs
below were taken while other work loaded the machine (load averages are noted where known).
`;
writeFileSync(new URL('../bench/RESULTS.md', import.meta.url), [header, ...parts].join('\n\n') + '\n');
console.log(`bench/RESULTS.md: ${parts.length} sections`);
