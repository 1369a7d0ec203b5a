import type { Command } from 'commander';

export function registerIdentityCommands(program: Command): void {
  void program;
}
