import type { Command } from 'commander';

export function registerIncidentCommands(program: Command): void {
  void program;
}
