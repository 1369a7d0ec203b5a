import type { Command } from 'commander';
import { withAdminClient } from '../adminClient.js';
import { parseFormat, printJson, printText } from '../output.js';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('show the running control plane: store, snapshot version, gateway, audit queue')
    .option('--server <url>', 'admin API URL (default from <data-dir>/server.json)')
    .option('--token <token>', 'admin token (default $WARDEN_ADMIN_TOKEN)')
    .option('--format <format>', 'text|json', 'text')
    .action(async (opts: { server?: string; token?: string; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const s = await withAdminClient(cmd, (client) => client.call<Record<string, unknown>>('GET', '/api/v1/status'));
      if (format === 'json') printJson(s);
      else printText(Object.entries(s).map(([k, v]) => `${k.padEnd(16)} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('\n'));
    });
}
