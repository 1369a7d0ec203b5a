import type { Command } from 'commander';
import { WardenError } from '../../errors/index.js';
import { createLogger } from '../../observe/index.js';
import { startWarden } from '../../server/index.js';
import { configFor } from '../context.js';
import { watchShutdownSignals, writeStdout } from '../shutdown.js';

function parsePort(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new WardenError('WARDEN_USAGE', `${flag} must be a port number 0-65535 (0 = pick a free port)`);
  return n;
}

export function registerUpCommand(program: Command): void {
  program
    .command('up')
    .description('run the control plane and the gateway in one process on embedded storage')
    .option('--demo', 'also start a demo model server (iris classifier over OIP v2, echo LLM over OpenAI API) and a demo API key')
    .option('--ready-json', 'print one JSON line with URLs and first-start credentials once every listener accepts requests')
    .option('--port-gateway <port>', 'gateway port (default 8443; 0 = free port)')
    .option('--port-admin <port>', 'admin API port (default 7443; 0 = free port)')
    .option('--insecure-dev', 'serve the gateway over plain HTTP (development only)')
    .action(async (opts: { demo?: boolean; readyJson?: boolean; portGateway?: string; portAdmin?: string; insecureDev?: boolean }, cmd: Command) => {
      const config = configFor(cmd, {
        'gateway.port': opts.portGateway !== undefined ? parsePort(opts.portGateway, '--port-gateway') : undefined,
        'server.port': opts.portAdmin !== undefined ? parsePort(opts.portAdmin, '--port-admin') : undefined,
        'gateway.insecureDev': opts.insecureDev ? true : undefined,
      });
      const logger = createLogger({ level: config.log.level });
      // Before the start: Ctrl-C during it must shut down cleanly, not kill the process mid-write.
      const signals = watchShutdownSignals();
      const warden = await startWarden({ config, logger, demo: opts.demo === true });
      const { ready } = warden;
      if (signals.requested) {
        // Stopped before ready: nothing printed, so the next start mints the one-time credentials again.
        await signals.until(logger, () => warden.close());
        return;
      }
      if (opts.readyJson) {
        await writeStdout(JSON.stringify(ready) + '\n');
      } else {
        const lines = [
          'Warden is up.',
          `  gateway    ${ready.gatewayUrl}`,
          `  admin API  ${ready.adminUrl}`,
          `  CA bundle  ${ready.caBundle}`,
        ];
        if (ready.adminToken) lines.push('', `  admin token (shown once, store it now): ${ready.adminToken}`);
        else if (warden.credentialsPrintedByAnotherReplica) lines.push('', '  admin token: printed by another replica that started on this database at the same time (see its output)');
        if (ready.demoKey) lines.push(`  demo API key (shown once, store it now):  ${ready.demoKey}`);
        if (warden.demo) lines.push('', `  demo models: iris (OIP v2), echo (OpenAI chat). Try:`, `    curl --cacert ${ready.caBundle} -H "Authorization: Bearer $WARDEN_DEMO_KEY" ${ready.gatewayUrl}/v2/models/iris/infer -d '{"inputs":[{"name":"input-0","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}'`);
        lines.push('', 'Press Ctrl-C to stop.');
        await writeStdout(lines.join('\n') + '\n');
      }
      await warden.credentialsShown();
      await signals.until(logger, () => warden.close());
    });
}
