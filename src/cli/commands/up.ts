import type { Command } from 'commander';

export function registerUpCommand(program: Command): void {
  void program;
}
