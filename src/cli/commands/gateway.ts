import type { Command } from 'commander';
import { hostname } from 'node:os';
import { WardenError } from '../../errors/index.js';
import { createLogger, redactUrl } from '../../observe/index.js';
import { startEdgeGateway, readCaBundle, requireServerSecret } from '../../server/index.js';
import { configFor } from '../context.js';
import { untilShutdown } from '../shutdown.js';
import { startSidecarFromConfig } from '../../gateway/sidecar/index.js';

/** Sidecar PEP: SVID files from `warden agent`, revocation stream, segmentation from identity.sidecar. */
async function runSidecar(cmd: Command, opts: GatewayOptions): Promise<void> {
  const config = configFor(cmd);
  const logger = createLogger({ level: config.log.level, name: 'warden-sidecar' });
  const sidecar = await startSidecarFromConfig({
    config,
    serverUrl: opts.controlPlane ?? process.env.WARDEN_CONTROL_PLANE_URL,
    onFeedEvent: (event, detail) => logger.info({ event, detail: detail instanceof Error ? detail.message : detail }, 'revocation stream'),
  });
  if (opts.readyJson) process.stdout.write(JSON.stringify({ url: sidecar.url, outboundUrl: sidecar.outboundUrl }) + '\n');
  else process.stdout.write(`Warden sidecar listening on ${sidecar.url}${sidecar.outboundUrl ? ` (outbound ${sidecar.outboundUrl})` : ''}\n`);
  await untilShutdown(logger, () => sidecar.close());
}

interface GatewayOptions {
  mode: string;
  controlPlane?: string;
  token?: string;
  ca?: string;
  name?: string;
  port?: string;
  tlsCert?: string;
  tlsKey?: string;
  insecureDev?: boolean;
  readyJson?: boolean;
}

export function registerGatewayCommand(program: Command): void {
  program
    .command('gateway')
    .description('run a stateless gateway (PEP) fed by a control plane: snapshot stream in, audit batches out')
    .option('--mode <mode>', 'edge (clients → models) or sidecar (service ↔ service mTLS + segmentation, see docs/identity.md)', 'edge')
    .option('--control-plane <url>', 'control plane admin API URL (default $WARDEN_CONTROL_PLANE_URL)')
    .option('--token <token>', 'token for the PEP channel (default $WARDEN_PEP_TOKEN or $WARDEN_ADMIN_TOKEN)')
    .option('--ca <file>', 'CA bundle of the control plane (default <data-dir>/bundle.pem)')
    .option('--name <name>', 'PEP name reported to the control plane (default the host name)')
    .option('--port <port>', 'listener port (0 = free port)')
    .option('--tls-cert <file>', 'listener certificate chain (default: issued by the control plane CA)')
    .option('--tls-key <file>', 'listener private key')
    .option('--insecure-dev', 'plain HTTP listener (development only)')
    .option('--ready-json', 'print one JSON line { gatewayUrl, name } once listening')
    .action(async (opts: GatewayOptions, cmd: Command) => {
      if (opts.mode === 'sidecar') return runSidecar(cmd, opts);
      if (opts.mode !== 'edge') throw new WardenError('WARDEN_USAGE', '--mode must be edge or sidecar');
      const port = opts.port === undefined ? undefined : Number(opts.port);
      if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new WardenError('WARDEN_USAGE', '--port must be 0-65535');
      const config = configFor(cmd, { 'gateway.port': port, 'gateway.insecureDev': opts.insecureDev ? true : undefined });
      const controlPlaneUrl = (opts.controlPlane ?? process.env.WARDEN_CONTROL_PLANE_URL ?? '').replace(/\/$/, '');
      if (!controlPlaneUrl) throw new WardenError('WARDEN_USAGE', 'pass --control-plane https://host:7443 (or set WARDEN_CONTROL_PLANE_URL)');
      const token = opts.token ?? process.env.WARDEN_PEP_TOKEN ?? process.env.WARDEN_ADMIN_TOKEN;
      if (!token) throw new WardenError('WARDEN_AUTHN_ADMIN_REQUIRED', 'pass --token or set WARDEN_PEP_TOKEN');
      const name = opts.name ?? hostname().replace(/[^A-Za-z0-9._:-]/g, '-').slice(0, 64);
      const logger = createLogger({ level: config.log.level, name: `warden-gateway:${name}` });
      const running = await startEdgeGateway({
        config,
        logger,
        controlPlaneUrl,
        token,
        caPem: readCaBundle(config.dataDir, opts.ca),
        name,
        serverSecret: requireServerSecret(config.dataDir),
        tlsCertFile: opts.tlsCert,
        tlsKeyFile: opts.tlsKey,
      });
      if (opts.readyJson) process.stdout.write(JSON.stringify({ gatewayUrl: running.url, name }) + '\n');
      else process.stdout.write(`Warden gateway ${name} listening on ${running.url} (control plane ${redactUrl(controlPlaneUrl)})\n`);
      await untilShutdown(logger, () => running.close());
    });
}
