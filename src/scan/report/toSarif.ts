import type * as Sarif from 'sarif';
import type { ScanReport, Severity } from '../types.js';
import { ruleDescriptions } from './rules.js';

const level: Record<Severity, Sarif.Result.level> = { critical: 'error', high: 'error', medium: 'warning', low: 'note', info: 'note' };
/** GitHub code scanning reads `security-severity` (CVSS-like 0-10) from rule properties. */
const securitySeverity: Record<Severity, string> = { critical: '9.5', high: '8.0', medium: '5.5', low: '3.0', info: '0.0' };

function splitLocation(location: string): { entry: string; byteOffset: number | undefined } {
  const at = location.lastIndexOf('@');
  if (at === -1) return { entry: location, byteOffset: undefined };
  const n = Number(location.slice(at + 1));
  return { entry: location.slice(0, at), byteOffset: Number.isSafeInteger(n) ? n : undefined };
}

function toUri(path: string): string {
  return path.split(/[\\/]/).map(encodeURIComponent).join('/');
}

/** SARIF 2.1.0 log of a scan: one run, rules from the findings, artifacts with their SHA-256. */
export function toSarif(report: ScanReport, toolVersion = '0.1.0'): Sarif.Log {
  const ruleIds = [...new Set(report.files.flatMap((f) => f.findings.map((x) => x.rule)))].sort();
  const ruleIndex = new Map(ruleIds.map((id, i) => [id, i]));
  const worst = new Map<string, Severity>();
  for (const f of report.files) for (const x of f.findings) if (!worst.has(x.rule)) worst.set(x.rule, x.severity);
  const rules: Sarif.ReportingDescriptor[] = ruleIds.map((id) => ({
    id,
    shortDescription: { text: ruleDescriptions[id] ?? id },
    defaultConfiguration: { level: level[worst.get(id) ?? 'medium'] },
    properties: { 'security-severity': securitySeverity[worst.get(id) ?? 'medium'], tags: ['security', 'supply-chain'] },
  }));
  const artifacts: Sarif.Artifact[] = report.files.map((f) => ({
    location: { uri: toUri(f.path) },
    ...(f.sha256 ? { hashes: { 'sha-256': f.sha256 } } : {}),
    properties: { format: f.format },
  }));
  const results: Sarif.Result[] = [];
  report.files.forEach((f, artifactIndex) => {
    for (const x of f.findings) {
      const { entry, byteOffset } = splitLocation(x.location);
      results.push({
        ruleId: x.rule,
        ruleIndex: ruleIndex.get(x.rule)!,
        level: level[x.severity],
        message: { text: x.message },
        locations: [
          {
            physicalLocation: {
              artifactLocation: { uri: toUri(f.path), index: artifactIndex },
              ...(byteOffset !== undefined && !entry ? { region: { byteOffset } } : {}),
            },
            ...(entry ? { logicalLocations: [{ fullyQualifiedName: entry, kind: 'member' }] } : {}),
          },
        ],
        properties: { severity: x.severity, location: x.location },
      });
    }
  });
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [{ tool: { driver: { name: 'warden-scan', version: toolVersion, informationUri: 'https://github.com/warden/warden/blob/main/docs/scan.md', rules } }, artifacts, results }],
  };
}
