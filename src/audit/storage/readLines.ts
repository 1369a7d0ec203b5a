import { createReadStream } from 'node:fs';

/**
 * Yields every complete '\n'-terminated line of a file (without the newline), as views into
 * the read buffers (copy them to keep). A trailing fragment without newline is returned as
 * `tail` by the callback so callers decide whether it is a torn write or damage.
 */
export async function* readLines(path: string, onTail?: (tail: Buffer) => void): AsyncGenerator<Buffer> {
  let rest: Buffer | null = null;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    let buf: Buffer = rest ? Buffer.concat([rest, chunk]) : chunk;
    let start = 0;
    let nl = buf.indexOf(0x0a, start);
    while (nl >= 0) {
      yield buf.subarray(start, nl);
      start = nl + 1;
      nl = buf.indexOf(0x0a, start);
    }
    rest = start < buf.length ? Buffer.from(buf.subarray(start)) : null;
    buf = Buffer.alloc(0);
  }
  if (rest && rest.length > 0) onTail?.(rest);
}
