import { resolve } from 'node:path';
import type { Command } from 'commander';
import { WardenError } from '../../errors/index.js';
import { createLogger } from '../../observe/index.js';
import { saveIrisModel, startDemoModelServer, trainIrisClassifier } from '../../demo/index.js';
import { configFor } from '../context.js';
import { parseFormat, printJson, printText } from '../output.js';
import { untilShutdown } from '../shutdown.js';

function intOption(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new WardenError('WARDEN_USAGE', `${flag} must be an integer ${min}-${max}`);
  return n;
}

/**
 * `warden demo train|serve`: the demo iris classifier as files on disk and as a standalone model
 * server, to walk through signing, promotion and gateway admission with a model you can tamper with.
 */
export function registerDemoCommands(program: Command): void {
  const demo = program.command('demo').description('demo model files and a standalone demo model server (for admission walkthroughs and tests)');

  demo
    .command('train')
    .description('train the iris classifier and save it as a model directory (model.json)')
    .requiredOption('--out <dir>', 'model directory to write')
    .option('--epochs <n>', 'training epochs (different epochs = a different model version)', '600')
    .option('--format <format>', 'text|json', 'text')
    .action((opts: { out: string; epochs: string; format: string }) => {
      const format = parseFormat(opts.format);
      const trained = trainIrisClassifier({ epochs: intOption(opts.epochs, '--epochs', 1, 100_000) });
      saveIrisModel(opts.out, trained.params);
      const out = { dir: resolve(opts.out), trainingAccuracy: trained.trainingAccuracy };
      if (format === 'json') printJson(out);
      else printText(`saved iris model to ${out.dir} (training accuracy ${(out.trainingAccuracy * 100).toFixed(1)}%)`);
    });

  demo
    .command('serve')
    .description('serve the demo models over plain HTTP on loopback; with --model-dir, iris comes from that directory and reports its manifest digest (x-warden-model-digest)')
    .option('--model-dir <dir>', 'iris model directory (warden demo train); loaded once at start')
    .option('--port <port>', 'port (0 = pick a free one)', '0')
    .option('--ready-json', 'print one JSON line { url, irisDigest } once listening')
    .action(async (opts: { modelDir?: string; port: string; readyJson?: boolean }, cmd: Command) => {
      const config = configFor(cmd);
      const logger = createLogger({ level: config.log.level });
      const server = await startDemoModelServer({ port: intOption(opts.port, '--port', 0, 65535), ...(opts.modelDir ? { irisModelDir: opts.modelDir } : {}) });
      const ready = { url: server.url, irisDigest: server.irisDigest };
      if (opts.readyJson) process.stdout.write(JSON.stringify(ready) + '\n');
      else printText(`demo model server on ${server.url}${server.irisDigest ? ` (iris sha256:${server.irisDigest})` : ''}\nPress Ctrl-C to stop.`);
      await untilShutdown(logger, () => server.close());
    });
}
