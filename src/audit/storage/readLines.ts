import { createReadStream } from 'node:fs';

/**
 * Yields the complete '\n'-terminated lines of a file (without the newline) one read chunk
 * at a time, as views into the chunk buffers (never reused by the stream, so views stay
 * valid). A trailing fragment without newline goes to `onTail`: the caller decides whether
 * it is a write in progress or damage.
 */
export async function* readLineChunks(path: string, onTail?: (tail: Buffer) => void): AsyncGenerator<Buffer[]> {
  let rest: Buffer | null = null;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    const buf: Buffer = rest ? Buffer.concat([rest, chunk]) : chunk;
    const lines: Buffer[] = [];
    let start = 0;
    for (let nl = buf.indexOf(0x0a); nl >= 0; nl = buf.indexOf(0x0a, start)) {
      lines.push(buf.subarray(start, nl));
      start = nl + 1;
    }
    rest = start < buf.length ? Buffer.from(buf.subarray(start)) : null;
    if (lines.length) yield lines;
  }
  if (rest && rest.length > 0) onTail?.(rest);
}
