import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { configFor } from '../context.js';
import { WardenError } from '../../errors/index.js';
import { createLogger } from '../../observe/index.js';
import { WorkloadAgent, serveWorkloadApi } from '../../identity/index.js';

interface AgentOptions {
  server?: string;
  joinToken?: string;
  joinTokenFile?: string;
  k8sTokenFile?: string;
  spiffeId?: string;
  out: string;
  socket?: string;
  caFile?: string;
  ttl?: string;
  readyJson?: boolean;
}

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('Workload agent: attest, hold the key, keep a fresh X.509-SVID in files and on a Unix socket')
    .option('--server <url>', 'control plane URL (default: <data-dir>/server.json, then the config)')
    .option('--join-token <token>', 'one-time join token (prefer WARDEN_JOIN_TOKEN or --join-token-file: argv is visible to other users)')
    .option('--join-token-file <file>', 'read the join token from a file')
    .option('--k8s-token-file <file>', 'projected Kubernetes service-account token')
    .option('--spiffe-id <id>', 'choose among several matching registration entries')
    .option('--out <dir>', 'directory for svid.pem, svid.key (0600) and bundle.pem', 'svid')
    .option('--socket <path>', 'serve the Workload API on this Unix socket (mode 0600)')
    .option('--ca-file <file>', 'trust bundle to authenticate the control plane (default <data-dir>/bundle.pem)')
    .option('--ttl <seconds>', 'requested SVID lifetime (at most identity.svidTtlSeconds, or the registration entry\'s ttl)')
    .option('--ready-json', 'print one JSON line on stdout once the first SVID is held')
    .action(async (opts: AgentOptions, cmd: Command) => {
      const config = configFor(cmd);
      const log = createLogger({ name: 'warden-agent' });
      let serverUrl = opts.server ?? process.env.WARDEN_ADMIN_URL;
      const serverFile = join(config.dataDir, 'server.json');
      if (!serverUrl && existsSync(serverFile)) {
        try {
          serverUrl = (JSON.parse(readFileSync(serverFile, 'utf8')) as { adminUrl?: string }).adminUrl;
        } catch {
          /* fall back to the config */
        }
      }
      serverUrl ??= `https://${config.server.host}:${config.server.port}`;
      const caFile = opts.caFile ?? join(config.dataDir, 'bundle.pem');
      if (!existsSync(caFile)) throw new WardenError('WARDEN_USAGE', `no trust bundle at ${caFile}; pass --ca-file (the control plane's bundle.pem)`);
      let joinToken = opts.joinToken ?? process.env.WARDEN_JOIN_TOKEN;
      if (opts.joinTokenFile) joinToken = readJoinTokenFile(opts.joinTokenFile);
      const ttl = opts.ttl === undefined ? undefined : Number(opts.ttl);
      if (ttl !== undefined && (!Number.isInteger(ttl) || ttl <= 0)) throw new WardenError('WARDEN_USAGE', '--ttl must be a positive integer');

      const agent = new WorkloadAgent({
        serverUrl,
        bundlePem: readFileSync(caFile, 'utf8'),
        joinToken,
        k8sTokenFile: opts.k8sTokenFile,
        spiffeId: opts.spiffeId,
        outDir: opts.out,
        ttlSeconds: ttl,
        log: (level, msg, fields) => log[level](fields ?? {}, msg),
      });
      agent.on('rotated', (s: { spiffeId: string; serial: string; notAfter: Date }) => log.info({ spiffeId: s.spiffeId, serial: s.serial, notAfter: s.notAfter.toISOString() }, 'SVID rotated'));
      const svid = await agent.start();
      const api = opts.socket ? await serveWorkloadApi(agent, opts.socket) : null;
      if (opts.readyJson) process.stdout.write(JSON.stringify({ spiffeId: svid.spiffeId, serial: svid.serial, notAfter: svid.notAfter.toISOString(), outDir: opts.out, socket: opts.socket ?? null }) + '\n');
      else log.info({ spiffeId: svid.spiffeId, outDir: opts.out, socket: opts.socket }, 'agent ready');
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await api?.close();
      await agent.stop();
    });
}

/** The token file a user named on the command line: a missing or unreadable one is a usage error. */
function readJoinTokenFile(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (cause) {
    throw new WardenError('WARDEN_USAGE', `cannot read --join-token-file ${path} (${(cause as NodeJS.ErrnoException).code ?? 'error'})`, { cause });
  }
}
