import type { Command } from 'commander';
import type { AdminTokenInfo } from '../../store/index.js';
import { withAdminClient, withAdminOptions } from '../adminClient.js';
import { formatTable, parseFormat, printJson, printText } from '../output.js';

/**
 * `warden pep-token`: least-privilege tokens for remote gateways (`warden gateway --token`). A PEP
 * token reaches only the PEP channel (snapshot stream, status, audit batches, detector alarms,
 * its own gateway SVID); every other admin route answers 403 WARDEN_AUTHN_PEP_TOKEN_SCOPE.
 */
export function registerPepTokenCommands(program: Command): void {
  const tokens = withAdminOptions(program.command('pep-token').description('manage the tokens remote gateways use on the PEP channel (through the running control plane)'));

  tokens
    .command('create')
    .description('create a PEP token; printed once and stored only as a hash')
    .requiredOption('--name <name>', 'label, e.g. the gateway name (A-Z a-z 0-9 . _ : -)')
    .option('--format <format>', 'text|json', 'text')
    .action(async (opts: { name: string; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const r = await withAdminClient(cmd, (client) => client.call<{ id: string; name: string; token: string }>('POST', '/api/v1/pep/tokens', { name: opts.name }));
      if (format === 'json') printJson(r);
      else printText(`created ${r.id} (${r.name})\ntoken (shown once; pass as WARDEN_PEP_TOKEN): ${r.token}`);
    });

  tokens
    .command('list')
    .description('list PEP tokens (never the tokens themselves)')
    .option('--format <format>', 'text|json', 'text')
    .action(async (opts: { format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const r = await withAdminClient(cmd, (client) => client.call<{ tokens: AdminTokenInfo[] }>('GET', '/api/v1/pep/tokens'));
      if (format === 'json') printJson(r);
      else printText(formatTable(['ID', 'NAME', 'CREATED', 'STATUS'], r.tokens.map((t) => [t.id, t.name, String(t.createdAt), t.revokedAt ? 'revoked' : 'active'])));
    });

  tokens
    .command('revoke <id>')
    .description('revoke a PEP token: the gateway using it loses its snapshot stream and fails closed at the snapshot TTL')
    .option('--format <format>', 'text|json', 'text')
    .action(async (id: string, opts: { format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const r = await withAdminClient(cmd, (client) => client.call<{ id: string; revoked: boolean }>('POST', `/api/v1/pep/tokens/${encodeURIComponent(id)}/revoke`));
      if (format === 'json') printJson(r);
      else printText(`revoked ${r.id}`);
    });
}
