import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

export const inCi = process.env.CI === 'true';

/**
 * For tests that need an external program or server: in CI a missing one is a failure,
 * locally the test is skipped with a clear message.
 */
export function requireOrSkip(t: TestContext, available: boolean, what: string): boolean {
  if (available) return true;
  if (inCi) throw new Error(`${what} is required in CI (CI=true) but was not found`);
  t.skip(`${what} not available locally; skipped (it runs in CI)`);
  return false;
}

export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}
