import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

const runner = fileURLToPath(new URL('./runCli.ts', import.meta.url));

export function runWarden(args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', runner, ...args], {
    encoding: 'utf8',
    env: { ...process.env, WARDEN_LOG_LEVEL: 'silent', ...env },
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
