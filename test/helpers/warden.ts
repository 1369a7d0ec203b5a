import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Agent, request } from 'undici';

export const repoRoot = resolve(import.meta.dirname, '../..');
export const wardenBin = join(repoRoot, 'bin', 'warden.js');

export interface ReadyInfo {
  gatewayUrl: string;
  adminUrl: string;
  caBundle: string;
  adminToken: string | null;
  demoKey: string | null;
}

export interface WardenProcess {
  ready: ReadyInfo;
  proc: ChildProcess;
  dataDir: string;
  stderr: () => string;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(): Promise<number | null>;
}

export function tempDataDir(prefix = 'warden-e2e-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Starts `warden up --ready-json` (built CLI, real process) and waits for its JSON line. */
export async function startWardenProcess(options: { dataDir?: string; args?: string[]; env?: Record<string, string>; configYaml?: string; timeoutMs?: number } = {}): Promise<WardenProcess> {
  const dataDir = options.dataDir ?? tempDataDir();
  const args = [wardenBin, '--data-dir', dataDir];
  if (options.configYaml) {
    const file = join(dataDir, 'warden.test.yaml');
    writeFileSync(file, options.configYaml);
    args.push('--config', file);
  }
  args.push('up', '--ready-json', '--port-gateway', '0', '--port-admin', '0', ...(options.args ?? ['--demo']));
  const proc = spawn(process.execPath, args, { cwd: dataDir, env: { ...process.env, WARDEN_LOG_LEVEL: 'warn', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const ready = await new Promise<ReadyInfo>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`warden up not ready in time; stderr:\n${stderr}`)), options.timeoutMs ?? 180_000);
    const rl = createInterface({ input: proc.stdout! });
    rl.once('line', (line) => {
      clearTimeout(timer);
      try {
        resolveReady(JSON.parse(line) as ReadyInfo);
      } catch (e) {
        reject(new Error(`first stdout line is not JSON: ${line}`, { cause: e }));
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`warden up exited with ${code}; stderr:\n${stderr}`));
    });
  });
  return {
    ready,
    proc,
    dataDir,
    stderr: () => stderr,
    async stop() {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
}

/** HTTPS client that trusts only Warden's CA bundle. */
export function wardenClient(caBundlePath: string): { call(method: string, url: string, options?: { headers?: Record<string, string>; body?: string | Buffer }): Promise<HttpResult>; close(): Promise<void> } {
  const agent = new Agent({ connect: { ca: readFileSync(caBundlePath, 'utf8') } });
  return {
    async call(method, url, options = {}) {
      const res = await request(url, { method: method as 'GET', headers: options.headers, body: options.body, dispatcher: agent });
      const text = await res.body.text();
      let json: unknown = undefined;
      try {
        json = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      return { status: res.statusCode, headers: res.headers, text, json };
    },
    close: () => agent.close(),
  };
}

/** Runs the built CLI and captures its output. */
export async function runCli(args: string[], options: { env?: Record<string, string>; cwd?: string; input?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [wardenBin, ...args], { cwd: options.cwd ?? repoRoot, env: { ...process.env, WARDEN_LOG_LEVEL: 'warn', ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  proc.stdin.end(options.input ?? '');
  const code = await new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  return { code, stdout, stderr };
}

export const irisInferBody = (rows: number[][]): string =>
  JSON.stringify({ inputs: [{ name: 'input-0', shape: [rows.length, 4], datatype: 'FP32', data: rows.flat() }] });
