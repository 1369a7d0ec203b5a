import type { Command } from 'commander';
import { WardenError } from '../../errors/index.js';
import type { ApiKeyRecord } from '../../store/index.js';
import { withAdminClient, withAdminOptions } from '../adminClient.js';
import { formatTable, parseFormat, printJson, printText } from '../output.js';

/** Parses 30s, 15m, 12h, 90d into seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)(s|m|h|d)$/.exec(text.trim());
  if (!m) throw new WardenError('WARDEN_USAGE', `duration ${JSON.stringify(text)} must look like 30s, 15m, 12h or 90d`);
  const n = Number(m[1]);
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
  if (n <= 0) throw new WardenError('WARDEN_USAGE', 'duration must be positive');
  return n * unit;
}

function status(k: ApiKeyRecord, now = Date.now()): string {
  if (k.revokedAt) return 'revoked';
  if (k.expiresAt && new Date(k.expiresAt).getTime() <= now) return 'expired';
  return 'active';
}

/** ISO 8601 to the second in UTC: sortable, and as wide on every row. */
function instant(value: Date | string): string {
  return new Date(value).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The `keys list` table; keys come from the admin API's JSON, so dates are strings there. */
export function formatKeysTable(keys: ApiKeyRecord[], now = Date.now()): string {
  return formatTable(
    ['ID', 'NAME', 'PREFIX', 'PRINCIPAL', 'SCOPES', 'STATUS', 'EXPIRES', 'LAST USED'],
    keys.map((k) => [k.id, k.name, k.prefix, k.principal, k.scopes.join(',') || '-', status(k, now), k.expiresAt ? instant(k.expiresAt) : null, k.lastUsedAt ? instant(k.lastUsedAt) : 'never']),
  );
}

/**
 * `--model iris` and `--model model:iris` both mean the scope `model:iris` (keys list prints
 * scopes, and people paste them back), so a model whose own name starts with `model:` is written
 * as its whole scope: `--model model:model:x`.
 */
export function modelScope(model: string): string {
  return model.startsWith('model:') ? model : `model:${model}`;
}

export function registerKeysCommands(program: Command): void {
  const keys = withAdminOptions(program.command('keys').description('manage API keys (through the running control plane)'));

  keys
    .command('create')
    .description('create an API key; the key is printed once and stored only as a hash')
    .requiredOption('--name <name>', 'key name (unique label, e.g. team-a-batch)')
    .option('--model <model...>', 'models the key may invoke: a name (scope model:<name>), "*" for all, or a whole scope (model:iris, model:*)')
    .option('--principal <entity>', 'Cedar principal the key acts as (default ApiKey::"<name>")')
    .option('--ttl <duration>', 'lifetime such as 30d or 12h (default: no expiry)')
    .option('--format <format>', 'text|json', 'text')
    .action(async (opts: { name: string; model?: string[]; principal?: string; ttl?: string; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const ttlSeconds = opts.ttl ? parseDuration(opts.ttl) : undefined;
      const r = await withAdminClient(cmd, (client) =>
        client.call<{ key: string; record: ApiKeyRecord }>('POST', '/api/v1/keys', { name: opts.name, principal: opts.principal, scopes: (opts.model ?? []).map(modelScope), ttlSeconds }),
      );
      if (format === 'json') printJson(r);
      else printText(`created ${r.record.id} (${r.record.name})${r.record.expiresAt ? `, expires ${r.record.expiresAt}` : ''}\nkey (shown once): ${r.key}`);
    });

  keys
    .command('list')
    .description('list API keys (never the keys themselves)')
    .option('--format <format>', 'text|json', 'text')
    .action(async (opts: { format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const r = await withAdminClient(cmd, (client) => client.call<{ keys: ApiKeyRecord[] }>('GET', '/api/v1/keys'));
      if (format === 'json') printJson(r);
      else printText(formatKeysTable(r.keys));
    });

  keys
    .command('revoke <key>')
    .description('revoke an API key by id, prefix or name; gateways reject it on the next request')
    .option('--format <format>', 'text|json', 'text')
    .action(async (key: string, opts: { format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const r = await withAdminClient(cmd, (client) => client.call<{ record: ApiKeyRecord }>('POST', `/api/v1/keys/${encodeURIComponent(key)}/revoke`));
      if (format === 'json') printJson(r);
      else printText(`revoked ${r.record.id} (${r.record.name})`);
    });
}
