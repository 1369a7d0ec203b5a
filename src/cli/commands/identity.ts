import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { configFor } from '../context.js';
import { parseFormat, printJson, printText, formatTable } from '../output.js';
import { withAdminClient, withAdminOptions } from '../adminClient.js';
import { WardenError } from '../../errors/index.js';
import { writeFileAtomic } from '../../crypto/index.js';
import { referencedIntermediatePaths, type SvidResponse } from '../../identity/index.js';

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function intOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new WardenError('WARDEN_USAGE', `${name} must be a positive integer (seconds)`);
  return n;
}


function expiresIn(iso: string, now = Date.now()): string {
  const s = Math.round((Date.parse(iso) - now) / 1000);
  if (s <= 0) return 'expired';
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

export function registerIdentityCommands(program: Command): void {
  const identity = withAdminOptions(program.command('identity').description('Workload identity: SPIFFE IDs, SVIDs, attestation, revocation, trust bundle'));

  const entry = identity.command('entry').description('Registration entries (SPIFFE ID ← selectors)');
  entry
    .command('create')
    .description('Map workloads that show all selectors (e.g. k8s:ns:ml, k8s:sa:trainer) to a SPIFFE ID')
    .requiredOption('--spiffe-id <id>', 'SPIFFE ID to issue')
    .requiredOption('--selector <type:value>', 'selector (repeatable)', collect)
    .option('--ttl <seconds>', 'SVID lifetime for this entry')
    .option('--format <format>', 'text or json', 'text')
    .action(async (opts: { spiffeId: string; selector: string[]; ttl?: string; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const e = await withAdminClient(cmd, (a) =>
        a.call<{ id: string; spiffeId: string; selectors: string[] }>('POST', '/api/v1/identity/entries', { spiffeId: opts.spiffeId, selectors: opts.selector, ttlSeconds: intOption(opts.ttl, '--ttl') }),
      );
      if (format === 'json') printJson(e);
      else printText(`${e.id}  ${e.spiffeId}  ${e.selectors.join(',')}`);
    });
  entry
    .command('list')
    .description('List registration entries')
    .option('--format <format>', 'text or json', 'text')
    .action(async (opts: { format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const r = await withAdminClient(cmd, (a) => a.call<{ entries: { id: string; spiffeId: string; selectors: string[]; ttlSeconds: number | null }[] }>('GET', '/api/v1/identity/entries'));
      if (format === 'json') printJson(r);
      else printText(formatTable(['ID', 'SPIFFE ID', 'SELECTORS', 'TTL'], r.entries.map((e) => [e.id, e.spiffeId, e.selectors.join(','), e.ttlSeconds])));
    });
  entry
    .command('delete <id>')
    .description('Delete a registration entry')
    .option('--format <format>', 'text or json', 'text')
    .action(async (id: string, opts: { format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const e = await withAdminClient(cmd, (a) => a.call<{ id: string; spiffeId: string }>('DELETE', `/api/v1/identity/entries/${encodeURIComponent(id)}`));
      if (format === 'json') printJson(e);
      else printText(`deleted ${e.id} (${e.spiffeId})`);
    });

  identity
    .command('token')
    .description('One-time join tokens')
    .command('create')
    .description('Create a one-time join token for an agent (printed once; only its hash is stored)')
    .requiredOption('--spiffe-id <id>', 'SPIFFE ID the agent will receive')
    .option('--ttl <seconds>', 'token lifetime (default identity.joinTokenTtlSeconds)')
    .option('--format <format>', 'text or json', 'text')
    .action(async (opts: { spiffeId: string; ttl?: string; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const t = await withAdminClient(cmd, (a) => a.call<{ token: string; id: string; spiffeId: string; expiresAt: string }>('POST', '/api/v1/identity/tokens', { spiffeId: opts.spiffeId, ttlSeconds: intOption(opts.ttl, '--ttl') }));
      if (format === 'json') printJson(t);
      else printText(t.token);
    });

  identity
    .command('issue')
    .description('Issue an X.509-SVID for a CSR (the private key stays with you)')
    .requiredOption('--spiffe-id <id>', 'SPIFFE ID')
    .requiredOption('--csr <file>', 'PKCS#10 CSR (PEM), ECDSA P-256/P-384')
    .option('--ttl <seconds>', 'lifetime (default identity.svidTtlSeconds)')
    .option('--dns <name>', 'extra DNS SAN (repeatable)', collect)
    .option('--out <file>', 'write leaf + intermediate (PEM) here instead of stdout')
    .option('--format <format>', 'text (PEM) or json', 'text')
    .action(async (opts: { spiffeId: string; csr: string; ttl?: string; dns?: string[]; out?: string; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      let csr: string;
      try {
        csr = readFileSync(opts.csr, 'utf8');
      } catch (cause) {
        throw new WardenError('WARDEN_IO', `cannot read ${opts.csr}`, { cause });
      }
      const s = await withAdminClient(cmd, (a) => a.call<SvidResponse>('POST', '/api/v1/identity/issue', { csr, spiffeId: opts.spiffeId, ttlSeconds: intOption(opts.ttl, '--ttl'), dnsNames: opts.dns }));
      if (opts.out) writeFileAtomic(opts.out, s.chainPem, 0o644);
      if (format === 'json') printJson(s);
      else if (!opts.out) printText(s.chainPem);
      // What was written, so a script (or a person) need not parse the certificate to learn it.
      else printText(`wrote ${opts.out}: ${s.spiffeId}, serial ${s.serial}, valid until ${s.notAfter}`);
    });

  identity
    .command('list')
    .description('List issued SVIDs with their expiry')
    .option('--spiffe-id <id>', 'only this SPIFFE ID')
    .option('--all', 'include expired certificates')
    .option('--limit <n>', 'at most n rows', '1000')
    .option('--format <format>', 'text or json', 'text')
    .action(async (opts: { spiffeId?: string; all?: boolean; limit: string; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const q = new URLSearchParams();
      if (opts.spiffeId) q.set('spiffeId', opts.spiffeId);
      if (opts.all) q.set('includeExpired', 'true');
      q.set('limit', String(intOption(opts.limit, '--limit')));
      const r = await withAdminClient(cmd, (a) =>
        a.call<{ svids: { serial: string; spiffeId: string; kind: string; notAfter: string; revoked: boolean }[] }>('GET', `/api/v1/identity/svids?${q.toString()}`),
      );
      if (format === 'json') printJson(r);
      else printText(formatTable(['SERIAL', 'SPIFFE ID', 'KIND', 'NOT AFTER', 'EXPIRES IN', 'REVOKED'], r.svids.map((s) => [s.serial, s.spiffeId, s.kind, s.notAfter, expiresIn(s.notAfter), s.revoked ? 'yes' : 'no'])));
    });

  identity
    .command('revoke')
    .description('Revoke every SVID of a SPIFFE ID, or one certificate by serial; PEPs and agents enforce it within seconds')
    .option('--spiffe-id <id>', 'SPIFFE ID to revoke')
    .option('--serial <hex>', 'certificate serial to revoke')
    .option('--reason <text>', 'reason (kept in the audit log)')
    .option('--format <format>', 'text or json', 'text')
    .action(async (opts: { spiffeId?: string; serial?: string; reason?: string; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      if (!opts.spiffeId === !opts.serial) throw new WardenError('WARDEN_USAGE', 'give exactly one of --spiffe-id or --serial');
      const r = await withAdminClient(cmd, (a) => a.call<{ version: number }>('POST', '/api/v1/identity/revoke', { spiffeId: opts.spiffeId, serial: opts.serial, reason: opts.reason }));
      if (format === 'json') printJson({ revoked: opts.spiffeId ? { spiffeId: opts.spiffeId } : { serial: opts.serial }, version: r.version });
      else printText(`revoked ${opts.spiffeId ?? `serial ${opts.serial}`} (revocation list version ${r.version})`);
    });

  identity
    .command('bundle')
    .description("Print the trust bundle: PEM roots (from the data dir) or the SPIFFE bundle (JWKS, from the server)")
    .option('--format <format>', 'pem or jwks', 'pem')
    .option('--with-intermediates', 'append the CA intermediates (a single CAfile for tools that do not take -untrusted)')
    .option('--out <file>', 'write to a file (0644) instead of stdout')
    .action(async (opts: { format: string; withIntermediates?: boolean; out?: string }, cmd: Command) => {
      if (opts.format !== 'pem' && opts.format !== 'jwks') throw new WardenError('WARDEN_USAGE', '--format must be pem or jwks');
      const config = configFor(cmd);
      let text: string;
      if (opts.format === 'jwks') {
        text = JSON.stringify(await withAdminClient(cmd, (a) => a.call<unknown>('GET', '/api/v1/identity/bundle.json')), null, 2) + '\n';
      } else {
        const file = join(config.dataDir, 'bundle.pem');
        if (!existsSync(file)) throw new WardenError('WARDEN_NOT_FOUND', `no trust bundle at ${file} (run \`warden up\` first or pass --data-dir)`);
        text = readFileSync(file, 'utf8');
        if (opts.withIntermediates) {
          // The ones authority.json names: ca/ may also hold a renewal a crash left uncommitted.
          for (const f of referencedIntermediatePaths(config.dataDir)) text += readFileSync(f, 'utf8');
        }
      }
      if (opts.out) writeFileAtomic(opts.out, text, 0o644);
      else process.stdout.write(text);
    });

  const ca = identity.command('ca').description('Certificate authority');
  ca.command('show')
    .description('Show CA generations (roots, intermediates, JWT keys)')
    .option('--format <format>', 'text or json', 'text')
    .action(async (opts: { format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const r = await withAdminClient(cmd, (a) =>
        a.call<{ trustDomain: string; sequence: number; generations: { id: string; status: string; rootNotAfter: string; intermediateNotAfter: string; intermediateSerial: string; supersededIntermediates?: { serial: string; notAfter: string }[] }[] }>('GET', '/api/v1/identity/ca'),
      );
      if (format === 'json') return printJson(r);
      const superseded = r.generations.flatMap((g) => (g.supersededIntermediates ?? []).map((e) => [g.id, e.serial, e.notAfter]));
      printText(
        `trust domain spiffe://${r.trustDomain} (bundle sequence ${r.sequence})\n` +
          formatTable(['GENERATION', 'STATUS', 'ROOT NOT AFTER', 'INTERMEDIATE NOT AFTER', 'INTERMEDIATE SERIAL'], r.generations.map((g) => [g.id, g.status, g.rootNotAfter, g.intermediateNotAfter, g.intermediateSerial])) +
          (superseded.length ? `\nreplaced intermediates (still valid, revocable by serial):\n` + formatTable(['GENERATION', 'SERIAL', 'NOT AFTER'], superseded) : ''),
      );
    });
  ca.command('rotate')
    .description('Rotate the CA: a new root joins the bundle (old roots stay until they expire) and becomes the issuer')
    .option('--prepare-only', 'publish the new root without issuing from it yet')
    .option('--format <format>', 'text or json', 'text')
    .action(async (opts: { prepareOnly?: boolean; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const r = await withAdminClient(cmd, (a) => a.call<{ sequence: number; generations: { id: string; status: string }[] }>('POST', '/api/v1/identity/ca/rotate', { prepareOnly: opts.prepareOnly === true }));
      if (format === 'json') printJson(r);
      else printText(r.generations.map((g) => `${g.id} ${g.status}`).join('\n'));
    });
}
