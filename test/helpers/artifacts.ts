import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { runCli, wardenBin, wardenClient, irisInferBody, type HttpResult, type WardenProcess } from './warden.js';

/**
 * Registering and promoting signed artifacts through the real CLI against a running `warden up`,
 * and a real model server process serving an iris model directory from disk (shared by the
 * admission and poisoned-dataset e2e tests).
 */

/** The approver the tests configure (`artifacts.promotion.approvers`). */
export const APPROVER = 'User::"alice"';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `warden --data-dir D …` as the operator of that Warden (admin token from the first start). */
export function artifactCli(warden: WardenProcess): (args: string[]) => Promise<CliResult> {
  const env = { WARDEN_ADMIN_TOKEN: warden.ready.adminToken ?? '' };
  return (args) => runCli(['--data-dir', warden.dataDir, ...args], { env });
}

/** Runs a CLI command that must succeed; parses stdout as JSON when it asked for `--format json`. */
export async function cliOk<T = unknown>(cli: (args: string[]) => Promise<CliResult>, args: string[]): Promise<T> {
  const r = await cli(args);
  if (r.code !== 0) throw new Error(`warden ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return (args.includes('json') ? JSON.parse(r.stdout) : r.stdout) as T;
}

/** Runs a CLI command that must fail; returns the `WARDEN_…` code of its one stderr line. */
export async function cliFails(cli: (args: string[]) => Promise<CliResult>, args: string[]): Promise<{ code: number | null; errorCode: string | null; stderr: string }> {
  const r = await cli(args);
  if (r.code === 0) throw new Error(`warden ${args.join(' ')} succeeded but should have failed: ${r.stdout.trim()}`);
  return { code: r.code, errorCode: /\b(WARDEN_[A-Z0-9_]+)/.exec(r.stderr)?.[1] ?? null, stderr: r.stderr };
}

/** Trains the demo iris classifier into a model directory with the real CLI (epochs pick the version's weights). */
export async function trainIrisModel(dir: string, epochs: number): Promise<void> {
  const r = await runCli(['demo', 'train', '--out', dir, '--epochs', String(epochs), '--format', 'json']);
  if (r.code !== 0) throw new Error(`warden demo train failed: ${r.stderr}`);
}

/** The manifest root digest `warden artifact hash` computes for a directory. */
export async function rootDigestOf(dir: string, kind: 'model' | 'dataset' = 'model'): Promise<string> {
  const r = await runCli(['artifact', 'hash', dir, '--kind', kind]);
  if (r.code !== 0) throw new Error(`warden artifact hash failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { predicate: { warden: { rootDigest: string } } }).predicate.warden.rootDigest;
}

export interface RegisterModelOptions {
  dir: string;
  name: string;
  version: string;
  /** Training lineage: run id and input datasets NAME@VERSION. */
  run?: string;
  inputs?: string[];
  /** How far to take it (default approved). */
  stage?: 'candidate' | 'approved' | 'serving';
}

/** add (signed manifest + signed scan) → approve by APPROVER → promote, all through the CLI. */
export async function registerModel(cli: (args: string[]) => Promise<CliResult>, o: RegisterModelOptions): Promise<{ digest: string }> {
  const ref = `${o.name}@${o.version}`;
  const lineage = [...(o.run ? ['--run', o.run] : []), ...(o.inputs?.length ? ['--input', ...o.inputs] : [])];
  const added = await cliOk<{ version: { digest: string } }>(cli, ['artifact', 'add', o.dir, '--name', o.name, '--version', o.version, '--scan', ...lineage, '--format', 'json']);
  const stage = o.stage ?? 'approved';
  if (stage !== 'candidate') {
    await cliOk(cli, ['artifact', 'approve', ref, '--principal', APPROVER, '--comment', 'e2e', '--format', 'json']);
    await cliOk(cli, ['artifact', 'promote', ref, '--to', 'approved', '--format', 'json']);
    if (stage === 'serving') await cliOk(cli, ['artifact', 'promote', ref, '--to', 'serving', '--format', 'json']);
  }
  return { digest: added.version.digest };
}

/** Registers a dataset version (signed manifest with per-row Merkle roots) through the CLI. */
export async function registerDataset(cli: (args: string[]) => Promise<CliResult>, dir: string, name: string, version: string): Promise<{ digest: string }> {
  const r = await cliOk<{ version: { digest: string } }>(cli, ['artifact', 'add', dir, '--kind', 'dataset', '--name', name, '--version', version, '--format', 'json']);
  return { digest: r.version.digest };
}

/** Writes a small CSV dataset directory. */
export function writeDataset(dir: string, rows: string[]): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'train.csv'), ['sepal_length,sepal_width,petal_length,petal_width,label', ...rows].join('\n') + '\n');
}

/** Copies a model version's files into the directory the model server loads ("deploys" it). */
export function deployModelFiles(from: string, servedDir: string): void {
  rmSync(servedDir, { recursive: true, force: true });
  cpSync(from, servedDir, { recursive: true });
}

/** Changes one digit of a weight in model.json: still a loadable model, different bytes. */
export function tamperModelFile(dir: string): void {
  const file = join(dir, 'model.json');
  const text = readFileSync(file, 'utf8');
  const i = text.indexOf('"weights"');
  const j = text.slice(i).search(/[1-8]/) + i;
  writeFileSync(file, text.slice(0, j) + String(Number(text[j]) + 1) + text.slice(j + 1));
}

export interface ModelServerProcess {
  url: string;
  port: number;
  /** Manifest root digest of what it loaded (what it reports in x-warden-model-digest). */
  digest: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** `warden demo serve --model-dir D --ready-json` as its own process (same port across restarts when given). */
export async function startModelServer(modelDir: string, port = 0, timeoutMs = 60_000): Promise<ModelServerProcess> {
  const proc = spawn(process.execPath, [wardenBin, 'demo', 'serve', '--model-dir', modelDir, '--port', String(port), '--ready-json'], { env: { ...process.env, WARDEN_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const ready = await new Promise<{ url: string; irisDigest: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`model server not ready; stderr: ${stderr}`)), timeoutMs);
    createInterface({ input: proc.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line) as { url: string; irisDigest: string });
      } catch (e) {
        reject(new Error(`model server printed ${line}`, { cause: e }));
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`model server exited ${code}; stderr: ${stderr}`));
    });
  });
  return {
    url: ready.url,
    port: Number(new URL(ready.url).port),
    digest: ready.irisDigest,
    proc,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Restarts the model server on the same port, e.g. after new files were deployed (a model server reload). */
export async function restartModelServer(server: ModelServerProcess, modelDir: string): Promise<ModelServerProcess> {
  await server.stop();
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await startModelServer(modelDir, server.port);
    } catch (err) {
      // The port may linger for a moment after the old process exits.
      if (Date.now() > deadline || !/EADDRINUSE/.test(String((err as Error).message))) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** One iris inference through the gateway with the demo key. */
export async function inferIris(warden: WardenProcess, path = '/v2/models/iris/infer'): Promise<HttpResult> {
  const c = wardenClient(warden.ready.caBundle);
  try {
    return await c.call('POST', warden.ready.gatewayUrl + path, { headers: { authorization: `Bearer ${warden.ready.demoKey}`, 'content-type': 'application/json' }, body: irisInferBody([[5.1, 3.5, 1.4, 0.2]]) });
  } finally {
    await c.close();
  }
}

export function errorCodeOf(r: HttpResult): string | null {
  return (r.json as { error?: { code?: string } } | undefined)?.error?.code ?? null;
}

/**
 * Polls the gateway until `accept` holds (the new snapshot reaches the gateway asynchronously,
 * and a restarted model server takes a moment); returns the last answer either way.
 */
export async function inferUntil(warden: WardenProcess, accept: (r: HttpResult) => boolean, timeoutMs = 15_000, path?: string): Promise<HttpResult> {
  const deadline = Date.now() + timeoutMs;
  let r = await inferIris(warden, path);
  while (!accept(r) && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 100));
    r = await inferIris(warden, path);
  }
  return r;
}

/** The YAML for a `warden up --demo` whose iris is served by `modelServerUrl` and approved by APPROVER. */
export function admissionConfigYaml(modelServerUrl: string): string {
  return [
    'artifacts:',
    '  promotion:',
    `    approvers: ['${APPROVER}']`,
    'gateway:',
    '  upstreams:',
    '    - name: iris-from-files',
    `      url: ${modelServerUrl}`,
    '      models: [iris]',
    '      timeoutMs: 30000',
    '',
  ].join('\n');
}
