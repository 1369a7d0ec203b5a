import type { Command } from 'commander';

export function registerScanCommand(program: Command): void {
  void program;
}
