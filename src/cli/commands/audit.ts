import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { WardenError } from '../../errors/index.js';
import {
  openAuditReader,
  rebuildTree,
  verifyAuditLog,
  queryAuditLog,
  parseAuditQuery,
  matchingAuditEntries,
  openCheckpoint,
  provenRecord,
  readPinnedNotes,
  verifyInclusionProof,
  toCheckpointView,
  JsonLinesSink,
  SyslogSink,
  OtlpHttpSink,
  parseSyslogUrl,
  type AuditEntry,
  type AuditQuery,
  type AuditSink,
  type SignedCheckpoint,
  type OfflineAuditLog,
} from '../../audit/index.js';
import { configFor, setExitCode } from '../context.js';
import { formatTable, parseFormat, printJson, printText } from '../output.js';

const EXPORT_BATCH = 500;

/**
 * Opens the log read-only (it never creates one). `verify` reports a missing log itself (exit 1);
 * the others refuse with WARDEN_AUDIT_LOG_MISSING rather than answer "no records" from nothing.
 */
async function withLog<T>(cmd: Command, fn: (log: OfflineAuditLog) => Promise<T>, options: { allowMissing?: boolean } = {}): Promise<T> {
  const o = cmd.optsWithGlobals() as { verifierKey?: string };
  const config = configFor(cmd);
  const log = await openAuditReader(config, { verifierKey: o.verifierKey });
  try {
    if (!options.allowMissing && (await log.reader.isEmpty())) {
      const where = config.database.url ? 'the database WARDEN_DATABASE_URL names' : `${config.dataDir}/audit`;
      throw new WardenError('WARDEN_AUDIT_LOG_MISSING', `there is no audit log in ${where} (no entry and no signed checkpoint): it was deleted, or it is elsewhere; run \`warden audit verify\``);
    }
    return await fn(log);
  } finally {
    await log.close();
  }
}

function parseIndex(text: string, name: string): number {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text)) throw new WardenError('WARDEN_USAGE', `${name} must be a non-negative integer`);
  return Number(text);
}

interface FilterFlags {
  principal?: string;
  decision?: string;
  kind?: string;
  action?: string;
  since?: string;
  until?: string;
}

function filterOptions(cmd: Command): Command {
  return cmd
    .option('--principal <entity>', 'principal exactly as recorded: Admin::"adm_…", ApiKey::"team-a", Service::"spiffe://…", User::"alice"')
    .option('--decision <allow|deny>', 'only allowed or denied decisions')
    .option('--kind <decision|admin|event>', 'record kind')
    .option('--action <action>', 'action name')
    .option('--since <time>', 'ISO-8601 time (inclusive)')
    .option('--until <time>', 'ISO-8601 time (exclusive)');
}

/** Queries the log; entries whose database columns were edited are named on stderr (stdout stays JSON). */
async function queryWithWarning(cmd: Command, q: AuditQuery): Promise<AuditEntry[]> {
  const mismatched: number[] = [];
  const entries = await withLog(cmd, (log) => queryAuditLog(log.reader, q, { onMismatch: (index) => mismatched.push(index) }));
  if (mismatched.length) {
    setExitCode(cmd, 1);
    const shown = mismatched.slice(0, 10).join(', ') + (mismatched.length > 10 ? ', …' : '');
    process.stderr.write(
      `WARDEN_AUDIT_ENTRY_MODIFIED: the indexed columns of entries ${shown} differ from their hashed records (tampering); each record is shown as hashed, but records edited out of this query's reach cannot be shown: run \`warden audit verify\`\n`,
    );
  }
  return entries;
}

function printEntries(entries: AuditEntry[], format: string): void {
  if (format === 'json') return printJson({ entries });
  printText(
    formatTable(
      ['INDEX', 'TIME', 'KIND', 'PRINCIPAL', 'ACTION', 'RESOURCE', 'DECISION', 'CODE'],
      entries.map((e) => [e.index, e.record.ts, e.record.kind, e.record.principal, e.record.action, e.record.resource, e.record.decision, e.record.code]),
    ),
  );
}

export function registerAuditCommands(program: Command): void {
  const audit = program
    .command('audit')
    .description('inspect and verify the tamper-evident audit log (read-only; safe while `warden up` runs)')
    .option('--verifier-key <key|file>', 'pinned checkpoint verifier key (default <data-dir>/keys/audit-checkpoint.vkey)');

  audit
    .command('verify')
    .description('recompute the whole Merkle tree and check every checkpoint signature and consistency; exit 1 on tampering')
    .option('--format <format>', 'text|json', 'text')
    .option('--checkpoint <file>', 'a signed checkpoint saved off the box earlier (note, JSON, or SIEM JSON lines): fail unless the log still extends it (detects truncation and rollback)')
    .option('--min-size <n>', 'fail unless the newest valid checkpoint covers at least this many entries')
    .action(async (opts: { format: string; checkpoint?: string; minSize?: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const pinned = opts.checkpoint !== undefined ? readPinnedNotes(opts.checkpoint) : undefined;
      const minSize = opts.minSize !== undefined ? parseIndex(opts.minSize, '--min-size') : undefined;
      const report = await withLog(cmd, (log) => verifyAuditLog(log.reader, { verifiers: log.verifiers, origin: log.origin, pinned, minSize }), { allowMissing: true });
      if (!report.ok) setExitCode(cmd, 1);
      if (format === 'json') return printJson(report);
      if (report.ok) {
        printText(
          `ok: ${report.size} entries, root ${report.rootHash}\n` +
            `latest checkpoint: size ${report.checkpoint?.size ?? '-'} (${report.checkpoints} checkpoints)` +
            (report.uncheckpointed ? ` (${report.uncheckpointed} newer entries await the next checkpoint)` : ''),
        );
      } else {
        printText(`TAMPERED: first bad index ${report.firstBadIndex ?? '-'}\n` + report.errors.map((e) => `  ${e.code}: ${e.message}`).join('\n'));
      }
    });

  audit
    .command('prove')
    .description('RFC 9162 inclusion proof of one entry against the latest signed checkpoint')
    .requiredOption('--index <n>', 'entry index')
    .option('--format <format>', 'text|json', 'text')
    .action(async (opts: { index: string; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const index = parseIndex(opts.index, '--index');
      const view = await withLog(cmd, async (log) => {
        // Notes before entries: a checkpoint read first only covers entries already stored.
        const notes = await log.reader.checkpointNotes();
        const tree = await rebuildTree(log.reader);
        let latest: SignedCheckpoint | null = null;
        for (const note of notes.reverse()) {
          try {
            latest = openCheckpoint(note, log.verifiers, log.origin);
            break;
          } catch {
            /* try the previous one; `audit verify` reports bad checkpoints */
          }
        }
        if (!latest) throw new WardenError('WARDEN_AUDIT_NO_CHECKPOINT', 'no valid signed checkpoint to prove against');
        if (index >= latest.size) throw new WardenError('WARDEN_AUDIT_INDEX_OUT_OF_RANGE', `index ${index} is not covered by the latest checkpoint (size ${latest.size})`);
        if (latest.size > tree.size || !tree.root(latest.size).equals(latest.rootHash)) {
          throw new WardenError('WARDEN_AUDIT_TAMPERED', 'the stored entries no longer match the latest checkpoint; run `warden audit verify`');
        }
        const leaf = tree.leafHash(index);
        const proof = tree.inclusionProof(index, latest.size);
        const verified = verifyInclusionProof(index, latest.size, leaf, proof, latest.rootHash);
        const record = await provenRecord(log.reader, index, leaf);
        return {
          index,
          size: latest.size,
          leafHash: leaf.toString('hex'),
          rootHash: latest.rootHash.toString('hex'),
          proof: proof.map((h) => h.toString('hex')),
          verified,
          checkpoint: toCheckpointView(latest),
          record,
        };
      });
      if (format === 'json') return printJson(view);
      printText(
        `entry ${view.index} of ${view.size}: leaf ${view.leafHash}\nroot ${view.rootHash} (${view.verified ? 'proof verifies' : 'PROOF FAILS'})\n` +
          view.proof.map((h, i) => `  ${i}: ${h}`).join('\n') +
          `\n\n${view.checkpoint.note}`,
      );
    });

  filterOptions(audit.command('tail').description('most recent records'))
    .option('-n, --lines <n>', 'how many', '20')
    .option('--format <format>', 'text|json', 'text')
    .action(async (opts: FilterFlags & { lines: string; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const q = parseAuditQuery({ ...opts, limit: opts.lines });
      const entries = await queryWithWarning(cmd, q);
      printEntries(entries.reverse(), format);
    });

  filterOptions(audit.command('query').description('records by principal, decision and time range (newest first)'))
    .option('--limit <n>', 'at most this many (1-10000)', '100')
    .option('--format <format>', 'text|json', 'text')
    .action(async (opts: FilterFlags & { limit: string; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const q = parseAuditQuery({ ...opts });
      printEntries(await queryWithWarning(cmd, q), format);
    });

  filterOptions(audit.command('export').description('export records in index order as JSON lines (stdout or --out), to syslog (RFC 5424) or OTLP/HTTP'))
    .option('--out <file>', 'append JSON lines to this file (0600)')
    .option('--syslog <url>', 'tcp://host:port or tls://host:port (RFC 5424, octet-counted)')
    .option('--syslog-ca <file>', 'CA bundle that signs the syslog server certificate (tls://)')
    .option('--otlp <url>', 'OTLP/HTTP logs endpoint, e.g. http://127.0.0.1:4318/v1/logs')
    .option('--from-index <n>', 'first entry index to export', '0')
    .option('--format <format>', 'summary format when exporting to a destination: text|json', 'text')
    .action(async (opts: FilterFlags & { out?: string; syslog?: string; syslogCa?: string; otlp?: string; fromIndex: string; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const from = parseIndex(opts.fromIndex, '--from-index');
      const q = parseAuditQuery({ ...opts });
      const destinations = [opts.out, opts.syslog, opts.otlp].filter(Boolean).length;
      if (destinations > 1) throw new WardenError('WARDEN_USAGE', 'choose one of --out, --syslog, --otlp');
      let sink: AuditSink;
      if (opts.out) sink = await JsonLinesSink.toFile(opts.out);
      else if (opts.syslog) {
        const u = parseSyslogUrl(opts.syslog);
        if (opts.syslogCa && !u.tls) throw new WardenError('WARDEN_USAGE', '--syslog-ca needs a tls:// destination');
        sink = new SyslogSink({ host: u.host, port: u.port, tls: u.tls ? { ca: opts.syslogCa ? readFileSync(opts.syslogCa) : undefined } : undefined });
      } else if (opts.otlp) sink = new OtlpHttpSink({ url: opts.otlp });
      else sink = JsonLinesSink.toStream(process.stdout);
      let exported = 0;
      try {
        await withLog(cmd, async (log) => {
          let batch: AuditEntry[] = [];
          for await (const entry of matchingAuditEntries(log.reader, q, from)) {
            batch.push(entry);
            if (batch.length >= EXPORT_BATCH) {
              await sink.send(batch);
              exported += batch.length;
              batch = [];
            }
          }
          await sink.send(batch);
          exported += batch.length;
        });
      } finally {
        await sink.close();
      }
      if (sink instanceof JsonLinesSink && !opts.out) return; // stdout carries only the records
      if (format === 'json') printJson({ exported, destination: sink.name });
      else printText(`exported ${exported} records to ${sink.name}`);
    });
}
