import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Starts a process and resolves with its first stdout line (port or ready JSON). */
export async function startAndReadLine(cmd: string, args: string[], options: SpawnOptions = {}, timeoutMs = 120_000): Promise<{ proc: ChildProcess; line: string }> {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], ...options });
  const line = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${cmd} ${args.join(' ')} not ready in ${timeoutMs} ms`)), timeoutMs);
    createInterface({ input: proc.stdout! }).once('line', (l) => {
      clearTimeout(t);
      resolve(l);
    });
    proc.once('exit', (code) => reject(new Error(`${cmd} exited ${code}`)));
  });
  return { proc, line };
}

export async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}
