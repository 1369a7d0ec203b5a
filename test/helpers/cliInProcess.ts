/**
 * Runs the CLI's main() in this process with stdout/stderr captured and `env` set for the call
 * (one call at a time): the same code path as the binary without a TypeScript process start per
 * command.
 */
export async function cliInProcess(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { main } = await import('../../src/cli/main.js');
  const saved = { out: process.stdout.write, err: process.stderr.write, env: { ...process.env } };
  let stdout = '';
  let stderr = '';
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += chunk.toString()), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += chunk.toString()), true)) as typeof process.stderr.write;
  Object.assign(process.env, env);
  try {
    return { code: await main(args), stdout, stderr };
  } finally {
    process.stdout.write = saved.out;
    process.stderr.write = saved.err;
    for (const k of Object.keys(env)) if (saved.env[k] === undefined) delete process.env[k];
  }
}
