import type { Command } from 'commander';

export function registerArtifactCommands(program: Command): void {
  void program;
}
