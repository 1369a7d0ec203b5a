import type { Command } from 'commander';

export function registerGatewayCommand(program: Command): void {
  void program;
}
