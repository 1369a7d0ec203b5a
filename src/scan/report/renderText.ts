import type { ScanReport } from '../types.js';

/** Human-readable report: one block per file, findings most severe first, then a summary line. */
export function renderText(report: ScanReport): string {
  const lines: string[] = [];
  for (const f of report.files) {
    lines.push(`${f.path}  [${f.format}]${f.sha256 ? `  sha256:${f.sha256}` : ''}`);
    if (f.findings.length === 0) lines.push('  no findings');
    for (const x of f.findings) lines.push(`  ${x.severity.toUpperCase().padEnd(8)} ${x.rule}  ${x.location ? `(${x.location}) ` : ''}${x.message}`);
  }
  const s = report.summary;
  const counts = Object.entries(s.bySeverity).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(', ');
  lines.push(`${s.files} file(s) scanned, ${s.findings} finding(s)${counts ? `: ${counts}` : ''}`);
  return lines.join('\n');
}
