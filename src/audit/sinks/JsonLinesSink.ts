import { open, type FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { WardenError } from '../../errors/index.js';
import type { AuditEntry } from '../AuditQuery.js';
import { canonicalJson } from '../AuditRecord.js';
import type { AuditSink } from './AuditSink.js';

/** One JSON object per line: `{ index, leafHash, record }` (what `warden audit export` prints). */
export function formatJsonLine(entry: AuditEntry): string {
  return canonicalJson({ index: entry.index, leafHash: entry.leafHash, record: entry.record }) + '\n';
}

/** JSON lines to a file (appended, 0600) or to a stream such as stdout. */
export class JsonLinesSink implements AuditSink {
  readonly name = 'jsonl';

  private constructor(
    private readonly fh: FileHandle | null,
    private readonly stream: Writable | null,
  ) {}

  static async toFile(path: string): Promise<JsonLinesSink> {
    try {
      return new JsonLinesSink(await open(path, 'a', 0o600), null);
    } catch (cause) {
      throw new WardenError('WARDEN_AUDIT_SINK_FAILED', `cannot open ${path} for export`, { cause });
    }
  }

  static toStream(stream: Writable): JsonLinesSink {
    return new JsonLinesSink(null, stream);
  }

  async send(entries: readonly AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const text = entries.map(formatJsonLine).join('');
    try {
      if (this.fh) {
        await this.fh.appendFile(text);
        await this.fh.datasync();
      } else {
        const stream = this.stream!;
        await new Promise<void>((resolve, reject) => stream.write(text, (err) => (err ? reject(err) : resolve())));
      }
    } catch (cause) {
      throw new WardenError('WARDEN_AUDIT_SINK_FAILED', 'cannot write exported audit records', { cause });
    }
  }

  async close(): Promise<void> {
    await this.fh?.close();
  }
}
