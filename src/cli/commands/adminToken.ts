import type { Command } from 'commander';
import { WardenError } from '../../errors/index.js';
import { mintAdminTokenOffline } from '../../server/index.js';
import { configFor } from '../context.js';
import { parseFormat, printJson, printText } from '../output.js';

const NAME = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * `warden admin-token create`: mints an admin token straight from the data dir (or the configured
 * PostgreSQL) while Warden is stopped, for when no admin token is known.
 */
export function registerAdminTokenCommands(program: Command): void {
  const tokens = program.command('admin-token').description('recover admin access from the data dir (offline: Warden must be stopped)');
  tokens
    .command('create')
    .description('mint a new admin token; printed once, stored only as a hash, audited as admin.token.create')
    .option('--name <name>', 'label (A-Z a-z 0-9 . _ : -)', 'recovery')
    .option('--control-plane-stopped', 'PostgreSQL only: confirm that no `warden server` uses the database (required there)')
    .option('--format <format>', 'text|json', 'text')
    .action(async (opts: { name: string; format: string; controlPlaneStopped?: boolean }, cmd: Command) => {
      const format = parseFormat(opts.format);
      if (!NAME.test(opts.name)) throw new WardenError('WARDEN_USAGE', '--name must be 1-64 characters of A-Z a-z 0-9 . _ : -');
      const minted = await mintAdminTokenOffline(configFor(cmd), opts.name, { controlPlaneStopped: opts.controlPlaneStopped === true });
      if (format === 'json') printJson(minted);
      else printText(`created ${minted.id} (${minted.name})\nadmin token (shown once, store it now; pass as WARDEN_ADMIN_TOKEN): ${minted.token}`);
    });
}
