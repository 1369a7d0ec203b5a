import type { Command } from 'commander';
import { WardenError } from '../../errors/index.js';
import { atOrAbove, isSeverity, renderText, scanPaths, toSarif, worstSeverity, type ScanLimits } from '../../scan/index.js';
import { configFor, setExitCode } from '../context.js';
import { parseFormat, printJson, printText } from '../output.js';

interface ScanCommandOptions {
  format?: string;
  failOn?: string;
  hash?: boolean;
  shardSize?: string;
}

export function registerScanCommand(program: Command): void {
  program
    .command('scan')
    .description('Scan model files (pickle, PyTorch, NumPy, safetensors, GGUF, ONNX, Keras, TensorFlow, archives) for code execution and tampering')
    .argument('<paths...>', 'files or directories to scan')
    .option('--format <format>', 'text | json | sarif', 'text')
    .option('--fail-on <severity>', 'exit 1 when a finding is at or above: critical | high | medium | low | info | none (default from config: high)')
    .option('--no-hash', 'skip the SHA-256 of each file (parsing only)')
    .option('--shard-size <bytes>', 'also report sha256Shards for files larger than this (an artifact manifest\'s shard_size), so the report covers sharded files')
    .action(async (paths: string[], opts: ScanCommandOptions, cmd: Command) => {
      const format = parseFormat(opts.format, ['text', 'json', 'sarif']);
      const config = configFor(cmd).scan;
      const failOn = opts.failOn ?? config.failOn;
      if (failOn !== 'none' && !isSeverity(failOn)) {
        throw new WardenError('WARDEN_SCAN_BAD_SEVERITY', `--fail-on must be one of critical, high, medium, low, info, none (got ${JSON.stringify(failOn)})`);
      }
      const limits: Partial<ScanLimits> = {
        maxDepth: config.maxDepth,
        maxEntries: config.maxEntries,
        maxCompressionRatio: config.maxCompressionRatio,
        maxInflatedBytes: config.maxInflatedBytes,
        maxBufferedBytes: config.maxBufferedBytes,
        maxJsonBytes: config.maxJsonBytes,
      };
      const shardSizeBytes = opts.shardSize === undefined ? undefined : Number(opts.shardSize);
      if (shardSizeBytes !== undefined && !(Number.isSafeInteger(shardSizeBytes) && shardSizeBytes > 0)) throw new WardenError('WARDEN_USAGE', '--shard-size must be a positive integer');
      const report = await scanPaths(paths, { hash: opts.hash !== false && config.hash, limits, ...(shardSizeBytes !== undefined ? { shardSizeBytes } : {}) });
      if (format === 'json') printJson(report);
      else if (format === 'sarif') printJson(toSarif(report));
      else printText(renderText(report));
      const worst = worstSeverity(report);
      if (failOn !== 'none' && worst !== null && atOrAbove(worst, failOn)) setExitCode(cmd, 1);
    });
}
