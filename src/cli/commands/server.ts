import type { Command } from 'commander';

export function registerServerCommand(program: Command): void {
  void program;
}
