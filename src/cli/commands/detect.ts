import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { WardenError } from '../../errors/index.js';
import { fitProfile, loadProfile, readDataFile, saveProfile, OodDetector, scoreInjection, findSensitive } from '../../detect/index.js';
import { configFor, setExitCode } from '../context.js';
import { formatTable, parseFormat, printJson, printText } from '../output.js';

const MAX_TEXT_BYTES = 16 * 1024 * 1024;

function parseNumber(value: string | undefined, name: string, min: number, max: number, integer = false): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new WardenError('WARDEN_USAGE', `${name} must be ${integer ? 'an integer' : 'a number'} between ${min} and ${max}`);
  }
  return n;
}

function readText(path: string): string {
  try {
    const buf = path === '-' ? readFileSync(0) : readFileSync(path);
    if (buf.length > MAX_TEXT_BYTES) throw new WardenError('WARDEN_INPUT_INVALID', `${path} is larger than ${MAX_TEXT_BYTES} bytes`);
    return buf.toString('utf8');
  } catch (cause) {
    if (cause instanceof WardenError) throw cause;
    throw new WardenError('WARDEN_IO', `cannot read ${path}`, { cause });
  }
}

export function registerDetectCommands(program: Command): void {
  const detect = program.command('detect').description('AI threat detectors: feature profiles, OOD checks, prompt/PII scanning');
  const profile = detect.command('profile').description('feature profiles learned from training data (OOD, drift, extraction)');

  profile
    .command('fit')
    .description('learn a feature profile (ranges, mean/covariance, calibrated Mahalanobis threshold, bins) from DATA (.csv or .json)')
    .argument('<data>', 'training rows: CSV (optional header) or JSON ([[...]] or {"rows":[...],"labels":[...]})')
    .requiredOption('--out <file>', 'where to write profile.json')
    .option('--label-column <name>', 'CSV column (name or 0-based index) with the class label: one Gaussian per class')
    .option('--quantile <q>', 'share of training rows under the OOD threshold (default 0.995)')
    .option('--bins <n>', 'quantile bins per feature for PSI (default 10)')
    .option('--format <format>', 'text or json', 'text')
    .action((data: string, opts: { out: string; labelColumn?: string; quantile?: string; bins?: string; format?: string }, cmd: Command) => {
      configFor(cmd);
      const format = parseFormat(opts.format);
      const calibrationQuantile = parseNumber(opts.quantile, '--quantile', 0.5, 1);
      const bins = parseNumber(opts.bins, '--bins', 2, 100, true);
      const training = readDataFile(resolve(data), { labelColumn: opts.labelColumn });
      const fitted = fitProfile(training.rows, { featureNames: training.featureNames, labels: training.labels, calibrationQuantile, bins });
      const out = resolve(opts.out);
      saveProfile(out, fitted);
      const summary = {
        profile: out,
        rows: fitted.count,
        features: fitted.features,
        classes: fitted.gaussians.length,
        mahalanobisThreshold: fitted.mahalanobisThreshold,
        calibrationQuantile: fitted.calibrationQuantile,
      };
      if (format === 'json') printJson(summary);
      else {
        printText(`wrote ${out}: ${fitted.count} rows, ${fitted.features.length} features, ${fitted.gaussians.length} Gaussian(s), OOD threshold ${fitted.mahalanobisThreshold.toFixed(3)} (q=${fitted.calibrationQuantile})`);
        printText(formatTable(['feature', 'min', 'max', 'mean', 'std'], fitted.features.map((f, j) => [f, fitted.min[j]!.toFixed(4), fitted.max[j]!.toFixed(4), fitted.mean[j]!.toFixed(4), fitted.std[j]!.toFixed(4)])));
      }
    });

  profile
    .command('check')
    .description('check DATA rows against a profile offline; exit 1 when any row is out of distribution')
    .argument('<profile>', 'profile.json written by `warden detect profile fit`')
    .argument('<data>', 'rows to check (.csv or .json)')
    .option('--range-tolerance <t>', 'slack around the training range as a fraction of it', '0.1')
    .option('--label-column <name>', 'CSV column to ignore (the class label)')
    .option('--format <format>', 'text or json', 'text')
    .action((profilePath: string, data: string, opts: { rangeTolerance: string; labelColumn?: string; format?: string }, cmd: Command) => {
      configFor(cmd);
      const format = parseFormat(opts.format);
      const p = loadProfile(resolve(profilePath));
      const detector = new OodDetector(p, { rangeTolerance: parseNumber(opts.rangeTolerance, '--range-tolerance', 0, 10)!, thresholdScale: 1 });
      const rows = readDataFile(resolve(data), { labelColumn: opts.labelColumn }).rows;
      const results = rows.map((r, i) => ({ row: i + 1, ...detector.check(r) }));
      const ood = results.filter((r) => r.ood).length;
      if (ood > 0) setExitCode(cmd, 1);
      if (format === 'json') printJson({ rows: results.length, ood, results });
      else {
        printText(formatTable(['row', 'distance', 'score', 'range', 'ood'], results.map((r) => [r.row, r.distance.toFixed(3), r.score.toFixed(3), r.rangeViolations, r.ood ? 'OOD' : 'ok'])));
        printText(`${ood} of ${results.length} rows out of distribution`);
      }
    });

  detect
    .command('text')
    .description('scan a text file (or - for stdin) for prompt injection, personal data and secrets; exit 1 on findings')
    .argument('<file>', 'text file or -')
    .option('--threshold <score>', 'injection score threshold (default: detect.injection.threshold)')
    .option('--format <format>', 'text or json', 'text')
    .action((file: string, opts: { threshold?: string; format?: string }, cmd: Command) => {
      const config = configFor(cmd);
      const format = parseFormat(opts.format);
      const threshold = parseNumber(opts.threshold, '--threshold', 0, 1) ?? config.detect.injection.threshold;
      const text = readText(file);
      const injection = scoreInjection(text, config.detect.injection.maxScanChars);
      const findings = findSensitive(text, { entropyBitsPerChar: config.detect.secrets.entropyBitsPerChar, minTokenLength: config.detect.secrets.minTokenLength });
      // Offsets and kinds only: the report must not repeat the sensitive values it found.
      const report = {
        injection: { score: injection.score, kinds: injection.kinds, flagged: injection.score >= threshold },
        findings: findings.map((f) => ({ kind: f.kind, category: f.category, start: f.start, end: f.end })),
      };
      if (report.injection.flagged || findings.length > 0) setExitCode(cmd, 1);
      if (format === 'json') printJson(report);
      else {
        printText(`injection score ${injection.score.toFixed(2)}${report.injection.flagged ? ' (FLAGGED)' : ''}${injection.kinds.length ? ': ' + injection.kinds.join(', ') : ''}`);
        if (findings.length) printText(formatTable(['kind', 'category', 'offset'], findings.map((f) => [f.kind, f.category, `${f.start}-${f.end}`])));
        else printText('no personal data or secrets found');
      }
    });
}
