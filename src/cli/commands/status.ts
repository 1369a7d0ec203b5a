import type { Command } from 'commander';

export function registerStatusCommand(program: Command): void {
  void program;
}
