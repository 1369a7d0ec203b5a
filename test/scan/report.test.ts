import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderText, ruleDescriptions, summarize, toAttestationPredicate, toSarif, SCAN_PREDICATE_TYPE, type FileReport, type ScanReport } from '../../src/scan/index.js';

const files: FileReport[] = [
  {
    path: 'models/evil.pt',
    format: 'pytorch-zip',
    sha256: 'a'.repeat(64),
    findings: [
      { rule: 'pickle/dangerous-global', severity: 'critical', message: 'GLOBAL imports os.system', location: 'archive/data.pkl@12' },
      { rule: 'archive/path-traversal', severity: 'high', message: 'bad name', location: '../x' },
    ],
  },
  { path: 'models/raw.pkl', format: 'pickle', sha256: null, findings: [{ rule: 'pickle/unknown-global', severity: 'medium', message: 'x', location: '@40' }] },
  { path: 'models/ok.safetensors', format: 'safetensors', sha256: 'b'.repeat(64), findings: [] },
];
const report: ScanReport = { files, summary: summarize(files) };

describe('scan report rendering', () => {
  it('summarises counts by severity', () => {
    assert.deepEqual(report.summary, { files: 3, findings: 3, bySeverity: { critical: 1, high: 1, medium: 1, low: 0, info: 0 } });
  });

  it('emits SARIF 2.1.0 with rules, levels, artifacts with hashes and member locations', () => {
    const sarif = toSarif(report);
    assert.equal(sarif.version, '2.1.0');
    assert.match(sarif.$schema!, /sarif-2\.1\.0/);
    const run = sarif.runs[0]!;
    assert.equal(run.tool.driver.name, 'warden-scan');
    assert.deepEqual(run.tool.driver.rules!.map((r) => r.id), ['archive/path-traversal', 'pickle/dangerous-global', 'pickle/unknown-global']);
    for (const r of run.tool.driver.rules!) assert.equal(r.shortDescription!.text, ruleDescriptions[r.id]);
    assert.deepEqual(run.artifacts!.map((a) => a.hashes?.['sha-256'] ?? null), ['a'.repeat(64), null, 'b'.repeat(64)]);
    const results = run.results!;
    assert.equal(results.length, 3);
    assert.deepEqual(results.map((r) => r.level), ['error', 'error', 'warning']);
    for (const r of results) assert.equal(run.tool.driver.rules![r.ruleIndex!]!.id, r.ruleId);
    assert.deepEqual(results[0]!.locations![0]!.logicalLocations, [{ fullyQualifiedName: 'archive/data.pkl', kind: 'member' }]);
    assert.deepEqual(results[2]!.locations![0]!.physicalLocation!.region, { byteOffset: 40 });
    assert.equal(results[0]!.locations![0]!.physicalLocation!.artifactLocation!.uri, 'models/evil.pt');
    assert.equal(run.tool.driver.rules![1]!.properties!['security-severity'], '9.5');
  });

  it('renders text with one block per file and a summary', () => {
    const text = renderText(report);
    assert.match(text, /^models\/evil\.pt {2}\[pytorch-zip\] {2}sha256:a{64}$/m);
    assert.match(text, /^ {2}CRITICAL pickle\/dangerous-global {2}\(archive\/data\.pkl@12\) GLOBAL imports os\.system$/m);
    assert.match(text, /^ {2}no findings$/m);
    assert.match(text, /3 file\(s\) scanned, 3 finding\(s\): 1 critical, 1 high, 1 medium$/);
  });

  it('wraps a report as an in-toto predicate whose subjects are the hashed files', () => {
    const att = toAttestationPredicate(report, new Date('2026-01-01T00:00:00Z'));
    assert.equal(att.predicateType, SCAN_PREDICATE_TYPE);
    assert.deepEqual(att.subjects, [
      { name: 'models/evil.pt', digest: { sha256: 'a'.repeat(64) } },
      { name: 'models/ok.safetensors', digest: { sha256: 'b'.repeat(64) } },
    ]);
    assert.equal(att.predicate.scannedAt, '2026-01-01T00:00:00.000Z');
    assert.equal(att.predicate.summary.findings, 3);
  });

  it('documents every rule the scanner can emit', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const root = new URL('../../src/scan/', import.meta.url).pathname;
    const used = new Set<string>();
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(dir, e.name));
        else if (e.name.endsWith('.ts') && e.name !== 'rules.ts') for (const m of readFileSync(join(dir, e.name), 'utf8').matchAll(/'([a-z]+\/[a-z0-9-]+)'/g)) used.add(m[1]!);
      }
    };
    walk(root);
    const ruleIds = [...used].filter((r) => /^(pickle|archive|numpy|safetensors|gguf|keras|tf|onnx|scan|format|tokenizer|pytorch)\//.test(r));
    assert.ok(ruleIds.length > 30);
    assert.deepEqual(ruleIds.filter((r) => !(r in ruleDescriptions)), []);
  });
});
