import type { Command } from 'commander';
import type { PrincipalBlock } from '../../store/index.js';
import { withAdminClient, withAdminOptions } from '../adminClient.js';
import { formatTable, parseFormat, printJson, printText } from '../output.js';
import { parseDuration } from './keys.js';

/** Blocks as the admin API's JSON gives them (dates are strings there). */
type BlockJson = Omit<PrincipalBlock, 'blockedAt' | 'expiresAt'> & { blockedAt: string; expiresAt: string | null };

export function registerPrincipalsCommands(program: Command): void {
  const principals = withAdminOptions(program.command('principals').description('block and unblock principals at every gateway, whatever credential they present'));

  principals
    .command('block <principal>')
    .description('refuse a principal (e.g. User::"mallory") at every gateway with 403 WARDEN_AUTHZ_PRINCIPAL_BLOCKED, cutting off its open answers; its API keys stay as they are')
    .option('--ttl <duration>', 'lift the block by itself after 30m, 12h, 7d... (default: until `principals unblock`)')
    .option('--reason <text>', 'why, for the record')
    .option('--format <format>', 'text|json', 'text')
    .action(async (principal: string, opts: { ttl?: string; reason?: string; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const ttlSeconds = opts.ttl ? parseDuration(opts.ttl) : undefined;
      const r = await withAdminClient(cmd, (client) => client.call<{ block: BlockJson; changed: boolean }>('POST', '/api/v1/principals/block', { principal, ttlSeconds, reason: opts.reason }));
      if (format === 'json') printJson(r);
      else printText(`${r.changed ? 'blocked' : 'already blocked:'} ${r.block.principal} ${r.block.expiresAt ? `until ${r.block.expiresAt}` : 'until unblocked'}`);
    });

  principals
    .command('unblock <principal>')
    .description('lift the block of a principal')
    .option('--format <format>', 'text|json', 'text')
    .action(async (principal: string, opts: { format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const r = await withAdminClient(cmd, (client) => client.call<{ block: BlockJson }>('POST', '/api/v1/principals/unblock', { principal }));
      if (format === 'json') printJson(r);
      else printText(`unblocked ${r.block.principal}`);
    });

  principals
    .command('blocked')
    .description('list the principals blocked now')
    .option('--format <format>', 'text|json', 'text')
    .action(async (opts: { format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const r = await withAdminClient(cmd, (client) => client.call<{ blocks: BlockJson[] }>('GET', '/api/v1/principals/blocked'));
      if (format === 'json') printJson(r);
      else printText(formatTable(['PRINCIPAL', 'BLOCKED AT', 'UNTIL', 'BY', 'INCIDENT', 'REASON'], r.blocks.map((b) => [b.principal, b.blockedAt, b.expiresAt ?? 'unblocked', b.blockedBy, b.incidentId, b.reason])));
    });
}
