import type { Command } from 'commander';
import { loadConfig, type LoadedConfig } from '../config/index.js';
import { assertDataDir } from '../crypto/index.js';

/** Options every command accepts (declared once on the root program). */
export interface GlobalOptions {
  dataDir?: string;
  config?: string;
}

export function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

/**
 * The configuration a command runs with. An existing data directory is checked here, before any
 * command reads a key from it or writes state into it (another user's, or a writable one, is refused).
 */
export function configFor(cmd: Command, overrides: Record<string, unknown> = {}): LoadedConfig {
  const g = globalOptions(cmd);
  const config = loadConfig({ dataDir: g.dataDir, configPath: g.config, overrides });
  assertDataDir(config.dataDir);
  return config;
}

/** Exit code a command action returns: 0 ok, 1 policy failure / findings. Errors become 2 in main. */
export type ExitCode = 0 | 1 | 2;

const exitCodes = new WeakMap<Command, 0 | 1>();

/** Lets an action report exit code 1 (findings / policy failure) without throwing. */
export function setExitCode(cmd: Command, code: 0 | 1): void {
  exitCodes.set(cmd, code);
}

export function exitCodeOf(cmd: Command): 0 | 1 | undefined {
  return exitCodes.get(cmd);
}
