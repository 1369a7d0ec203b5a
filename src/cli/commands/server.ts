import type { Command } from 'commander';
import { WardenError } from '../../errors/index.js';
import { createLogger } from '../../observe/index.js';
import { startWarden } from '../../server/index.js';
import { configFor } from '../context.js';
import { watchShutdownSignals, writeStdout } from '../shutdown.js';

export function registerServerCommand(program: Command): void {
  program
    .command('server')
    .description('run the control plane alone (PostgreSQL via WARDEN_DATABASE_URL for scale-out); gateways connect with `warden gateway`')
    .option('--port-admin <port>', 'admin API port (default 7443; 0 = free port)')
    .option('--ready-json', 'print one JSON line with URLs and first-start credentials once listening')
    .action(async (opts: { portAdmin?: string; readyJson?: boolean }, cmd: Command) => {
      const port = opts.portAdmin === undefined ? undefined : Number(opts.portAdmin);
      if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new WardenError('WARDEN_USAGE', '--port-admin must be 0-65535');
      const config = configFor(cmd, { 'server.port': port });
      const logger = createLogger({ level: config.log.level });
      // Before the start, as in `warden up`: a signal during it shuts down cleanly.
      const signals = watchShutdownSignals();
      const warden = await startWarden({ config, logger, demo: false, gateway: false });
      if (signals.requested) {
        await signals.until(logger, () => warden.close());
        return;
      }
      if (opts.readyJson) await writeStdout(JSON.stringify(warden.ready) + '\n');
      else {
        let text = `Warden control plane on ${warden.ready.adminUrl} (store: ${warden.db.kind}, CA bundle ${warden.ready.caBundle})\n`;
        if (warden.ready.adminToken) text += `admin token (shown once, store it now): ${warden.ready.adminToken}\n`;
        else if (warden.credentialsPrintedByAnotherReplica) text += 'admin token: printed by another replica that started on this database at the same time (see its output)\n';
        await writeStdout(text);
      }
      await warden.credentialsShown();
      await signals.until(logger, () => warden.close());
    });
}
