import type { Command } from 'commander';

export function registerDetectCommands(program: Command): void {
  void program;
}
